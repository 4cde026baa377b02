#!/usr/bin/env bash
# Installs auth0-deploy-cli (Auth0's configuration-as-code tool, from the npm registry) for
# tests/deploy_cli.rs, idempotently, and prints the path of its `a0deploy` on its last line
# (see docs/TESTENV.md):
#   - the version is pinned in scripts/deploy-cli/package.json, and every package below it in
#     scripts/deploy-cli/package-lock.json (with integrity hashes), installed with `npm ci`;
#   - with the machine's Node.js and npm (deploy-cli 8.x needs Node.js 20.19 or newer);
#   - into a cache outside the repository keyed by the version and the lock file's digest;
#     later runs reuse it and print the path at once.
# To move to another version: change package.json, then in scripts/deploy-cli run
#   npm install --package-lock-only --omit-lockfile-registry-resolved --no-audit --no-fund
set -euo pipefail
cd "$(dirname "$0")/.."

SRC=scripts/deploy-cli
CACHE_DIR="${SSO_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sso-operator}"
MIN_NODE=20.19.0

log() { echo "install-deploy-cli: $*" >&2; }
fail() { log "$*"; exit 1; }

command -v node >/dev/null 2>&1 ||
  fail "Node.js $MIN_NODE or newer is needed to run auth0-deploy-cli (tests/deploy_cli.rs), and there is no 'node' on PATH"
command -v npm >/dev/null 2>&1 ||
  fail "npm is needed to install auth0-deploy-cli (tests/deploy_cli.rs), and there is no 'npm' on PATH"
node_version=$(node -p 'process.versions.node')
if [ "$(printf '%s\n%s\n' "$MIN_NODE" "$node_version" | sort -V | head -n 1)" != "$MIN_NODE" ]; then
  fail "auth0-deploy-cli needs Node.js $MIN_NODE or newer; this machine has $node_version"
fi

VERSION=$(node -p "require('./$SRC/package.json').dependencies['auth0-deploy-cli']")
LOCK_DIGEST=$(sha256sum "$SRC/package-lock.json" | cut -c1-12)
DEST="$CACHE_DIR/deploy-cli/$VERSION-$LOCK_DIGEST"
A0DEPLOY="$DEST/node_modules/.bin/a0deploy"

if [ ! -x "$A0DEPLOY" ]; then
  log "installing auth0-deploy-cli $VERSION with npm ci (about 10 seconds, once)"
  mkdir -p "$CACHE_DIR/deploy-cli"
  work=$(mktemp -d "$CACHE_DIR/deploy-cli/install-$VERSION.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  cp "$SRC/package.json" "$SRC/package-lock.json" "$work/"
  # No install scripts run; deploy-cli and its dependencies are plain JavaScript.
  npm ci --prefix "$work" --no-audit --no-fund --ignore-scripts --loglevel=error >&2 ||
    fail "npm ci of auth0-deploy-cli $VERSION failed (is the npm registry reachable?)"
  installed=$("$work/node_modules/.bin/a0deploy" --version 2>/dev/null) ||
    fail "the installed a0deploy does not run"
  [ "$installed" = "$VERSION" ] || fail "npm installed a0deploy $installed, not $VERSION"
  # Another run may have finished first; either copy is the same.
  mv -T "$work" "$DEST" 2>/dev/null || rm -rf "$work"
  trap - EXIT
fi

log "a0deploy: $("$A0DEPLOY" --version) (Node.js $node_version)"
echo "$A0DEPLOY"
