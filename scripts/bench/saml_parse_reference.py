#!/usr/bin/env python3
"""Reference SAML metadata parse throughput: python3-saml's OneLogin_Saml2_IdPMetadataParser.

Used by `scripts/bench.sh` (through `cargo bench --bench bench`) to put the operator's own
parser side by side with a widely used one on the same fixture files and the same iteration
scheme: one warm-up round over all files, then whole rounds until at least MIN_SECONDS have
passed; throughput = bytes parsed / elapsed seconds.

Usage: saml_parse_reference.py MIN_SECONDS FILE...
Prints one JSON object: {"parser", "files", "rounds", "bytes", "seconds", "mib_per_s", "failed"}.
"""

import json
import sys
import time

from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser as Parser


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    min_seconds = float(sys.argv[1])
    docs = []
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            docs.append((path, f.read()))
    # Warm-up round; also records which files this parser cannot read (they still count
    # in the timed rounds, as they do for the operator's parser: the work is done either way).
    failed = []
    for path, xml in docs:
        try:
            result = Parser.parse(xml)
            if not result.get("idp", {}).get("entityId"):
                failed.append(path)
        except Exception as e:  # noqa: BLE001 - any failure is reported, not fatal
            failed.append(f"{path}: {type(e).__name__}: {e}")
    round_bytes = sum(len(xml) for _, xml in docs)
    rounds = 0
    started = time.perf_counter()
    while True:
        for _, xml in docs:
            try:
                Parser.parse(xml)
            except Exception:  # noqa: BLE001
                pass
        rounds += 1
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            break
    total = rounds * round_bytes
    print(
        json.dumps(
            {
                "parser": "python3-saml OneLogin_Saml2_IdPMetadataParser.parse",
                "files": len(docs),
                "rounds": rounds,
                "bytes": total,
                "seconds": elapsed,
                "mib_per_s": total / elapsed / (1024 * 1024),
                "failed": failed,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
