#!/bin/sh
# Launcher of mcp-manager as one "gateway" of the peer benchmark (../shared/bench, see
# docs/benchmarks.md "Gateway"): the daemon on 127.0.0.1:PORT with a fresh data dir under
# WORKDIR, serving the benchmark's fixture as the server `echo` at /mcp/echo.
#
#   bench/peer-gateway.sh PORT WORKDIR FIXTURE_CMD0_JSON FIXTURE_ARGS_JSON
#
# The daemon is exec'd, so the benchmark's PID is the daemon's own (its CPU and RSS are
# what the benchmark samples; the fixture is a child it tells apart by its argv). The
# server is registered by a short-lived background child that waits for the port, POSTs
# it with "start": true, and exits; the benchmark then counts the gateway as ready once
# an MCP session through it answers. MCP_MANAGER_BIN overrides the binary (default:
# target/release/mcp-manager of this checkout).
set -eu
[ $# -eq 4 ] || { echo "usage: $0 PORT WORKDIR FIXTURE_CMD0_JSON FIXTURE_ARGS_JSON" >&2; exit 2; }
port=$1 workdir=$2
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${MCP_MANAGER_BIN:-$here/target/release/mcp-manager}
mkdir -p "$workdir/data"
BENCH_PORT=$port BENCH_CMD0=$3 BENCH_ARGS=$4 python3 - <<'EOF' &
import json, os, socket, sys, time, urllib.request
port = int(os.environ["BENCH_PORT"])
body = {"name": "echo", "command": json.loads(os.environ["BENCH_CMD0"]),
        "args": json.loads(os.environ["BENCH_ARGS"]), "start": True}
deadline = time.monotonic() + 30
while True:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"peer-gateway: the daemon did not listen on {port} within 30 s")
        time.sleep(0.05)
req = urllib.request.Request(f"http://127.0.0.1:{port}/api/servers", data=json.dumps(body).encode(),
                             headers={"Content-Type": "application/json"}, method="POST")
with urllib.request.urlopen(req, timeout=30) as r:
    print(f"peer-gateway: server echo created: HTTP {r.status}", file=sys.stderr)
EOF
MCP_MANAGER_SETTINGS='' exec "$bin" serve --bind "127.0.0.1:$port" --data-dir "$workdir/data"
