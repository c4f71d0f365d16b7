#!/usr/bin/env bash
# Acceptance: the README's run command (`make run`) starts the daemon on a fresh clone.
# Runs it on a free port with a temp data dir, checks the API answers, stops it with SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out="$tmp/out"
MCP_MANAGER_BIND=127.0.0.1:0 MCP_MANAGER_DATA_DIR="$tmp/data" setsid make run > "$out" 2> "$tmp/err" &
pid=$!
url=""
for _ in $(seq 1 900); do   # a cold release build takes minutes
  url=$(sed -n 's/^mcp-manager listening on //p' "$out" | head -n1)
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/err" >&2; echo "make run exited early" >&2; exit 1; }
  sleep 1
done
[ -n "$url" ] || { echo "daemon did not start" >&2; exit 1; }
curl -fsS "$url/api/system" | grep -q '"version"'
curl -fsS "$url/api/servers" | grep -q '"data":\[\]'
# SIGTERM to the daemon (not to make/cargo): it shuts down and exits 0.
daemon=$(pgrep -f -n "mcp-manager serve" -s "$(ps -o sid= -p $pid | tr -d ' ')")
kill -TERM "$daemon"
wait "$pid"
echo "smoke: make run served $url and stopped cleanly"
