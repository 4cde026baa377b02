#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (idempotent; the Go
# builds of kube-apiserver, kubectl, etcd and helm and the npm install of auth0-deploy-cli are
# cached, docs/TESTENV.md), checks
# formatting and lints, then runs unit, emulator, client, contract, chart, GitOps, monitoring
# and end-to-end tests against a real kube-apiserver 1.37 + etcd, and a smoke subset of the
# end-to-end tests against the oldest supported release (1.33).
set -euo pipefail
cd "$(dirname "$0")/.."

# The supported Kubernetes range is 1.33 to 1.37 (README, "Supported Kubernetes").
OLDEST_KUBE_VERSION=1.33.13
SSO_KUBE_APISERVER="$(scripts/install-testenv.sh | tail -n 1)"
export SSO_KUBE_APISERVER
OLDEST_APISERVER="$(SSO_KUBE_VERSION=$OLDEST_KUBE_VERSION scripts/install-testenv.sh | tail -n 1)"
# Auth0's own configuration-as-code tool, run against the emulator by tests/deploy_cli.rs.
SSO_A0DEPLOY="$(scripts/install-deploy-cli.sh | tail -n 1)"
export SSO_A0DEPLOY
command -v python3 >/dev/null || { echo "python3 is needed for the fixture generators" >&2; exit 1; }

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo build (binaries the end-to-end tests run)"
cargo build --locked --bins
echo "== cargo test (end-to-end on $("$SSO_KUBE_APISERVER" --version))"
# Benchmarks (benches/) are not run here: `scripts/bench.sh` runs them in release.
cargo test --locked --lib --bins --tests -- "$@"
echo "== end-to-end smoke subset on $("$OLDEST_APISERVER" --version)"
SSO_KUBE_APISERVER="$OLDEST_APISERVER" cargo test --locked --test e2e -- \
  crd_installs operator_rbac examples_validate cel_rules applied_example helm_chart
