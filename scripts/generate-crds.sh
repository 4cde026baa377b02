#!/usr/bin/env bash
# Regenerates crds/ (one file per CRD) and the Helm chart's copy from the Rust types.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo run --quiet --bin sso-operator -- crd > "$out/all.yaml"
rm -f crds/*.yaml charts/sso-operator/crds/*.yaml
# Split the multi-document output at `---` lines; each CRD is named after its plural.
awk -v dir="$out" 'BEGIN{n=0} /^---$/{n++; next} {print > (dir "/doc" n ".yaml")}' "$out/all.yaml"
for doc in "$out"/doc*.yaml; do
  plural=$(awk '/^  names:/{f=1} f && /^    plural:/{print $2; exit}' "$doc")
  cp "$doc" "crds/sso-operator.io_${plural}.yaml"
  cp "$doc" "charts/sso-operator/crds/sso-operator.io_${plural}.yaml"
done
ls crds/
