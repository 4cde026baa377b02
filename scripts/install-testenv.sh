#!/usr/bin/env bash
# Installs what the test suite needs, idempotently, and prints the kube-apiserver path on its
# last line (see docs/TESTENV.md):
#   - kube-apiserver and kubectl built from the official k8s.io/kubernetes Go module (a small
#     wrapper module whose `replace`s pin the k8s.io/* staging modules to the matching
#     v0.x release), with the machine's Go;
#   - etcd built from its official go.etcd.io/etcd/server/v3 module (Debian's 3.4 is too old
#     for a current API server);
#   - helm built from helm.sh/helm/v3;
#   - from Debian: openssl, lua5.1 (Argo CD health checks), prometheus (promtool).
# Built binaries are cached outside the repository, keyed by version; later runs reuse them.
# SSO_KUBE_VERSION selects another Kubernetes release (e.g. 1.33.x for the oldest supported).
set -euo pipefail

KUBE_VERSION="${SSO_KUBE_VERSION:-1.37.2}"
ETCD_VERSION=3.7.3
HELM_VERSION=3.22.0
CACHE_DIR="${SSO_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sso-operator}"
BIN_DIR="$CACHE_DIR/bin"
APISERVER="$BIN_DIR/kube-apiserver-v$KUBE_VERSION"
KUBECTL="$BIN_DIR/kubectl-v$KUBE_VERSION"
ETCD="$BIN_DIR/etcd-v$ETCD_VERSION"
HELM="$BIN_DIR/helm-v$HELM_VERSION"

log() { echo "install-testenv: $*" >&2; }

need_pkgs=()
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
command -v lua5.1 >/dev/null 2>&1 || need_pkgs+=(lua5.1)
command -v promtool >/dev/null 2>&1 || need_pkgs+=(prometheus)
command -v git >/dev/null 2>&1 || need_pkgs+=(git)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # policy-rc.d keeps the prometheus package from trying to start a service.
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
fi

command -v go >/dev/null 2>&1 || { log "Go (1.26 or newer) is needed to build the test binaries"; exit 1; }
mkdir -p "$BIN_DIR"
export GOFLAGS=-buildvcs=false CGO_ENABLED=0

# go_build NAME MODULE@VERSION LDFLAGS PACKAGE:OUTPUT...
# Builds packages of MODULE in a throwaway wrapper module; EXTRA_GOMOD is appended to go.mod.
go_build() {
  local name="$1" modver="$2" ldflags="$3"; shift 3
  local work; work=$(mktemp -d "$CACHE_DIR/build-$name.XXXXXX")
  (
    cd "$work"
    printf 'module sso-operator.io/testenv/%s\n\ngo 1.26.0\n\nrequire %s\n%s\n' \
      "$name" "${modver/@/ }" "${EXTRA_GOMOD:-}" > go.mod
    for spec in "$@"; do go get "${spec%%:*}@${modver#*@}" >&2; done
    for spec in "$@"; do
      go build -trimpath -ldflags "$ldflags" -o "${spec#*:}.tmp" "${spec%%:*}" >&2
      mv "${spec#*:}.tmp" "${spec#*:}"
    done
  )
  rm -rf "$work"
}

if [ ! -x "$ETCD" ]; then
  log "building etcd v$ETCD_VERSION from go.etcd.io/etcd/server/v3 (about 2 minutes, once)"
  EXTRA_GOMOD="" go_build etcd "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" "-s -w" \
    "go.etcd.io/etcd/server/v3:$ETCD"
fi

if [ ! -x "$HELM" ]; then
  log "building helm v$HELM_VERSION from helm.sh/helm/v3 (about 3 minutes, once)"
  EXTRA_GOMOD="" go_build helm "helm.sh/helm/v3@v$HELM_VERSION" \
    "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm:$HELM"
fi

if [ ! -x "$APISERVER" ] || [ ! -x "$KUBECTL" ]; then
  log "building kube-apiserver and kubectl v$KUBE_VERSION from k8s.io/kubernetes (about 10 minutes on 2 cores, once)"
  gomod_json=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION")
  gomod=$(printf '%s' "$gomod_json" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')
  staging="v0.${KUBE_VERSION#1.}"
  # k8s.io/kubernetes requires its staging modules at v0.0.0 with `replace`s to ./staging;
  # a dependent module replaces them with the published release of the same minor.
  replaces=$(sed -n "s#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/.*#\t\1 => \1 $staging#p" "$gomod")
  [ -n "$replaces" ] || { log "no staging replaces found in $gomod"; exit 1; }
  minor="${KUBE_VERSION#1.}"; minor="${minor%%.*}"
  ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $pkg.gitVersion=v$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld="$ld -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  EXTRA_GOMOD=$'\nreplace (\n'"$replaces"$'\n)' go_build kubernetes "k8s.io/kubernetes@v$KUBE_VERSION" "$ld" \
    "k8s.io/kubernetes/cmd/kube-apiserver:$APISERVER" "k8s.io/kubernetes/cmd/kubectl:$KUBECTL"
fi

# Stable names the tests use (SSO_ETCD, SSO_HELM override them); the tests take the kubectl
# of the API server's version, kubectl-vX beside kube-apiserver-vX (SSO_KUBECTL overrides).
ln -sfn "$(basename "$ETCD")" "$BIN_DIR/etcd"
ln -sfn "$(basename "$HELM")" "$BIN_DIR/helm"
rm -f "$BIN_DIR/kubectl"
log "etcd: $("$ETCD" --version | head -1)"
log "helm: $("$HELM" version --short)"
log "kubectl: $("$KUBECTL" version --client 2>/dev/null | head -1)"
log "kube-apiserver: $("$APISERVER" --version)"
echo "$APISERVER"
