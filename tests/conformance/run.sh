#!/usr/bin/env bash
# Runs the server scenarios of the official MCP conformance suite (the
# default "active" set, 30 scenarios at 0.1.16) against an MCP endpoint.
#
#   tests/conformance/run.sh URL [suite options...]
#       e.g. run.sh http://127.0.0.1:8080/mcp/conformance
#            run.sh http://127.0.0.1:8080/mcp --scenario ping
#   tests/conformance/run.sh fixture [suite options...]
#       starts tests/fixtures/conformance/server.mjs --http 0 on 127.0.0.1
#       (the baseline: the fixture's own Streamable HTTP), runs against it,
#       and stops it
#
# The URL's host must be localhost, 127.0.0.1 or [::1]: the
# dns-rebinding-protection scenario fails on any other.
# Prints the suite's summary (one line per scenario, then its
# `Total: N passed, M failed` line over all checks) and a last line
# `conformance: S/T scenarios passed`; the failed checks too when any fail.
# The full output is kept in $CONFORMANCE_LOG (default
# .deps/conformance/last-run.log), each scenario's checks.json in
# .deps/conformance/results/; VERBOSE=1 prints the output as it runs.
# Exit status: 0 when every scenario passed, 1 otherwise (2: not set up).
# Needs `bash tests/conformance/setup.sh` first (node 22 + the pinned suite);
# downloads nothing.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT="$(pwd)"
CDIR="$ROOT/.deps/conformance"
NODE22="$CDIR/bin/node"   # node 22, linked by setup.sh
SUITE_JS="$CDIR/suite/node_modules/@modelcontextprotocol/conformance/dist/index.js"
LOG="${CONFORMANCE_LOG:-$CDIR/last-run.log}"

die() { printf '[conformance] ERROR: %s\n' "$*" >&2; exit 2; }

[ $# -ge 1 ] || die "usage: $0 URL|fixture [suite options...]"
[ -x "$NODE22" ] && [ -f "$SUITE_JS" ] \
  || die "conformance suite not installed; run: bash tests/conformance/setup.sh"

target="$1"
shift

FIXTURE_PID=""
cleanup() {
  if [ -n "$FIXTURE_PID" ]; then
    kill "$FIXTURE_PID" 2>/dev/null || true
    wait "$FIXTURE_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

if [ "$target" = fixture ]; then
  [ -e tests/fixtures/conformance/node_modules/@modelcontextprotocol/sdk/package.json ] \
    || die "fixture deps not installed; run: bash tests/conformance/setup.sh"
  fixture_log="$CDIR/fixture-http.log"
  : > "$fixture_log"
  node tests/fixtures/conformance/server.mjs --http 0 --http-host 127.0.0.1 --log-requests \
    </dev/null >/dev/null 2>"$fixture_log" &
  FIXTURE_PID=$!
  url=""
  for _ in $(seq 1 100); do
    url="$(sed -n 's/^listening on \(http:\/\/[^ ]*\)$/\1/p' "$fixture_log" | head -n 1)"
    [ -n "$url" ] && break
    kill -0 "$FIXTURE_PID" 2>/dev/null || { cat "$fixture_log" >&2; die "fixture exited"; }
    sleep 0.1
  done
  [ -n "$url" ] || { cat "$fixture_log" >&2; die "fixture did not listen within 10 s"; }
  printf '[conformance] fixture pid %s at %s (log %s)\n' "$FIXTURE_PID" "$url" "${fixture_log#"$ROOT"/}"
else
  url="$target"
fi

mkdir -p "$(dirname "$LOG")"
printf '[conformance] %s server --url %s %s (node %s)\n' \
  "@modelcontextprotocol/conformance@$("$NODE22" -p "require('${SUITE_JS%/dist/index.js}/package.json').version")" \
  "$url" "$*" "$("$NODE22" --version)"

# Each scenario's checks.json goes to $RESULTS (failures are read from there).
RESULTS="${CONFORMANCE_RESULTS:-$CDIR/results}"
rm -rf "$RESULTS"
mkdir -p "$RESULTS"

status=0
# The suite's own bin has `#!/usr/bin/env node`; run it with node 22 explicitly.
if [ "${VERBOSE:-0}" = 1 ]; then
  PATH="$(dirname "$NODE22"):$PATH" timeout 900 "$NODE22" "$SUITE_JS" server --url "$url" -o "$RESULTS" "$@" 2>&1 \
    | tee "$LOG" || status=$?
else
  PATH="$(dirname "$NODE22"):$PATH" timeout 900 "$NODE22" "$SUITE_JS" server --url "$url" -o "$RESULTS" "$@" \
    >"$LOG" 2>&1 || status=$?
fi

if grep -q '^=== SUMMARY ===' "$LOG"; then
  # Several scenarios: the suite's summary block.
  sed -n '/^=== SUMMARY ===/,$p' "$LOG"
  total=$(grep -cE '^(✓|✗) ' "$LOG" || true)
  ok=$(grep -cE '^✓ ' "$LOG" || true)
elif grep -qE '^Passed: [0-9]+/[0-9]+, [0-9]+ failed' "$LOG"; then
  # One scenario (--scenario): its result line.
  grep -E '^Passed: [0-9]+/[0-9]+, [0-9]+ failed' "$LOG" | tail -n 1
  total=1
  if grep -qE '^Passed: [0-9]+/[0-9]+, 0 failed' "$LOG"; then ok=1; else ok=0; fi
else
  tail -n 40 "$LOG"
  printf '[conformance] no summary in the suite output (exit %s); full log: %s\n' "$status" "$LOG" >&2
  exit 1
fi

if [ "$status" != 0 ] || [ "$ok" != "$total" ]; then
  printf '\n[conformance] failed checks:\n'
  "$NODE22" -e '
    const fs = require("fs"), path = require("path");
    const dir = process.argv[1];
    for (const d of fs.readdirSync(dir).sort()) {
      let checks;
      try { checks = JSON.parse(fs.readFileSync(path.join(dir, d, "checks.json"), "utf8")); } catch { continue; }
      for (const c of checks.filter((c) => c.status === "FAILURE"))
        console.log(`  ${d.replace(/^server-/, "").replace(/-\d{4}-\d\d-\d\dT.*$/, "")}: ${c.id}: ${c.errorMessage ?? c.description}`);
    }' "$RESULTS" | head -n 80 || true
  printf '[conformance] full log: %s; checks: %s/*/checks.json\n' "${LOG#"$ROOT"/}" "${RESULTS#"$ROOT"/}"
  [ "$status" != 0 ] || status=1
fi
printf 'conformance: %s/%s scenarios passed\n' "$ok" "$total"
exit "$status"
