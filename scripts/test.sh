#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the end-to-end tests need
# (idempotent; the kube-apiserver build is cached), checks formatting and lints, then runs
# unit, emulator, client, contract and end-to-end tests against a real kube-apiserver + etcd.
set -euo pipefail
cd "$(dirname "$0")/.."

SSO_KUBE_APISERVER="$(scripts/install-testenv.sh | tail -n 1)"
export SSO_KUBE_APISERVER
command -v python3 >/dev/null || { echo "python3 is needed for the fixture generators" >&2; exit 1; }

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo build (binaries the end-to-end tests run)"
cargo build --locked --bins
echo "== cargo test"
# Benchmarks (benches/) are not run here: `scripts/bench.sh` runs them in release.
cargo test --locked --lib --bins --tests -- "$@"
