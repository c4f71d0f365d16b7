#!/usr/bin/env bash
# Builds the base image deploy/docker/Dockerfile is built on in CI, without any
# image registry: a Debian root filesystem made with debootstrap (variant
# minbase) from deb.debian.org, with node, npm/npx, python3 + venv, uv/uvx,
# tini and CA certificates already in it, loaded with `docker import`. A user builds the
# Dockerfile on debian:bookworm-slim instead (see docs/deploy.md); both bases
# end up with the same tools.
#
#   image:  mcp-manager-base/bookworm:latest   (override with IMAGE=...)
#   label:  mcp-manager.base.hash=<sha256 of this script and its settings>
#   cache:  .deps/debootstrap-cache (downloaded .debs, reused by a rebuild)
#
# Idempotent: when an image with the current hash label exists, nothing is
# rebuilt (FORCE=1 rebuilds anyway). The hash covers this script, the suite,
# the mirror, the package list and npm's and uv's versions, not the archive's contents:
# security updates arrive with FORCE=1 (or any change here). The image
# replaced by a rebuild is removed if no container uses it.
# Needs root (debootstrap, chroot), debootstrap, python3 and npm (to fetch uv's
# wheel and npm's tarball), a running Docker engine, and network access to the
# Debian mirror, PyPI and the npm registry.
# x86_64 only (uv's wheel is picked for manylinux x86_64).
set -euo pipefail

cd "$(dirname "$0")/../.."
IMAGE="${IMAGE:-mcp-manager-base/bookworm:latest}"
LABEL_KEY="mcp-manager.base.hash"
SUITE="${SUITE:-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
# What the daemon's servers need: node, python3 with venv, TLS roots; tini as
# PID 1. No Recommends, so no compilers. npm (for npx) is not Debian's: that
# one depends on ~300 node-* packages and node-gyp's headers (+190 MB); npm's
# own tarball bundles its dependencies (10 MB), as the official node images do.
PACKAGES="nodejs,python3,python3-venv,ca-certificates,tini"
NPM_VERSION="${NPM_VERSION:-10.9.8}"
UV_VERSION="${UV_VERSION:-0.13.9}"
SCRIPT="deploy/docker/build-base.sh"
CACHE="${CACHE:-$(pwd)/.deps/debootstrap-cache}"
PYTHON="${PYTHON:-python3}"

log() { printf '[base] %s\n' "$*"; }
die() { printf '[base] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap and chroot)"
command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install debootstrap)"
command -v docker >/dev/null || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "the Docker engine does not answer (run .ci/setup.sh)"

HASH="$( { cat "$SCRIPT"; printf '%s\n' "$SUITE" "$MIRROR" "$PACKAGES" "$NPM_VERSION" "$UV_VERSION"; } \
  | sha256sum | cut -d' ' -f1)"

