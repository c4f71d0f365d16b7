#!/usr/bin/env bash
# Installs what tests/deploy.rs needs, ahead of the tests (called by
# .ci/setup.sh once the Docker engine answers; SKIP_DOCKER=1 skips it there):
#   debootstrap       Debian package, to make the base image offline
#   docker-compose    Debian's compose tool (1.29), unless `docker compose`
#                     (the v2 plugin) or docker-compose already answers
#   systemd-analyze   Debian's systemd package, when missing (a container
#                     image of Debian has no systemd)
#   .deps/deploy-venv python venv with kubernetes-validate (its Kubernetes
#                     schemas are inside the package: validation is offline)
#   base image        deploy/docker/build-base.sh -> mcp-manager-base/bookworm
# Idempotent: the packages are skipped when their commands exist, the venv
# when its stamp (a hash of the pinned version and python) matches, the image
# when its hash label is current. Installing packages needs root and apt-get.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"
VENV="$ROOT/.deps/deploy-venv"
KUBERNETES_VALIDATE="kubernetes-validate==1.37.0"
PYTHON="${PYTHON:-python3}"

log() { printf '[deploy] %s\n' "$*"; }
die() { printf '[deploy] ERROR: %s\n' "$*" >&2; exit 1; }

missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
  missing+=(docker-compose)
fi
command -v systemd-analyze >/dev/null || missing+=(systemd)
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${missing[*]}: apt-get install -y ${missing[*]} (as root)"
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
  log "installing ${missing[*]} with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "debootstrap, compose and systemd-analyze present (skipped)"
fi

want="$( { echo "$KUBERNETES_VALIDATE"; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
if [ -f "$VENV/.setup-stamp" ] && [ "$(cat "$VENV/.setup-stamp")" = "$want" ] \
   && [ -x "$VENV/bin/kubernetes-validate" ]; then
  log "kubernetes-validate up to date in .deps/deploy-venv (skipped)"
else
  log "installing $KUBERNETES_VALIDATE into .deps/deploy-venv"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv' failed; install the python3-venv package"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    "$KUBERNETES_VALIDATE"
  [ -x "$VENV/bin/kubernetes-validate" ] || die "pip did not install kubernetes-validate"
  printf '%s\n' "$want" >"$VENV/.setup-stamp"
fi

bash deploy/docker/build-base.sh
