#!/usr/bin/env bash
# Installs the published MCP servers that the tests launch, ahead of the
# tests (nothing is fetched while a test runs):
#   .deps/npm        npm ci of tests/deps/package.json + package-lock.json
#                    (@modelcontextprotocol/server-everything)
#   .deps/npm-cache  the npm cache used for that install (tests point
#                    npm_config_cache here so `npx --offline` never downloads)
#   .deps/venv       python venv with tests/deps/requirements.txt
#                    (mcp-server-time)
# and then makes sure a Docker engine answers and the test image exists:
#   docker engine    when `docker info` does not answer: installs Debian's
#                    docker.io if dockerd is missing (root only), starts
#                    dockerd in the background (log .deps/dockerd.log)
#   test image       tests/images/build.sh -> mcp-manager-test/py-fixture:latest
#                    (built from this machine's Debian python3.11, no registry)
# Idempotent: each part is skipped when its inputs are unchanged since the
# last successful install (stamp files hold a hash of the inputs), when the
# engine already answers, and when the image's hash label is current.
# Needs node (>= 20) with npm, and python3 (>= 3.10) with the venv module.
# Only the npm registry, PyPI and (for docker.io) Debian are used. The npm and
# venv parts need no root; installing or starting dockerd does.
# Also builds the web UI (make ui) and installs Debian's chromium for the
# browser test (SKIP_BROWSER=1 skips chromium).
# SKIP_DOCKER=1 skips the engine and the image.
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

# ------------------------------------------------------------- docker ----
DOCKERD_LOG="$DEPS/dockerd.log"

docker_answers() { timeout 5 docker info >/dev/null 2>&1; }

start_dockerd() {  # extra dockerd flags as arguments; pid in DOCKERD_PID
  printf '\n=== %s: dockerd %s\n' "$(date -u +%FT%TZ)" "$*" >>"$DOCKERD_LOG"
  # Own session (setsid), stdin/stdout/stderr away from this script's, so it
  # neither holds a caller's pipe open nor dies with this script's group.
  setsid nohup dockerd "$@" </dev/null >>"$DOCKERD_LOG" 2>&1 &
  DOCKERD_PID=$!
}

wait_for_docker() {  # up to $1 seconds; fails early when dockerd dies
  local deadline=$((SECONDS + $1))
  while [ "$SECONDS" -lt "$deadline" ]; do
    docker_answers && return 0
    kill -0 "$DOCKERD_PID" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}

setup_docker() {
  if command -v docker >/dev/null && docker_answers; then
    log "docker engine $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?') answers (skipped install and start)"
    return
  fi
  [ -z "${DOCKER_HOST:-}" ] \
    || die "DOCKER_HOST=$DOCKER_HOST does not answer 'docker info'; start that engine or unset DOCKER_HOST"
  local root=0
  [ "$(id -u)" = 0 ] && root=1

  if ! command -v dockerd >/dev/null; then
    [ "$root" = 1 ] || die "no Docker engine: dockerd is not installed. Install it as root (apt-get install docker.io, or run this script as root), or start your engine; SKIP_DOCKER=1 skips this step"
    command -v apt-get >/dev/null || die "no Docker engine and no apt-get to install docker.io"
    log "installing docker.io with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
    command -v dockerd >/dev/null || die "docker.io installed but dockerd not found"
    # With systemd, the package's postinst may have started it already.
    if command -v docker >/dev/null && docker_answers; then
      log "docker engine started by the package"
      return
    fi
  fi
  command -v docker >/dev/null || die "dockerd is installed but the docker CLI is not (install docker.io)"
  if [ "$root" != 1 ]; then
    if [ -S /var/run/docker.sock ]; then
      die "the Docker engine does not answer this user: $(timeout 5 docker info 2>&1 >/dev/null | tail -n 1) (is the user in the docker group?)"
    fi
    die "the Docker engine is not running and starting dockerd needs root (sudo dockerd, or sudo systemctl start docker)"
  fi

  log "starting dockerd in the background (log .deps/dockerd.log)"
  local t0=$SECONDS
  start_dockerd ${DOCKERD_ARGS:-}
  if ! wait_for_docker 60; then
    # A kernel without usable iptables/nf_tables (some containers and VMs)
    # stops dockerd at start; the tests publish ports to 127.0.0.1 only,
    # which docker-proxy handles without iptables.
    if ! kill -0 "$DOCKERD_PID" 2>/dev/null \
       && tail -n 30 "$DOCKERD_LOG" | grep -qi 'iptables'; then
      log "dockerd failed on iptables; retrying with --iptables=false"
      start_dockerd --iptables=false ${DOCKERD_ARGS:-}
      wait_for_docker 60 || { tail -n 30 "$DOCKERD_LOG" >&2; die "dockerd did not answer within 60 s (see .deps/dockerd.log)"; }
    else
      tail -n 30 "$DOCKERD_LOG" >&2
      kill "$DOCKERD_PID" 2>/dev/null || true
      die "dockerd did not answer within 60 s (see .deps/dockerd.log)"
    fi
  fi
  log "docker engine $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?') up after $((SECONDS - t0)) s (dockerd pid $DOCKERD_PID)"
}

setup_image() {
  bash tests/images/build.sh
}

# ------------------------------------------------- web UI and browser ----
# The browser test drives Debian's chromium through playwright-core (no
# browser download); the UI is built so the daemon embeds it.
setup_chromium() {
  if [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
    log "chromium present (skipped)"
    return
  fi
  [ "$(id -u)" = 0 ] || die "chromium missing and not root: apt-get install -y chromium"
  log "installing Debian's chromium"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  [ -x /usr/bin/chromium ] || die "apt-get did not install /usr/bin/chromium"
}

setup_ui() {
  log "web UI: make ui (npm ci when the lock file changed, build when sources changed)"
  make -s ui
}

setup_npm
bash tests/conformance/setup.sh
setup_venv
setup_ui
if [ "${SKIP_BROWSER:-0}" = 1 ]; then
  log "SKIP_BROWSER=1: chromium skipped"
else
  setup_chromium
fi
if [ "${SKIP_DOCKER:-0}" = 1 ]; then
  log "SKIP_DOCKER=1: docker engine and test image skipped"
else
  setup_docker
  setup_image
  bash deploy/ci-setup.sh  # deploy tests: debootstrap, compose, systemd-analyze, kubernetes-validate, base image
fi
log "done"
