#!/usr/bin/env bash
# Installs the published MCP servers that the tests launch, ahead of the
# tests (nothing is fetched while a test runs):
#   .deps/npm        npm ci of tests/deps/package.json + package-lock.json
#                    (@modelcontextprotocol/server-everything)
#   .deps/npm-cache  the npm cache used for that install (tests point
#                    npm_config_cache here so `npx --offline` never downloads)
#   .deps/venv       python venv with tests/deps/requirements.txt
#                    (mcp-server-time)
# Idempotent: each part is skipped when its inputs are unchanged since the
# last successful install (stamp files hold a hash of the inputs).
# Needs node (>= 20) with npm, and python3 (>= 3.10) with the venv module.
# Only the npm registry and PyPI are used. No root needed.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"
DEPS="$ROOT/.deps"
NPM_DIR="$DEPS/npm"
NPM_CACHE="$DEPS/npm-cache"
VENV="$DEPS/venv"
PYTHON="${PYTHON:-python3}"

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

hash_files() { cat "$@" | sha256sum | cut -d' ' -f1; }

mkdir -p "$DEPS"

# ---------------------------------------------------------------- npm ----
setup_npm() {
  command -v node >/dev/null || die "node not found (need node >= 20)"
  command -v npm >/dev/null || die "npm not found"
  local node_major
  node_major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$node_major" -ge 20 ] || die "node >= 20 needed, found $(node --version)"

  local want stamp="$NPM_DIR/.setup-stamp"
  want="$(hash_files tests/deps/package.json tests/deps/package-lock.json)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
     && [ -x "$NPM_DIR/node_modules/.bin/mcp-server-everything" ]; then
    log "npm deps up to date in .deps/npm (skipped)"
    return
  fi

  log "installing npm deps into .deps/npm (npm ci, cache .deps/npm-cache)"
  rm -rf "$NPM_DIR"
  mkdir -p "$NPM_DIR" "$NPM_CACHE"
  cp tests/deps/package.json tests/deps/package-lock.json "$NPM_DIR/"
  (
    cd "$NPM_DIR"
    npm ci --cache "$NPM_CACHE" --no-audit --no-fund --ignore-scripts \
      --loglevel=error
  )
  [ -x "$NPM_DIR/node_modules/.bin/mcp-server-everything" ] \
    || die "npm ci did not produce .deps/npm/node_modules/.bin/mcp-server-everything"
  printf '%s\n' "$want" > "$stamp"
  log "npm deps installed: $(node -p "require('$NPM_DIR/node_modules/@modelcontextprotocol/server-everything/package.json').version" 2>/dev/null || echo '?') of @modelcontextprotocol/server-everything"
}

# ------------------------------------------------------------- python ----
make_venv() {
  local err
  err="$(mktemp)"
  if "$PYTHON" -m venv "$VENV" 2>"$err"; then
    rm -f "$err"
    return
  fi
  cat "$err" >&2 || true
  rm -f "$err"
  rm -rf "$VENV"
  # Debian's python3 has no ensurepip without the python3-venv package.
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    local pyver
    pyver="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    log "python venv module unusable; installing python${pyver}-venv with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${pyver}-venv" \
      || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    "$PYTHON" -m venv "$VENV"
  else
    die "'$PYTHON -m venv' failed; install the python3-venv package"
  fi
}

setup_venv() {
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || die "python >= 3.10 needed, found $("$PYTHON" --version 2>&1)"

  local want stamp="$VENV/.setup-stamp"
  # The interpreter's version is part of the stamp: a new python rebuilds.
  want="$( { cat tests/deps/requirements.txt; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
     && "$VENV/bin/python" -c 'import mcp_server_time' 2>/dev/null; then
    log "python venv up to date in .deps/venv (skipped)"
    return
  fi

  log "creating python venv .deps/venv with $("$PYTHON" --version 2>&1)"
  rm -rf "$VENV"
  make_venv
  log "pip install -r tests/deps/requirements.txt"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-input -r tests/deps/requirements.txt
  "$VENV/bin/python" -c 'import mcp_server_time' \
    || die "mcp_server_time not importable after pip install"
  printf '%s\n' "$want" > "$stamp"
  log "python deps installed: $("$VENV/bin/python" -m pip show mcp-server-time 2>/dev/null | sed -n 's/^Version: /mcp-server-time /p')"
}

setup_npm
setup_venv
log "done"
