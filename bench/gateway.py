#!/usr/bin/env python3
"""Gateway benchmark of the mcp-manager daemon (Python 3.11+, standard library only).

Measures `tools/call` through `/mcp/{name}` beside direct stdio to the same fixture, in
one run, with the peer benchmark's load client `mcpload` (issue 8, acceptance 8):

* `direct-stdio`: mcpload spawns the fixture and calls it over its own pipes (c=1: one
  call at a time; c=16: 16 calls in flight on the one pipe). The limit no gateway beats.
* `null-http`: mcpload's canned-answer HTTP server. The floor of client, loopback TCP and
  a minimal HTTP server, with nothing behind it.
* `gateway`: a real daemon (release binary, temp data dir, 127.0.0.1, a free port) runs
  the fixture as a managed server; mcpload opens an MCP session on `/mcp/echo` and calls
  (c=16: 16 keep-alive connections sharing the session).

Round 0 is a discarded warm-up; every later round runs the six batches (3 targets × c=1,
c=16) in a new shuffled order, so machine noise hits every side; figures are medians over
rounds. Then 16 MCP sessions are opened on the gateway (each makes one call and stays
open) and the daemon's own VmRSS is read (/proc/PID/status: the daemon process only; the
fixture is a child with its own RSS, not counted).

Also printed: the CPU per call at c=16 of the load client, the server (daemon or null
server) and the fixture, whose sum bounds calls/s when the machine has fewer cores than
busy processes.

Targets, each printed with pass/miss:
  added c=1 p50 (gateway p50 − direct p50) ≤ 1.25 × the null-http p50 of the same run;
  gateway c=16 calls/s ≥ 40 % of direct stdio's;
  daemon VmRSS with 16 sessions open < 30 MB.

    cargo build --release && python3 bench/gateway.py [--rounds 7] [--n 2000] [--json out.json]

See docs/benchmarks.md ("Gateway").
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import core  # noqa: E402  (bench/core.py: Daemon, Api, /proc helpers)
from core import BenchError, now  # noqa: E402

FIXTURE = common.PEER_BENCH / "fixtures" / "echo_server.py"
SERVER = "echo"
TARGET_ADDED_X_FLOOR = 1.25
TARGET_C16_SHARE = 0.40
TARGET_RSS_MB = 30.0
SESSIONS = 16
TARGETS = ("direct-stdio", "null-http", "gateway")
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}}


def log(msg: str) -> None:
    print(f"[gateway] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_s(pid: int) -> float:
    """utime + stime of one process (all its threads, not its children), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    rest = data[data.rindex(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


class Load:
    """Runs mcpload batches; for HTTP targets it uses --sync so the server's CPU is read
    exactly around the measured window (after session set-up and warm-up)."""

    def __init__(self, mcpload: Path, python: str, fixture: Path, args):
        self.mcpload, self.python, self.fixture, self.args = mcpload, python, fixture, args

    def stdio(self, n: int, c: int) -> dict:
        argv = [str(self.mcpload), "stdio", "--n", str(n), "--c", str(c), "--warmup", str(self.args.warmup),
                "--max-secs", str(self.args.max_secs), "--", self.python, str(self.fixture)]
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=self.args.max_secs + 60)
        if cp.returncode != 0:
            raise BenchError(f"mcpload stdio rc={cp.returncode}: {cp.stderr.strip()[-600:]}")
        rec = json.loads(cp.stdout.strip().splitlines()[-1])
        # mcpload reads its fixture's CPU over the whole run (start and warm-up included).
        if rec.get("n_ok") and rec.get("server_cpu_s") is not None:
            rec["fixture_cpu_us_per_call"] = rec["server_cpu_s"] * 1e6 / rec["n_ok"]
        return rec

    def http(self, url: str, n: int, c: int, cpu_pid: int | None = None, fixture_pid: int | None = None) -> dict:
        argv = [str(self.mcpload), "http", "--url", url, "--tool", "echo", "--n", str(n), "--c", str(c),
                "--warmup", str(self.args.warmup), "--max-secs", str(self.args.max_secs), "--sync"]
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        killer = threading.Timer(self.args.max_secs + 60, p.kill)
        killer.start()
        try:
            def step(expect: str) -> None:
                if p.stdout.readline().strip() != expect:
                    _, err = p.communicate(timeout=30)
                    raise BenchError(f"mcpload http {url} rc={p.returncode}: {err.strip()[-600:]}")

            step("ready")
            cpu0 = proc_cpu_s(cpu_pid) if cpu_pid else None
            fx0 = proc_cpu_s(fixture_pid) if fixture_pid else None
            p.stdin.write("go\n")
            p.stdin.flush()
            step("measured")
            cpu1 = proc_cpu_s(cpu_pid) if cpu_pid else None
            fx1 = proc_cpu_s(fixture_pid) if fixture_pid else None
            p.stdin.write("go\n")
            p.stdin.flush()
            out, err = p.communicate(timeout=60)
            if p.returncode != 0:
                raise BenchError(f"mcpload http {url} rc={p.returncode}: {err.strip()[-600:]}")
            rec = json.loads(out.strip().splitlines()[-1])
        finally:
            killer.cancel()
            if p.poll() is None:
                p.kill()
                p.wait()
        if cpu0 is not None and rec.get("n_ok"):
            rec["server_cpu_us_per_call"] = (cpu1 - cpu0) * 1e6 / rec["n_ok"]
        if fx0 is not None and rec.get("n_ok"):
            rec["fixture_cpu_us_per_call"] = (fx1 - fx0) * 1e6 / rec["n_ok"]
        return rec


def wait_ready(load: Load, url: str, timeout: float) -> None:
    """The gateway is ready once a 3-call MCP session through it succeeds (as in the peer
    benchmark)."""
    deadline = now() + timeout
    last = ""
    while now() < deadline:
        argv = [str(load.mcpload), "http", "--url", url, "--tool", "echo", "--n", "3", "--c", "1", "--warmup", "0",
                "--max-secs", "10"]
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if cp.returncode == 0:
            rec = json.loads(cp.stdout.strip().splitlines()[-1])
            if rec.get("n_ok") == 3:
                return
            last = rec.get("first_error", "")
        else:
            last = cp.stderr.strip()[-300:]
        time.sleep(0.2)
    raise BenchError(f"{url} not answering calls within {timeout:.0f} s: {last}")


def post_mcp(conn: http.client.HTTPConnection, path: str, msg: dict, session: str | None) -> tuple[int, dict, bytes]:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if session:
        headers["Mcp-Session-Id"] = session
        headers["MCP-Protocol-Version"] = "2025-11-25"
    conn.request("POST", path, body=json.dumps(msg).encode(), headers=headers)
    resp = conn.getresponse()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()


def sessions_rss(daemon: core.Daemon, port: int, timeout: float) -> dict:
    """Opens SESSIONS MCP sessions (one connection each, one call each, left open), reads
    the daemon's VmRSS, then deletes them."""
    path = f"/mcp/{SERVER}"
    base = daemon.rss_kb()
    opened: list[tuple[http.client.HTTPConnection, str]] = []
    try:
        for i in range(SESSIONS):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            status, headers, body = post_mcp(conn, path, INIT, None)
            sid = headers.get("mcp-session-id")
            if status != 200 or not sid:
                raise BenchError(f"session {i}: initialize answered HTTP {status}: {body[:300]!r}")
            opened.append((conn, sid))
            status, _, body = post_mcp(conn, path, {"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)
            if status != 202:
                raise BenchError(f"session {i}: notifications/initialized answered HTTP {status}: {body[:300]!r}")
            call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                    "params": {"name": "echo", "arguments": {"message": f"session {i}"}}}
            status, _, body = post_mcp(conn, path, call, sid)
            if status != 200 or f"Echo: session {i}".encode() not in body:
                raise BenchError(f"session {i}: tools/call answered HTTP {status}: {body[:300]!r}")
        rss = daemon.rss_kb()
        hwm = daemon.rss_kb("VmHWM")
    finally:
        for conn, sid in opened:
            try:
                conn.request("DELETE", path, headers={"Mcp-Session-Id": sid})
                conn.getresponse().read()
            except (OSError, http.client.HTTPException):
                pass
            conn.close()
    return {"sessions": SESSIONS, "rss_kb_before": base, "rss_kb": rss, "hwm_kb": hwm}


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def run(args) -> dict:
    binary = Path(args.binary).resolve()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise BenchError(f"no daemon binary at {binary}; build it with: cargo build --release")
    fixture = Path(args.fixture).resolve()
    if not fixture.is_file():
        raise BenchError(f"fixture {fixture} not found; pass --fixture (the peer benchmark's fixtures/echo_server.py)")
    mcpload, mcpload_note = common.ensure_mcpload(args.mcpload, args.peer_bench, log)
    load = Load(mcpload, args.python, fixture, args)
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": core.git_describe(), "binary": str(binary), "mcpload": mcpload_note, "fixture": str(fixture),
        "machine": core.machine_info(), "loadavg_start": os.getloadavg(),
        "params": {"rounds": args.rounds, "n": args.n, "n16": args.n16, "direct_scale": args.direct_scale,
                   "warmup": args.warmup, "seed": args.seed},
        "records": [],
    }
    tmp = Path(tempfile.mkdtemp(prefix="mcpm-gwbench-"))
    daemon = None
    null = None
    try:
        null_port = free_port()
        null = subprocess.Popen([str(mcpload), "null-server", "--port", str(null_port)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        daemon = core.Daemon(binary, tmp, args.timeout)
        log(f"daemon pid {daemon.pid} on 127.0.0.1:{daemon.port}; null-http on {null_port}")
        api = core.Api(daemon.port, args.timeout)
        api.call("POST", "/api/servers", {"name": SERVER, "command": args.python, "args": [str(fixture)],
                                          "start": True}, expect=(200, 201))
        gw_url = f"http://127.0.0.1:{daemon.port}/mcp/{SERVER}"
        null_url = f"http://127.0.0.1:{null_port}/mcp"
        wait_ready(load, gw_url, args.timeout)
        wait_ready(load, null_url, args.timeout)

        def fixture_pid() -> int:
            # Read for every batch: a fixture that was restarted has a new pid.
            return api.call("GET", f"/api/servers/{SERVER}")["data"]["process_id"]

        rng = random.Random(args.seed)
        batches = [(t, c) for t in TARGETS for c in (1, 16)]
        for rnd in range(args.rounds + 1):
            order = batches[:]
            rng.shuffle(order)
            for target, c in order:
                n = args.n if c == 1 else args.n16
                if target == "direct-stdio":
                    rec = load.stdio(int(n * args.direct_scale), c)
                elif target == "null-http":
                    rec = load.http(null_url, n, c, cpu_pid=null.pid)
                else:
                    rec = load.http(gw_url, n, c, cpu_pid=daemon.pid, fixture_pid=fixture_pid())
                if rec.get("n_err"):
                    raise BenchError(f"{target} c={c}: {rec['n_err']} errors; first: {rec.get('first_error')}")
                rec.update(round=rnd, target=target, c=c)
                result["records"].append(rec)
            log(f"round {rnd}{' (warm-up, discarded)' if rnd == 0 else ''} done; load {os.getloadavg()[0]:.2f}")
        api.close()
        result["rss"] = sessions_rss(daemon, daemon.port, args.timeout)
        result["loadavg_end"] = os.getloadavg()
        result["daemon_exit"] = common.stop_daemon(daemon, "gateway", log)
    finally:
        if daemon is not None and daemon.alive():
            daemon.stop()
        if null is not None:
            null.send_signal(signal.SIGTERM)
            try:
                null.wait(timeout=5)
            except subprocess.TimeoutExpired:
                null.kill()
                null.wait()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    summarize(result)
    return result


def summarize(result: dict) -> None:
    rounds = [r for r in result["records"] if r["round"] > 0]
    fig: dict = {}
    for target in TARGETS:
        for c in (1, 16):
            mine = [r for r in rounds if r["target"] == target and r["c"] == c]
            fig[f"{target}/c{c}"] = {
                "p50_us": med([r["lat_us"]["p50"] for r in mine]),
                "p99_us": med([r["lat_us"]["p99"] for r in mine]),
                "calls_per_s": med([r["calls_per_s"] for r in mine]),
                "server_cpu_us_per_call": med([r.get("server_cpu_us_per_call") for r in mine]),
                "client_cpu_us_per_call": med([r.get("client_cpu_us_per_call") for r in mine]),
                "fixture_cpu_us_per_call": med([r.get("fixture_cpu_us_per_call") for r in mine]),
                "rounds": len(mine),
            }
    # Per round, so that both sides of a difference saw the same moment of the machine.
    per_round = {}
    for rnd in sorted({r["round"] for r in rounds}):
        get = {(r["target"], r["c"]): r for r in rounds if r["round"] == rnd}
        per_round[rnd] = {
            "added_p50_us": get[("gateway", 1)]["lat_us"]["p50"] - get[("direct-stdio", 1)]["lat_us"]["p50"],
            "floor_p50_us": get[("null-http", 1)]["lat_us"]["p50"],
            "c16_share": get[("gateway", 16)]["calls_per_s"] / get[("direct-stdio", 16)]["calls_per_s"],
        }
    added = med([v["added_p50_us"] for v in per_round.values()])
    floor = fig["null-http/c1"]["p50_us"]
    share = med([v["c16_share"] for v in per_round.values()])
    rss_mb = result["rss"]["rss_kb"] / 1024.0
    result["figures"] = fig
    result["per_round"] = per_round
    result["targets"] = {
        "added_p50": {"value_us": added, "budget_us": TARGET_ADDED_X_FLOOR * floor,
                      "x_floor": added / floor, "pass": added <= TARGET_ADDED_X_FLOOR * floor},
        "c16_share": {"value": share, "pass": share >= TARGET_C16_SHARE},
        "rss_16_sessions": {"value_mb": rss_mb, "pass": rss_mb < TARGET_RSS_MB},
    }


def report(result: dict) -> str:
    fig, tg, m = result["figures"], result["targets"], result["machine"]
    la0, la1 = result["loadavg_start"], result.get("loadavg_end", ("?",) * 3)
    out = [
        f"# Gateway benchmark, {result['date']}",
        "",
        f"commit {result['commit']}; {m['nproc']} CPUs ({m['cpu']}); load average {la0[0]:.2f} at the start, "
        f"{la1[0]:.2f} at the end; {result['params']['rounds']} rounds (+1 warm-up), medians; "
        f"n = {result['params']['n']} calls at c=1, {result['params']['n16']} at c=16 "
        f"(direct stdio ×{result['params']['direct_scale']:g})",
        "",
        "| target | c=1 p50 µs | c=1 p99 µs | c=1 calls/s | c=16 calls/s | c=16 p50 µs | server CPU µs/call (c=1, c=16) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for t in TARGETS:
        a, b = fig[f"{t}/c1"], fig[f"{t}/c16"]
        cpu = "–" if t == "direct-stdio" else \
            f"{common.f1(a['server_cpu_us_per_call'], '', 0)}, {common.f1(b['server_cpu_us_per_call'], '', 0)}"
        out.append(f"| {t} | {a['p50_us']:.0f} | {a['p99_us']:.0f} | {common.num(a['calls_per_s'])} | "
                   f"{common.num(b['calls_per_s'])} | {b['p50_us']:.0f} | {cpu} |")
    out += [
        "",
        "CPU per call at c=16, µs (client: mcpload's own; server: the daemon or the null server; fixture: "
        "the stdio server, over the whole run for direct stdio). On a machine with fewer cores than busy "
        "processes, calls/s ≈ cores × utilisation ÷ total.",
        "",
        "| target | client | server | fixture | total |",
        "|---|---:|---:|---:|---:|",
    ]
    for t in TARGETS:
        b = fig[f"{t}/c16"]
        parts = [b["client_cpu_us_per_call"], b["server_cpu_us_per_call"], b["fixture_cpu_us_per_call"]]
        total = sum(x for x in parts if x is not None)
        cells = " | ".join(common.f1(x, "", 1) for x in parts)
        out.append(f"| {t} | {cells} | {total:.1f} |")
    rss = result["rss"]
    ok = lambda p: "pass" if p else "MISS"  # noqa: E731
    out += [
        "",
        "| target | measured | goal | |",
        "|---|---:|---:|---|",
        f"| added c=1 p50 over direct stdio | {tg['added_p50']['value_us']:.0f} µs "
        f"({tg['added_p50']['x_floor']:.2f} × null-http) | ≤ {tg['added_p50']['budget_us']:.0f} µs "
        f"({TARGET_ADDED_X_FLOOR} × null-http p50 {fig['null-http/c1']['p50_us']:.0f} µs) | {ok(tg['added_p50']['pass'])} |",
        f"| gateway c=16 calls/s ÷ direct stdio c=16 | {100 * tg['c16_share']['value']:.0f} % | "
        f"≥ {100 * TARGET_C16_SHARE:.0f} % | {ok(tg['c16_share']['pass'])} |",
        f"| daemon VmRSS, {rss['sessions']} sessions open | {tg['rss_16_sessions']['value_mb']:.1f} MB "
        f"(before: {rss['rss_kb_before'] / 1024:.1f}, peak {rss['hwm_kb'] / 1024:.1f}) | < {TARGET_RSS_MB:.0f} MB | "
        f"{ok(tg['rss_16_sessions']['pass'])} |",
        "",
    ]
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description="Gateway benchmark of the mcp-manager daemon (see docs/benchmarks.md)")
    p.add_argument("--rounds", type=int, default=7, help="measured rounds, plus one warm-up (default 7)")
    p.add_argument("--n", type=int, default=2000, help="measured calls per c=1 batch (default 2000)")
    p.add_argument("--n16", type=int, default=20000,
                   help="measured calls per c=16 batch (default 20000: about 0.5 s, so that a batch's start, "
                        "16 connections and threads, weighs little against its steady state)")
    p.add_argument("--direct-scale", type=float, default=3.0,
                   help="direct stdio batches make this many times more calls, to last about as long (default 3)")
    p.add_argument("--warmup", type=int, default=50, help="unmeasured calls before each batch (default 50)")
    p.add_argument("--max-secs", type=float, default=30.0, help="bound of one batch, in seconds (default 30)")
    p.add_argument("--seed", type=int, default=1, help="order of the batches within rounds (default 1)")
    p.add_argument("--python", default=sys.executable, help="the fixture's interpreter (default: this Python)")
    p.add_argument("--fixture", default=str(FIXTURE), help=f"the stdio fixture (default {FIXTURE})")
    p.add_argument("--mcpload", help="the mcpload binary (default: built once from --peer-bench into "
                                     f"{common.CACHE}/mcpload-<hash>)")
    p.add_argument("--peer-bench", default=str(common.PEER_BENCH), help=f"the peer benchmark (default {common.PEER_BENCH})")
    p.add_argument("--binary", default=str(core.DEFAULT_BINARY), help="daemon binary (default target/release/mcp-manager)")
    p.add_argument("--json", metavar="FILE", help="also write every batch and figure as JSON to FILE")
    p.add_argument("--timeout", type=float, default=60.0, help="bound of every wait, in seconds (default 60)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (data dir and daemon log)")
    args = p.parse_args()
    if args.rounds < 1 or min(args.n, args.n16) < 10 or args.direct_scale <= 0:
        p.error("--rounds ≥ 1, --n and --n16 ≥ 10, --direct-scale > 0")
    try:
        result = run(args)
    except BenchError as e:
        print(f"gateway: error: {e}", file=sys.stderr)
        return 1
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
