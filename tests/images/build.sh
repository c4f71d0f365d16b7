#!/usr/bin/env bash
# Builds the Docker image the tests run MCP servers in, without any image
# registry: the root filesystem is put together from this machine's own
# Debian Python (/usr/bin/python3.11 + /usr/lib/python3.11, part of the base
# OS here and on CI) and loaded with `docker import`.
#
#   image:      mcp-manager-test/py-fixture:latest  (override with IMAGE=...)
#   entrypoint: /usr/bin/python3 /fixture/mcp_fixture.py   (args = fixture flags)
#   workdir:    /fixture
#   label:      mcp-manager.test.hash=<sha256 of the fixture, this script and
#               the interpreter binary>
#
# Idempotent: when an image with the current hash label exists, nothing is
# rebuilt (FORCE=1 rebuilds anyway). The image replaced by a rebuild is
# removed if no container uses it. Needs a running Docker engine, ldd, tar.
#
#   docker run -i --rm mcp-manager-test/py-fixture:latest                # stdio
#   docker run -d -p 127.0.0.1:18080:8080 mcp-manager-test/py-fixture:latest --http 8080
set -euo pipefail

cd "$(dirname "$0")/../.."
IMAGE="${IMAGE:-mcp-manager-test/py-fixture:latest}"
LABEL_KEY="mcp-manager.test.hash"
PY_BIN="${PY_BIN:-/usr/bin/python3.11}"
PY_LIB="/usr/lib/python3.11"
FIXTURE="tests/fixtures/mcp_fixture.py"
SCRIPT="tests/images/build.sh"

log() { printf '[images] %s\n' "$*"; }
die() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }

[ -x "$PY_BIN" ] || die "$PY_BIN not found (Debian's python3.11 package is needed)"
[ -d "$PY_LIB" ] || die "$PY_LIB not found"
command -v ldd >/dev/null || die "ldd not found"
command -v docker >/dev/null || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "the Docker engine does not answer (run .ci/setup.sh)"

HASH="$(cat "$FIXTURE" "$SCRIPT" "$PY_BIN" | sha256sum | cut -d' ' -f1)"

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
log "building $IMAGE from $PY_BIN ($("$PY_BIN" -c 'import sys; print(sys.version.split()[0])'))"
ROOTFS="$(mktemp -d "${TMPDIR:-/tmp}/mcp-py-fixture-rootfs.XXXXXX")"
trap 'rm -rf "$ROOTFS"' EXIT

# Copies a file to the same path under the rootfs, following symlinks.
put() {
  mkdir -p "$ROOTFS$(dirname "$1")"
  cp -L --preserve=mode,timestamps "$1" "$ROOTFS$1"
}

# The standard library, without what is only for tests, GUIs, building or
# installing packages. Of the extension modules, the test ones go too, and
# those only useful interactively or obsolete whose libraries would add
# ~4.5 MB (curses, readline, dbm.ndbm -> libdb, nis -> libnsl + Kerberos).
mkdir -p "$ROOTFS/usr/lib"
tar -C /usr/lib -cf - \
  --exclude=__pycache__ --exclude='*.pyc' \
  --exclude=test --exclude=tests --exclude=idle_test \
  --exclude=python3.11/idlelib --exclude=python3.11/tkinter \
  --exclude=python3.11/turtledemo --exclude=python3.11/turtle.py \
  --exclude=python3.11/ensurepip --exclude=python3.11/lib2to3 \
  --exclude=python3.11/pydoc_data --exclude=python3.11/dist-packages \
  --exclude=python3.11/site-packages --exclude='python3.11/config-3.11*' \
  --exclude='lib-dynload/_test*' --exclude='lib-dynload/_ctypes_test*' \
  --exclude='lib-dynload/xxlimited*' --exclude='lib-dynload/_xxtestfuzz*' \
  --exclude='lib-dynload/_tkinter*' --exclude='lib-dynload/_curses*' \
  --exclude='lib-dynload/readline.*' --exclude='lib-dynload/_dbm.*' \
  --exclude='lib-dynload/nis.*' \
  python3.11 | tar -C "$ROOTFS/usr/lib" -xf -

# The interpreter and every shared library it or a kept extension module
# needs (ldd lists them with absolute paths, the dynamic loader included).
put "$PY_BIN"
ln -s "$(basename "$PY_BIN")" "$ROOTFS/usr/bin/python3"
{
  ldd "$PY_BIN"
  for so in "$ROOTFS$PY_LIB"/lib-dynload/*.so; do
    ldd "$PY_LIB/lib-dynload/$(basename "$so")" || true
  done
} | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' \
  | sort -u | while read -r lib; do put "$lib"; done

# Byte-code for the modules the fixture imports, so a fresh container does
# not compile them at every start (recorded paths are the in-image ones).
"$PY_BIN" - "$ROOTFS" "$FIXTURE" <<'EOF'
import importlib.util, py_compile, sys
rootfs, fixture = sys.argv[1], sys.argv[2]
before = set(sys.modules)
spec = importlib.util.spec_from_file_location("fixture", fixture)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
import http.server, subprocess, uuid  # imported lazily by --http / --fork-grandchild
import encodings.idna  # socket.getaddrinfo() imports it when --http binds
n = 0
for m in list(sys.modules.values()):
    src = getattr(m, "__file__", None) or ""
    if src.startswith("/usr/lib/python3.11/") and src.endswith(".py"):
        try:
            py_compile.compile(rootfs + src, cfile=rootfs + importlib.util.cache_from_source(src),
                               dfile=src, doraise=True)
            n += 1
        except (OSError, py_compile.PyCompileError):
            pass  # excluded from the image
print("[images] precompiled %d stdlib modules" % n)
EOF

# The fixture, and the few files a process expects to find.
mkdir -p "$ROOTFS/fixture" "$ROOTFS/etc" "$ROOTFS/tmp"
cp "$FIXTURE" "$ROOTFS/fixture/mcp_fixture.py"
chmod 0755 "$ROOTFS/fixture/mcp_fixture.py"
chmod 1777 "$ROOTFS/tmp"
printf '%s\n' 'root:x:0:0:root:/root:/usr/sbin/nologin' \
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' > "$ROOTFS/etc/passwd"
printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' > "$ROOTFS/etc/group"
printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' > "$ROOTFS/etc/nsswitch.conf"
mkdir -p "$ROOTFS/root"
chmod 0700 "$ROOTFS/root"

# ---------------------------------------------------------------- import --
new_id="$(tar -C "$ROOTFS" --numeric-owner --owner=0 --group=0 -cf - . \
  | docker import \
      --change 'ENTRYPOINT ["/usr/bin/python3", "/fixture/mcp_fixture.py"]' \
      --change 'WORKDIR /fixture' \
      --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
      --change "LABEL $LABEL_KEY=$HASH" \
      --message "mcp-manager test fixture ($FIXTURE)" \
      - "$IMAGE")"

# Smoke test: the interpreter starts and the fixture answers.
out="$(printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"ping"}' \
  | docker run -i --rm --network none "$IMAGE" 2>/dev/null || true)"
case "$out" in
  *'"id":1,"result":{}'*) ;;
  *) docker rmi -f "$IMAGE" >/dev/null 2>&1 || true
     die "the new image does not answer a ping (got: ${out:-nothing})" ;;
esac

if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
  docker rmi "$old_id" >/dev/null 2>&1 || true  # kept while a container uses it
fi
log "built $IMAGE ($(docker image inspect "$IMAGE" --format '{{.Size}}' \
  | awk '{ printf "%.1f MB", $1 / 1e6 }'), $LABEL_KEY=${HASH:0:12}…"
