#!/usr/bin/env bash
# Benchmarks (docs/ARCHITECTURE.md §7): Auth0 calls per reconcile, convergence of N = 100 at 2 req/s
# and N = 1,000 at 16 req/s on a real kube-apiserver, peak RSS of `sso-operator run`, metadata
# parse throughput next to python3-saml. Prints a table; the last line is one JSON object.
# Installs what it needs (idempotent): the test environment and a venv with python3-saml.
# Extra arguments go to the bench binary (e.g. --no-cluster, --n-large 200, --no-resync).
set -euo pipefail
cd "$(dirname "$0")/.."

SSO_KUBE_APISERVER="$(scripts/install-testenv.sh | tail -n 1)"
export SSO_KUBE_APISERVER

cache="${SSO_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sso-operator}"
venv="$cache/bench-venv"
if ! "$venv/bin/python" -c 'import onelogin.saml2.idp_metadata_parser' 2>/dev/null; then
  echo "== installing python3-saml into $venv" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet 'python3-saml==1.16.0' 'xmlsec==1.3.17' >&2
fi

# `cargo bench` builds the measured binaries (sso-operator, auth0-emulator) with the bench
# profile, which is the release profile; a separate `cargo build --release` would resolve
# features without the dev-dependencies and rebuild them every other run.
echo "== building (release)" >&2
cargo bench --locked --bench bench --no-run >&2
exec cargo bench --locked --bench bench -- --python "$venv/bin/python" "$@"
