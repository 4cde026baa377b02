#!/usr/bin/env bash
# Installs what the end-to-end tests need, idempotently: etcd and kubectl-compatible
# kube-apiserver 1.20.2 built from Debian's source package (see docs/TESTENV.md).
# The API server binary is cached outside the repo, keyed by version; later runs reuse it.
# Prints the path of the kube-apiserver binary on its last line.
set -euo pipefail

VERSION=1.20.2
CACHE_DIR="${SSO_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sso-operator}"
BIN="$CACHE_DIR/kube-apiserver-$VERSION"

log() { echo "install-testenv: $*" >&2; }

need_pkgs=()
command -v etcd >/dev/null 2>&1 || need_pkgs+=(etcd-server)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
command -v kubectl >/dev/null 2>&1 || need_pkgs+=(kubernetes-client)
if [ ! -x "$BIN" ]; then
  [ -x /usr/lib/go-1.19/bin/go ] || need_pkgs+=(golang-1.19-go)
  command -v rsync >/dev/null 2>&1 || need_pkgs+=(rsync)
  [ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ] || need_pkgs+=(golang-github-modern-go-reflect2-dev)
  command -v dpkg-source >/dev/null 2>&1 || need_pkgs+=(dpkg-dev)
fi

export DEBIAN_FRONTEND=noninteractive
apt_updated=0
apt_update() { if [ $apt_updated = 0 ]; then apt-get update -qq >&2; apt_updated=1; fi; }

if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  apt_update
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
fi

if [ ! -x "$BIN" ]; then
  mkdir -p "$CACHE_DIR"
  src_list=/etc/apt/sources.list.d/sso-operator-deb-src.sources
  if [ ! -f "$src_list" ] && [ ! -f /etc/apt/sources.list.d/sso-operator-deb-src.list ]; then
    # deb-src entry for the same mirror and suites the machine already uses (deb822 file on
    # current images, one-line sources.list on older ones).
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      awk 'BEGIN{RS=""; ORS="\n\n"} /Types: deb/ {sub(/Types: deb( deb-src)?/, "Types: deb-src"); print}' \
        /etc/apt/sources.list.d/debian.sources > "$src_list"
    else
      src_list=/etc/apt/sources.list.d/sso-operator-deb-src.list
      grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | sed 's/^deb /deb-src /' > "$src_list"
    fi
    apt_updated=0
  fi
  apt_update
  work=$(mktemp -d "$CACHE_DIR/build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  log "building kube-apiserver $VERSION in $work (about 11 minutes on 2 cores, once)"
  chmod 0755 "$work"
  # bookworm's package is versioned 1.20.5+really1.20.2: the 1.20.2 tree.
  (cd "$work" && apt-get source --download-only kubernetes >&2)
  tarball=$(ls "$work"/kubernetes_*.orig.tar.gz | head -1)
  mkdir -p "$work/src"
  tar -C "$work/src" -xzf "$tarball"
  tree=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d | head -1)
  # Kubernetes 1.20 vendors reflect2 1.0.1, which crashes under Go >= 1.18; Debian ships 1.0.2.
  rm -rf "$tree/vendor/github.com/modern-go/reflect2"
  cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$tree/vendor/github.com/modern-go/reflect2"
  mkdir -p "$tree/.go/src/k8s.io"
  ln -sfn ../../.. "$tree/.go/src/k8s.io/kubernetes"
  (cd "$tree" && PATH=/usr/lib/go-1.19/bin:$PATH GOPATH="$tree/.go" GOFLAGS=-mod=vendor CGO_ENABLED=0 \
     HOME="$work/home" make WHAT=cmd/kube-apiserver >&2)
  install -m 0755 "$tree/_output/local/bin/linux/amd64/kube-apiserver" "$BIN.tmp"
  mv "$BIN.tmp" "$BIN"
  log "cached $BIN"
fi
echo "$BIN"