# ------------------------------------------------------------ up to date? --
current="$(docker image inspect "$IMAGE" \
  --format "{{ index .Config.Labels \"$LABEL_KEY\" }}" 2>/dev/null || true)"
if [ "$current" = "$HASH" ] && [ "${FORCE:-0}" != 1 ]; then
  log "$IMAGE up to date (skipped)"
  exit 0
fi
# An image with this hash that lost its tag: tag it again.
existing="$(docker images -q --filter "label=$LABEL_KEY=$HASH" | head -n1)"
if [ -n "$existing" ] && [ "${FORCE:-0}" != 1 ]; then
  docker tag "$existing" "$IMAGE"
  log "$IMAGE re-tagged from $existing (skipped the build)"
  exit 0
fi
old_id="$(docker image inspect "$IMAGE" --format '{{.Id}}' 2>/dev/null || true)"

# ---------------------------------------------------------------- rootfs --
# debootstrap makes the bare system (its resolver knows no virtual packages, which
# npm's dependencies need); apt-get inside it installs the rest. Downloaded .debs
# are kept in $CACHE for the next build.
t0=$SECONDS
log "debootstrap $SUITE (minbase) from $MIRROR"
ROOTFS="$(mktemp -d "${TMPDIR:-/tmp}/mcp-manager-base.XXXXXX")"
trap 'rm -rf "$ROOTFS" "$ROOTFS.log"' EXIT
mkdir -p "$CACHE"
debootstrap --variant=minbase --components=main --cache-dir="$CACHE" \
  "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 \
  || { tail -n 30 "$ROOTFS.log" >&2; die "debootstrap failed"; }
log "debootstrap done at $((SECONDS - t0)) s"

# The chroot borrows this host's DNS; security and point-release updates come too.
cp -L /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
printf '%s\n' "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
  "deb ${MIRROR%/debian}/debian-security $SUITE-security main" \
  >"$ROOTFS/etc/apt/sources.list"
cp "$CACHE"/*.deb "$ROOTFS/var/cache/apt/archives/" 2>/dev/null || true
log "apt-get install ${PACKAGES//,/ }"
chroot "$ROOTFS" /bin/sh -ec "
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends ${PACKAGES//,/ }
" >"$ROOTFS.log" 2>&1 || { tail -n 30 "$ROOTFS.log" >&2; die "apt-get install failed"; }
cp -n "$ROOTFS"/var/cache/apt/archives/*.deb "$CACHE/" 2>/dev/null || true
log "packages installed at $((SECONDS - t0)) s"

: >"$ROOTFS/etc/resolv.conf"  # the engine provides its own at run time

# uv and uvx: the standalone binaries inside uv's manylinux wheel on PyPI,
# downloaded by this host's pip (with this host's TLS trust settings; the
# rootfs keeps Debian's stock CA list) and copied into /usr/local/bin.
WHEELS="$ROOTFS.wheels"
trap 'rm -rf "$ROOTFS" "$ROOTFS.log" "$WHEELS"' EXIT
mkdir -p "$WHEELS"
pip=("$PYTHON" -m pip)
if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
  "$PYTHON" -m venv "$WHEELS/venv" || die "$PYTHON has neither pip nor venv"
  pip=("$WHEELS/venv/bin/python" -m pip)
fi
"${pip[@]}" download --quiet --disable-pip-version-check --no-input --no-deps \
  --only-binary=:all: --platform manylinux_2_17_x86_64 --python-version 3.11 \
  --dest "$WHEELS" "uv==$UV_VERSION" >"$ROOTFS.log" 2>&1 \
  || { tail -n 20 "$ROOTFS.log" >&2; die "could not download uv $UV_VERSION from PyPI"; }
"$PYTHON" -m zipfile -e "$WHEELS"/uv-"$UV_VERSION"-*.whl "$WHEELS/uv"
install -m 0755 "$WHEELS/uv/uv-$UV_VERSION.data/scripts/uv" \
  "$WHEELS/uv/uv-$UV_VERSION.data/scripts/uvx" "$ROOTFS/usr/local/bin/"

# npm and npx: npm's registry tarball (integrity checked by `npm pack`), laid
# out as Node's own installs do: /usr/local/lib/node_modules/npm.
command -v npm >/dev/null || die "npm not found on this host (needed to fetch npm $NPM_VERSION)"
( cd "$WHEELS" && npm pack --silent "npm@$NPM_VERSION" >/dev/null ) \
  || die "could not fetch npm $NPM_VERSION from the npm registry"
mkdir -p "$ROOTFS/usr/local/lib/node_modules/npm"
tar -xzf "$WHEELS/npm-$NPM_VERSION.tgz" --no-same-owner \
  -C "$ROOTFS/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/local/bin/npx"

# What an image does not need: package lists and caches, docs, man pages,
# message translations (33 MB).
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin \
  "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/log/*.log \
  "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
  "$ROOTFS"/usr/share/locale/*
# apt inside the image (a derived Dockerfile) keeps it that lean too.
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/01-image-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
printf 'APT::Install-Recommends "false";\n' >"$ROOTFS/etc/apt/apt.conf.d/01-image-norecommends"

# ---------------------------------------------------------------- import --
new_id="$(tar -C "$ROOTFS" --numeric-owner -cf - . \
  | docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'CMD ["bash"]' \
      --change "LABEL $LABEL_KEY=$HASH" \
      --message "mcp-manager base: debootstrap $SUITE minbase + $PACKAGES + npm $NPM_VERSION + uv $UV_VERSION" \
      - "$IMAGE")"

# Smoke test: every tool the daemon's servers need answers.
if ! out="$(docker run --rm --network none "$IMAGE" bash -ec \
  'tini --version; node --version; npx --version; python3 --version; python3 -m venv /tmp/v; uv --version; uvx --version' 2>&1)"; then
  docker rmi -f "$IMAGE" >/dev/null 2>&1 || true
  die "the new image fails its smoke test: $out"
fi

if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
  docker rmi "$old_id" >/dev/null 2>&1 || true  # kept while a container uses it
fi
log "built $IMAGE in $((SECONDS - t0)) s ($(docker image inspect "$IMAGE" --format '{{.Size}}' \
  | awk '{ printf "%.0f MB", $1 / 1e6 }'); $(echo "$out" | tr '\n' ' ')), $LABEL_KEY=${HASH:0:12}…"
