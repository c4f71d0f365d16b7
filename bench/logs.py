#!/usr/bin/env python3
"""Log benchmark of the mcp-manager daemon (Python 3.11+, standard library only).

Four parts (issue 6, acceptance 8), each against a copy of the release binary in a
throw-away data dir:

* `ingest`: how fast one server's stderr gets into the store, searchable, beside the raw
  pipe-drain rate of the same producer in the same run. The producer is `mcpload spew`
  from the peer benchmark (../shared/bench): L realistic log lines (117–670 bytes), one
  write(2) per line (`line`) or in ~64 KiB bursts (`block`). Interleaved rounds (round 0
  is a discarded warm-up) of: the producer straight into a file (no reader: the
  producer's own limit), `mcpload drain` (a Rust pipe → file reader), and the daemon (a
  fresh daemon per run; a server whose command is the producer). For the daemon the time
  runs from the producer's first write until the last line (`request_id=L-1`) is found by
  `GET …/logs/search`, polled every few ms. Every stored line is then exported and
  compared with the producer's output; lines dropped by the daemon (its `system` lines
  "N log lines were dropped") are counted. Targets: ≥ 300 000 lines/s, each line
  searchable within 1 s of being written.
* `sustain`: the same target as a steady load. `mcpload spew --lines L --block 65536` goes
  through a pacing relay (the server's command) that writes its lines at `--sustain-rate`
  lines/s (default 300 000) for `--sustain-secs` (default 5), open loop (it never waits for
  the store), and records the time of each of its write(2)s. Every few ms the newest stored
  line (`GET …/logs?limit=20`) is sampled: lag = sample time − that line's recorded write
  time; then the last line is searched for. Every stored line is counted (once, in order)
  and the dropped ones added up. Targets: offered rate ≥ 300 000 lines/s (else the relay,
  not the daemon, fell short, unless the daemon's full pipe held it back), 0 dropped, max
  lag < 1 s.
* `search`: 1 000 000 lines of one server are put through the daemon (the same producer,
  paced by a relay so that the daemon's queue does not overflow), then N timed
  `GET …/logs/search` requests on one keep-alive connection, across a mix of queries
  (common word, rare token, phrase, prefix, level, source and time filters, a cursor
  page). Every answer is checked. Target: p50 < 20 ms.
* `follow`: a WebSocket client subscribed to one server's logs (`subscribe_logs`); the
  server writes a line carrying its write time (CLOCK_REALTIME ns) at a steady rate;
  latency = arrival of the `logs:new` frame − that write time. Target: p99 < 50 ms.

Figures are measured and printed next to their targets; nothing is asserted. The daemon
launcher, the REST and WebSocket clients and the /proc helpers come from bench/core.py.

    cargo build --release && python3 bench/logs.py [--parts ingest,sustain,search,follow]
        [--lines 500000] [--rounds 5] [--sustain-rate 300000] [--sustain-secs 5] [--n 200]
        [--json out.json]

See docs/benchmarks.md, section "Logs".
"""

from __future__ import annotations

import argparse
import bisect
import datetime
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import core  # noqa: E402  (bench/core.py: Daemon, Api, WebSocket, /proc helpers)
from core import BenchError, ms, now  # noqa: E402
from common import CACHE, NS, PEER_BENCH, dist, f1, num, parse_ns, pct  # noqa: E402
import common  # noqa: E402  (bench/common.py: helpers shared by the bench scripts)

ROOT = core.ROOT
PARTS = ("ingest", "sustain", "search", "follow")

TARGET_LINES_PER_S = 300_000
TARGET_SEARCHABLE_S = 1.0
TARGET_SEARCH_P50_MS = 20.0
TARGET_FOLLOW_P99_MS = 50.0
# The sustain part paces its relay at --sustain-rate (default: the target) on a schedule; the
# achieved rate, L ÷ the relay's write time, ends a hair below the schedule when the relay's
# last write wakes up late (it sleeps until each write is due). Within this fraction of the
# target the offered rate counts as met.
OFFERED_TOLERANCE = 0.001

BLOCK = 65536  # the `block` producer's burst size, as in the peer benchmark
DROPPED = re.compile(r"^(\d+) log lines were dropped")
REQUEST_ID = re.compile(rb"request_id=(\d+) ")

# The search part's producer is paced by this relay: it reads the producer's stderr and
# writes whole lines to its own stderr, at most RATE lines/s and never more than WINDOW
# lines ahead of what the daemon has stored (it polls the server's tail, which the daemon
# answers from memory), so the daemon's bounded queue (100 000 lines) never overflows and
# every line is stored, however fast or slow the store is.
RELAY_PY = r'''
import json, os, re, subprocess, sys, time, urllib.request
rate, window, url, cmd = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
rid = re.compile(r"request_id=(\d+) ")

def stored():
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            data = json.load(r)["data"]
    except (OSError, ValueError, KeyError):
        return -1
    ids = [int(m.group(1)) for x in data for m in [rid.search(x["message"])] if m]
    return max(ids) + 1 if ids else 0

p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
fd, t0, n, rest, done, waits = p.stderr.fileno(), time.monotonic(), 0, b"", 0, 0
while True:
    chunk = os.read(fd, 16384)
    if not chunk:
        break
    data = rest + chunk
    cut = data.rfind(b"\n") + 1
    out, rest = memoryview(data[:cut]), data[cut:]
    while out:
        out = out[os.write(2, out):]
    n += chunk.count(b"\n")
    if n - done > window:
        done = max(done, stored())
        give_up = time.monotonic() + 120
        while n - done > window // 2 and time.monotonic() < give_up:
            waits += 1
            time.sleep(0.02)
            done = max(done, stored())
    wait = t0 + n / rate - time.monotonic()
    if wait > 0:
        time.sleep(wait)
if rest:
    os.write(2, rest)
sys.exit(p.wait())
'''


# The sustain part's server: an open-loop pacing relay. It runs the producer, reads its
# stderr 16 KiB at a time and writes the whole lines to its own stderr (the daemon's pipe)
# on a fixed schedule, RATE lines/s on the monotonic clock (the chunk that starts with line
# n is written at t0 + n/RATE, t0 = the first chunk), never waiting for the store. Every
# write(2) is recorded: its start and end (CLOCK_REALTIME ns), the lines written once it
# returned, and how late it started against the schedule (s). At the end it writes the
# records to a file (a JSON header, then one line per write) and exits with the producer's
# code.
SUSTAIN_RELAY_PY = r'''
import json, os, resource, subprocess, sys, time
rate, records, cmd = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
fd, n, rest, t0, rec = p.stderr.fileno(), 0, b"", None, []
mono, real, read, write, sleep = time.monotonic, time.time_ns, os.read, os.write, time.sleep
while True:
    chunk = read(fd, 16384)
    if not chunk:
        break
    data = rest + chunk
    cut = data.rfind(b"\n") + 1
    if not cut:
        rest = data
        continue
    out, rest = memoryview(data)[:cut], data[cut:]
    if t0 is None:
        t0 = mono()
    due = t0 + n / rate
    wait = due - mono()
    if wait > 0:
        sleep(wait)
    late = mono() - due
    ts = real()
    while out:
        out = out[write(2, out):]
    n += data.count(b"\n")
    rec.append((ts, real(), n, late))
if rest:
    write(2, rest)
code = p.wait()
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
head = {"exit": code, "lines": n, "rate": rate, "writes": len(rec),
        "relay_cpu_s": me.ru_utime + me.ru_stime, "producer_cpu_s": kids.ru_utime + kids.ru_stime}
with open(records + ".tmp", "w") as f:
    f.write(json.dumps(head) + "\n")
    f.writelines(f"{a} {b} {c} {d:.6f}\n" for a, b, c, d in rec)
os.replace(records + ".tmp", records)
sys.exit(code)
'''


# The follow part's server: one write(2) per line on stderr at a fixed rate, each line
# carrying its own write time. It does not speak MCP (the daemon waits for `initialize`
# until start_timeout_secs; the lines are captured meanwhile).
FOLLOW_PY = r'''
import os, sys, time
rate, secs = float(sys.argv[1]), float(sys.argv[2])
n = int(rate * secs)
pad = " detail=" + "lorem ipsum " * 8
time.sleep(0.3)
start = time.monotonic()
for i in range(n):
    wait = start + i / rate - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    os.write(2, f"INFO follow seq={i} t_ns={time.time_ns()}{pad}\n".encode())
os.write(2, f"INFO follow done lines={n}\n".encode())
time.sleep(0.5)
'''


def log(msg: str) -> None:
    print(f"[logs] {msg}", file=sys.stderr, flush=True)


def proc_cpu_s(pid: int) -> float:
    """utime + stime of one process (all its threads, not its children), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    rest = data[data.rindex(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_s() -> tuple[float, float, float]:
    """From the first line of /proc/stat, in CPU-seconds since boot: busy (user, nice,
    system, irq, softirq), idle (idle, iowait), and steal."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    hz = os.sysconf("SC_CLK_TCK")
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / hz, (v[3] + v[4]) / hz, v[7] / hz


def read_stamp(path: Path, timeout: float) -> tuple[int, int]:
    """The producer's first- and last-write times (ns, CLOCK_REALTIME); spew writes the file
    when it has finished."""
    deadline = now() + timeout
    while True:
        try:
            parts = path.read_text().split()
            if len(parts) == 2:
                return int(parts[0]), int(parts[1])
        except OSError:
            pass
        if now() > deadline:
            raise BenchError(f"the producer wrote no stamp file {path} within {timeout:.0f} s")
        time.sleep(0.01)


# --------------------------------------------------------------------------- mcpload


# --------------------------------------------------------------------------- daemon helpers


class TimedClient:
    """GETs over one keep-alive connection (TCP_NODELAY), timed from just before the request
    is written to the last byte of the body (JSON parsing excluded)."""

    def __init__(self, port: int, timeout: float):
        self.port, self.timeout = port, timeout
        self.conn = None
        self.reconnects = 0

    def get(self, path: str) -> tuple[float, int, bytes]:
        for attempt in (1, 2):
            fresh = self.conn is None
            if fresh:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                self.conn.connect()
                self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t0 = now()
            try:
                self.conn.request("GET", path, headers={"Accept": "application/json"})
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                # The server closes a keep-alive connection that stayed idle (e.g. during the
                # export): one retry on a new connection, timed from its own start.
                self.conn.close()
                self.conn = None
                self.reconnects += 1
                if fresh or attempt == 2:
                    raise BenchError(f"GET {path}: {e!r}") from e
            except (http.client.HTTPException, OSError) as e:
                self.conn.close()
                self.conn = None
                raise BenchError(f"GET {path}: {e!r}") from e
        took = now() - t0
        if resp.getheader("connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
            self.reconnects += 1
        return took, resp.status, raw

    def json(self, path: str) -> dict:
        _, status, raw = self.get(path)
        if status != 200:
            raise BenchError(f"GET {path}: HTTP {status}: {raw[:400]!r}")
        return json.loads(raw)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def search_path(name: str, **params) -> str:
    return f"/api/servers/{name}/logs/search?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


def stream_export(port: int, name: str, timeout: float, **params):
    """Yields the lines of `GET …/logs/export?format=ndjson&…` as they stream in."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", f"/api/servers/{name}/logs/export?"
                     + urllib.parse.urlencode({"format": "ndjson", **params}))
        resp = conn.getresponse()
        if resp.status != 200:
            raise BenchError(f"export of {name}: HTTP {resp.status}: {resp.read()[:400]!r}")
        rest = b""
        while True:
            chunk = resp.read(1 << 20)
            if not chunk:
                break
            data = rest + chunk
            lines = data.split(b"\n")
            rest = lines.pop()
            yield from lines
        if rest.strip():
            yield rest
    finally:
        conn.close()


def system_lines(port: int, name: str, timeout: float) -> list[dict]:
    return [json.loads(line) for line in stream_export(port, name, timeout, source="system")]


def ours_left(tmp: Path) -> list[int]:
    """Processes whose command line names this run's temp dir (producers, relays, drains)."""
    needle = str(tmp)
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and needle in core.cmdline(int(entry)):
            found.append(int(entry))
    return found


# --------------------------------------------------------------------------- part 1: ingest


def spew_args(L: int, mode: str) -> list[str]:
    return ["spew", "--lines", str(L)] + (["--block", str(BLOCK)] if mode == "block" else [])


def ingest_direct(mcpload: Path, L: int, mode: str, d: Path, expect_bytes: int, timeout: float) -> dict:
    """The producer's stderr is a file: no reader at all (the producer's own limit)."""
    stamp, out = d / "stamp", d / "direct.out"
    stamp.unlink(missing_ok=True)
    with open(out, "wb") as f:
        subprocess.run([str(mcpload)] + spew_args(L, mode) + ["--stamp", str(stamp)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=f, timeout=timeout, check=True)
    s, e = read_stamp(stamp, timeout)
    size = out.stat().st_size
    out.unlink()
    return {"lines_per_s": L / ((e - s) / 1e9), "ingest_s": (e - s) / 1e9, "producer_s": (e - s) / 1e9,
            "reader_cpu_s": 0.0, "complete": size == expect_bytes}


def ingest_raw(mcpload: Path, L: int, mode: str, d: Path, expect_bytes: int, timeout: float) -> dict:
    """`mcpload drain`: the child's stderr pipe read line by line into a buffered file."""
    stamp, out = d / "stamp", d / "raw.out"
    stamp.unlink(missing_ok=True)
    r = subprocess.run([str(mcpload), "drain", "--mode", "lines", "--max-secs", str(int(timeout)), "--out", str(out),
                        "--", str(mcpload)] + spew_args(L, mode) + ["--stamp", str(stamp)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout + 30)
    if r.returncode != 0:
        raise BenchError(f"mcpload drain failed ({r.returncode}): {r.stderr[-500:]}")
    o = json.loads(r.stdout)
    s, e = read_stamp(stamp, timeout)
    size = out.stat().st_size
    out.unlink()
    took = (o["end_ns"] - s) / 1e9
    return {"lines_per_s": L / took, "ingest_s": took, "producer_s": (e - s) / 1e9, "reader_cpu_s": o["cpu_s"],
            "complete": o["lines"] == L and size == expect_bytes}


def ingest_daemon(binary: Path, mcpload: Path, L: int, mode: str, d: Path, ref: list[bytes], args) -> dict:
    """A fresh daemon; one server whose command is the producer. Timed from the producer's
    first write until the last line is found by search; then every stored line is checked."""
    timeout, poll_s = args.timeout, args.poll_ms / 1000.0
    stamp = d / "stamp"
    stamp.unlink(missing_ok=True)
    daemon = core.Daemon(binary, d, timeout)
    api = core.Api(daemon.port, timeout)
    client = TimedClient(daemon.port, timeout)
    rec: dict = {}
    try:
        body = {"name": "spew", "command": str(mcpload), "args": spew_args(L, mode) + ["--stamp", str(stamp)],
                "start": True, "restart_policy": "never", "start_timeout_secs": 3600}
        last_q = search_path("spew", q=f'"request_id={L - 1}"', source="stderr", limit=5)
        tail_q = "/api/servers/spew/logs?limit=20"
        rss_idle = daemon.rss_kb()
        cpu0 = proc_cpu_s(daemon.pid)
        api.call("POST", "/api/servers", body, expect=(201,))
        deadline = now() + timeout
        found_ns = None
        progress: list[tuple[int, int]] = []  # (time ns, newest stored request_id)
        polls = 0
        while found_ns is None:
            if now() > deadline:
                raise BenchError(f"ingest[{mode}]: the last line (request_id={L - 1}) was not searchable within "
                                 f"{timeout:.0f} s; newest stored: {progress[-1:] or 'none'}")
            polls += 1
            page = client.json(last_q)
            if page["data"]:
                found_ns = time.time_ns()
                break
            page = client.json(tail_q)
            t = time.time_ns()
            ids = [int(m.group(1)) for e in page["data"] if e.get("source") == "stderr"
                   for m in [REQUEST_ID.search(e["message"].encode())] if m]
            if ids:
                progress.append((t, max(ids)))
            time.sleep(poll_s)
        cpu1 = proc_cpu_s(daemon.pid)
        hwm = daemon.rss_kb("VmHWM")
        s, e = read_stamp(stamp, timeout)
        # Wait for the producer's exit to be recorded, so that every `system` line is in.
        status = None
        while now() < deadline:
            status = api.call("GET", "/api/servers/spew")["data"]["status"]
            if status not in ("starting", "running", "stopping"):
                break
            time.sleep(0.05)
        time.sleep(0.3)
        # Every stored stderr line, compared with what the producer wrote.
        stored, bad, out_of_order, prev = 0, 0, 0, -1
        seen = set()
        for raw in stream_export(daemon.port, "spew", timeout, source="stderr"):
            entry = json.loads(raw)
            msg = entry["message"].encode()
            m = REQUEST_ID.search(msg)
            rid = int(m.group(1)) if m else -1
            stored += 1
            if not (0 <= rid < L) or ref[rid] != msg or rid in seen:
                bad += 1
            seen.add(rid)
            if rid <= prev:
                out_of_order += 1
            prev = rid
        sys_lines = system_lines(daemon.port, "spew", timeout)
        dropped = sum(int(m.group(1)) for x in sys_lines for m in [DROPPED.match(x["message"])] if m)
        took = (found_ns - s) / 1e9
        # Lag of each sampled newest line, with its write time interpolated over the
        # producer's run (an estimate: it assumes an even pace).
        lags = [(t - (s + (e - s) * k / max(1, L - 1))) / 1e9 for t, k in progress]
        rec.update({
            "lines_per_s": L / took,
            "stored_per_s": stored / took,
            "ingest_s": took,
            "producer_s": (e - s) / 1e9,
            "searchable_lag_s": (found_ns - e) / 1e9,
            "max_lag_est_s": max(lags + [(found_ns - e) / 1e9]),
            "daemon_cpu_s": cpu1 - cpu0,
            "cpu_s_per_100k": (cpu1 - cpu0) / L * 100_000,
            "rss_idle_mb": core.mb(rss_idle),
            "peak_rss_mb": core.mb(hwm),
            "stored": stored,
            "dropped": dropped,
            "lost": L - stored - dropped,
            "bad_lines": bad,
            "out_of_order": out_of_order,
            "complete": stored == L and bad == 0,
            "final_status": status,
            "system_lines": len(sys_lines),
            "system_messages": sorted({re.sub(r"\d+(\.\d+)?", "N", x["message"].replace(str(mcpload), "MCPLOAD"))[:100]
                                       for x in sys_lines}),
            "polls": polls,
        })
        if not daemon.alive():
            raise BenchError("the daemon exited during the run")
    except BenchError as e:
        raise BenchError(f"{e}\n  daemon pid {daemon.pid}; stderr:{daemon.log_tail(20)}") from e
    finally:
        client.close()
        api.close()
        rec["daemon_exit"] = common.stop_daemon(daemon, f"ingest[{mode}]", log)
        if not args.keep:
            shutil.rmtree(d / "data", ignore_errors=True)
    return rec


def ingest_part(args, binary: Path, mcpload: Path, tmp: Path) -> dict:
    L = args.lines
    d = tmp / "ingest"
    d.mkdir()
    # The producer's exact output (the same for both modes): the reference for the stored lines.
    ref_path = d / "reference.log"
    with open(ref_path, "wb") as f:
        subprocess.run([str(mcpload), "spew", "--lines", str(L)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=f, timeout=args.timeout, check=True)
    data = ref_path.read_bytes()
    ref_path.unlink()
    expect_bytes = len(data)
    ref = data.split(b"\n")
    del data
    if ref[-1] == b"":
        ref.pop()
    if len(ref) != L or any(int(REQUEST_ID.search(ref[i]).group(1)) != i for i in (0, L // 2, L - 1)):
        raise BenchError(f"mcpload spew --lines {L} wrote {len(ref)} lines, or not numbered 0..L-1")
    log(f"ingest: {L} lines, {expect_bytes / 1e6:.1f} MB per run; rounds 0 (warm-up) .. {args.rounds}")
    rng = random.Random(args.seed)
    targets = [(path, mode) for mode in ("line", "block") for path in ("direct-file", "raw-pipe", "daemon")]
    records = []
    for rnd in range(args.rounds + 1):
        order = targets[:]
        rng.shuffle(order)
        log(f"ingest round {rnd}/{args.rounds}{' (warm-up)' if rnd == 0 else ''}: "
            + ", ".join(f"{p}[{m}]" for p, m in order))
        for path, mode in order:
            run_dir = d / f"r{rnd}-{path}-{mode}"
            run_dir.mkdir()
            if path == "direct-file":
                r = ingest_direct(mcpload, L, mode, run_dir, expect_bytes, args.timeout)
            elif path == "raw-pipe":
                r = ingest_raw(mcpload, L, mode, run_dir, expect_bytes, args.timeout)
            else:
                r = ingest_daemon(binary, mcpload, L, mode, run_dir, ref, args)
            r.update({"path": path, "mode": mode, "round": rnd})
            if path == "daemon":
                log(f"  daemon[{mode}]: {num(r['lines_per_s'])} lines/s (L ÷ time), {num(r['stored_per_s'])} stored "
                    f"lines/s; last line searchable {r['ingest_s']:.2f} s after the first write, "
                    f"{r['searchable_lag_s']:.2f} s after the producer's end; producer {r['producer_s']:.2f} s; "
                    f"stored {r['stored']}, dropped {r['dropped']}, lost {r['lost']}, bad {r['bad_lines']}; "
                    f"CPU {r['daemon_cpu_s']:.2f} s; peak RSS {r['peak_rss_mb']:.1f} MB")
            else:
                log(f"  {path}[{mode}]: {num(r['lines_per_s'])} lines/s, producer {r['producer_s']:.3f} s, "
                    f"complete {r['complete']}")
            if rnd > 0:
                records.append(r)
    summary = {}
    for path, mode in targets:
        rs = [r for r in records if r["path"] == path and r["mode"] == mode]
        s = {"runs": len(rs), "complete_runs": sum(1 for r in rs if r["complete"])}
        for key in ("lines_per_s", "stored_per_s", "ingest_s", "producer_s", "searchable_lag_s", "max_lag_est_s",
                    "cpu_s_per_100k", "reader_cpu_s", "peak_rss_mb", "stored", "dropped", "lost", "bad_lines",
                    "out_of_order"):
            vals = [r[key] for r in rs if r.get(key) is not None]
            if vals:
                s[key] = statistics.median(vals)
                s[key + "_min"], s[key + "_max"] = min(vals), max(vals)
        summary[f"{path}/{mode}"] = s
    problems = sorted({p for r in records if r["path"] == "daemon" for p in r["daemon_exit"]["first_problems"]})
    statuses = sorted({str(r.get("final_status")) for r in records if r["path"] == "daemon"})
    messages = sorted({m for r in records if r["path"] == "daemon" for m in r["system_messages"]})
    return {"lines": L, "bytes": expect_bytes, "rounds": args.rounds, "records": records, "summary": summary,
            "daemon_problems": problems[:10], "final_statuses": statuses, "system_messages": messages,
            "left": sum(r["daemon_exit"]["left_after_exit"] for r in records if r["path"] == "daemon"),
            "exit_codes": sorted({r["daemon_exit"]["code"] for r in records if r["path"] == "daemon"})}


# --------------------------------------------------------------------------- part 2: sustain


def read_relay_records(path: Path, deadline: float) -> tuple[dict, list[int], list[int], list[int], list[float]]:
    """The sustain relay's records (it writes the file when the producer has ended): its
    header, and per write(2) the start and end (ns, CLOCK_REALTIME), the lines written once
    it returned, and how late it started against the schedule (s)."""
    while not path.exists():
        if now() > deadline:
            raise BenchError(f"sustain: the relay wrote no records file {path}")
        time.sleep(0.02)
    with open(path) as f:
        head = json.loads(f.readline())
        starts, ends, after, late = [], [], [], []
        for line in f:
            a, b, c, d = line.split()
            starts.append(int(a))
            ends.append(int(b))
            after.append(int(c))
            late.append(float(d))
    if not after:
        raise BenchError(f"sustain: the relay recorded no write ({head})")
    return head, starts, ends, after, late


def sustain_part(args, binary: Path, mcpload: Path, tmp: Path) -> dict:
    """A steady offered load, open loop: L = rate × secs lines through the pacing relay into a
    fresh daemon; the newest stored line's age sampled all along; then every line counted."""
    rate, secs = args.sustain_rate, args.sustain_secs
    L = int(rate * secs)
    d = tmp / "sustain"
    d.mkdir()
    relay, records, stamp = d / "relay.py", d / "relay-records.txt", d / "stamp"
    relay.write_text(SUSTAIN_RELAY_PY)
    # L lines of ~190 B are more than the default per-server cap of 50 MB (1.5 M lines are
    # ~285 MB): the cap is raised as in the search part, so that no retention run cuts them.
    wrapper = d / "mcp-manager-wrapper.sh"
    wrapper.write_text(f'#!/bin/sh\nexec "{binary}" "$@" --log-max-mb 100000\n')
    wrapper.chmod(0o755)
    python = shutil.which("python3") or sys.executable
    poll_s = args.poll_ms / 1000.0
    out: dict = {"rate": rate, "secs": secs, "lines": L, "poll_ms": args.poll_ms,
                 "daemon_flags": "--log-max-mb 100000", "load_before": os.getloadavg()}
    daemon = core.Daemon(wrapper, d, args.timeout)
    api = core.Api(daemon.port, args.timeout)
    client = TimedClient(daemon.port, args.timeout)
    try:
        tail_q = "/api/servers/sustain/logs?limit=20"
        last_q = search_path("sustain", q=f'"request_id={L - 1}"', source="stderr", limit=5)
        rss_idle = daemon.rss_kb()
        cpu0 = proc_cpu_s(daemon.pid)
        mach0, self0, t0 = machine_cpu_s(), time.process_time(), now()
        log(f"sustain: {num(L)} lines offered at {num(rate)} lines/s for {secs:g} s (open loop), the newest stored "
            f"line sampled every {args.poll_ms:g} ms")
        api.call("POST", "/api/servers", {
            "name": "sustain", "command": python,
            "args": [str(relay), str(rate), str(records), str(mcpload)] + spew_args(L, "block")
            + ["--stamp", str(stamp)],
            "start": True, "restart_policy": "never", "start_timeout_secs": 3600}, expect=(201,))
        deadline = now() + secs * 2 + args.timeout
        samples: list[tuple[int, int, int]] = []  # (before the GET, after it: ns CLOCK_REALTIME; newest request_id)
        found_ns = search_ns = None
        polls = searches = 0
        relay_done = False
        while True:
            if now() > deadline:
                raise BenchError(f"sustain: the last line (request_id={L - 1}) was not searchable within "
                                 f"{secs * 2 + args.timeout:.0f} s; newest stored: {samples[-1:] or 'none'}")
            polls += 1
            t_b = time.time_ns()
            page = client.json(tail_q)
            t_a = time.time_ns()
            ids = [int(m.group(1)) for e in page["data"] if e.get("source") == "stderr"
                   for m in [REQUEST_ID.search(e["message"].encode())] if m]
            if ids:
                samples.append((t_b, t_a, max(ids)))
            # Once the relay has written everything (its records file) or the tail shows the
            # last line, the search for the last line is polled too.
            if not relay_done and records.exists():
                relay_done = True
                with open(records) as f:
                    head = json.loads(f.readline())
                if head["lines"] != L:
                    raise BenchError(f"sustain: the relay ended after {head['lines']} of {L} lines ({head})")
            if relay_done or (ids and max(ids) >= L - 1):
                searches += 1
                t_s = time.time_ns()
                if client.json(last_q)["data"]:
                    found_ns, search_ns = time.time_ns(), t_s
                    break
            elif polls % 200 == 0:
                # About once a second: a relay that ended without its records file broke.
                status = api.call("GET", "/api/servers/sustain")["data"]["status"]
                if status not in ("starting", "running", "stopping") and not records.exists():
                    msgs = [x["message"] for x in system_lines(daemon.port, "sustain", args.timeout)]
                    raise BenchError(f"sustain: the relay ended (status {status}) before writing every line: "
                                     f"{msgs[-3:]}")
            time.sleep(poll_s)
        cpu1 = proc_cpu_s(daemon.pid)
        mach1, self1, t1 = machine_cpu_s(), time.process_time(), now()
        hwm = daemon.rss_kb("VmHWM")
        # Wait for the relay's exit to be recorded, so that every `system` line is in.
        status = None
        while now() < deadline:
            status = api.call("GET", "/api/servers/sustain")["data"]["status"]
            if status not in ("starting", "running", "stopping"):
                break
            time.sleep(0.05)
        time.sleep(0.3)
        head, starts, ends, after, late = read_relay_records(records, deadline)
        if head["lines"] != L or after[-1] != L:
            raise BenchError(f"sustain: the relay wrote {head['lines']} lines, not {L} ({head})")

        def written_ns(k: int) -> int:
            """When line k was offered: the start of the write(2) that carried it."""
            return starts[bisect.bisect_right(after, k)]

        # Lags: each sample's time (after its answer) − the write time of the newest line it
        # showed, up to the first sample that shows the last line (after that the last line
        # only ages: its lag is measured by the search below).
        lags, rtts, t_first = [], [], starts[0]
        series = []
        for t_b, t_a, k in samples:
            if not 0 <= k < L:
                continue
            lag = (t_a - written_ns(k)) / NS
            lags.append(lag)
            rtts.append(ms((t_a - t_b) / NS))
            series.append((round((t_a - t_first) / NS, 4), k, round(lag * 1000, 2)))
            if k == L - 1:
                break
        # Every stored stderr line, once and in order?
        present = bytearray(L)
        stored = dup = out_of_order = other = 0
        prev = -1
        for raw in stream_export(daemon.port, "sustain", args.timeout, source="stderr"):
            m = REQUEST_ID.search(raw)
            rid = int(m.group(1)) if m else -1
            stored += 1
            if not 0 <= rid < L:
                other += 1
                continue
            if present[rid]:
                dup += 1
            present[rid] = 1
            if rid <= prev:
                out_of_order += 1
            prev = rid
        sys_lines = system_lines(daemon.port, "sustain", args.timeout)
        dropped = sum(int(m.group(1)) for x in sys_lines for m in [DROPPED.match(x["message"])] if m)
        unique = sum(present)
        write_s = (ends[-1] - starts[0]) / NS
        scheduled_s = (after[-2] if len(after) > 1 else 0) / rate  # when the last write was due
        write_durs = [(b - a) / NS for a, b in zip(starts, ends)]
        # A 16 KiB write into a pipe with room takes microseconds; one of over 1 ms waited for
        # the reader (a full pipe) or was preempted.
        held = [x for x in write_durs if x > 0.001]
        try:
            s0, e0 = read_stamp(stamp, 1.0)
            producer_s = (e0 - s0) / NS
        except BenchError:
            producer_s = None
        out.update({
            "offered_per_s": L / write_s,
            "write_s": write_s,
            "scheduled_s": scheduled_s,
            "behind_s": write_s - scheduled_s,
            "late_ms": dist([ms(x) for x in late]),
            "writes": len(starts),
            "in_write_s": sum(write_durs),
            "held_writes": len(held),
            "held_s": sum(held),
            "max_write_ms": ms(max(write_durs)),
            "relay_cpu_s": head["relay_cpu_s"],
            "producer_cpu_s": head["producer_cpu_s"],
            "producer_s": producer_s,
            "relay_exit": head["exit"],
            "lag_ms": dist([ms(x) for x in lags]),
            "lag_samples": len(lags),
            "lag_series": series,  # (s since the first write, newest request_id, lag ms)
            "poll_rtt_ms": dist(rtts),
            "last_searchable_s": (found_ns - written_ns(L - 1)) / NS,
            "last_search_rtt_ms": ms((found_ns - search_ns) / NS),
            "last_after_relay_end_s": (found_ns - ends[-1]) / NS,
            "polls": polls,
            "searches": searches,
            "stored": stored,
            "unique": unique,
            "duplicates": dup,
            "out_of_order": out_of_order,
            "other_lines": other,
            "dropped": dropped,
            "lost": L - unique - dropped,
            "daemon_cpu_s": cpu1 - cpu0,
            "cpu_s_per_100k": (cpu1 - cpu0) / L * 100_000,
            "rss_idle_mb": core.mb(rss_idle),
            "peak_rss_mb": core.mb(hwm),
            # CPU-seconds of the whole machine from the POST to the last line found, and the
            # part of it no process of this part accounts for (other work on the machine).
            "run_wall_s": t1 - t0,
            "machine_busy_s": mach1[0] - mach0[0],
            "machine_idle_s": mach1[1] - mach0[1],
            "machine_steal_s": mach1[2] - mach0[2],
            "script_cpu_s": self1 - self0,
            "other_cpu_s": (mach1[0] - mach0[0]) - (cpu1 - cpu0) - head["relay_cpu_s"] - head["producer_cpu_s"]
            - (self1 - self0),
            "final_status": status,
            "system_messages": sorted({re.sub(r"\d+(\.\d+)?", "N", x["message"].replace(str(d), "DIR")
                                              .replace(str(mcpload), "MCPLOAD").replace(str(python), "PYTHON"))[:100]
                                       for x in sys_lines}),
        })
        # The verdicts. An offered rate below the target is the relay's failure, not the
        # daemon's, unless the relay was held in write(2) (a full pipe: the daemon's reader
        # fell behind).
        ok_rate = out["offered_per_s"] >= TARGET_LINES_PER_S * (1 - OFFERED_TOLERANCE)
        if ok_rate:
            why = None
        elif rate < TARGET_LINES_PER_S:
            why = f"--sustain-rate {num(rate)} is below the target"
        elif out["held_s"] >= 0.5 * out["behind_s"]:
            why = (f"the relay was {out['behind_s']:.3f} s behind schedule at the end and spent {out['held_s']:.3f} s "
                   f"in writes held over 1 ms: a full pipe, the daemon's reader fell behind (a daemon result)")
        else:
            why = (f"the relay could not keep the pace ({out['behind_s']:.3f} s behind schedule at the end, only "
                   f"{out['held_s']:.3f} s of it in held writes): a measurement failure, not a daemon result")
        lag_max = out["lag_ms"].get("max")
        out["targets"] = {
            "offered": {"pass": ok_rate, "why": why},
            "dropped": {"pass": dropped == 0 and out["lost"] == 0},
            "lag": {"pass": lag_max is not None and lag_max < TARGET_SEARCHABLE_S * 1000},
            "last": {"pass": out["last_searchable_s"] < TARGET_SEARCHABLE_S},
        }
        lg = out["lag_ms"]
        log(f"sustain: offered {num(out['offered_per_s'])} lines/s over {write_s:.2f} s (schedule {scheduled_s:.2f} s; "
            f"start late p99 {out['late_ms']['p99']:.2f} ms, max {out['late_ms']['max']:.2f} ms; "
            f"{out['in_write_s']:.2f} s in write(2), {out['held_writes']} writes over 1 ms, longest "
            f"{out['max_write_ms']:.1f} ms); "
            f"stored {stored} ({unique} distinct), dropped {dropped}, lost {out['lost']}, out of order {out_of_order}; "
            f"lag over {len(lags)} samples p50 {f1(lg.get('p50'))}, p99 {f1(lg.get('p99'))}, max {f1(lg.get('max'))}; "
            f"last line searchable {out['last_searchable_s'] * 1000:.0f} ms after its write; "
            f"daemon CPU {out['daemon_cpu_s']:.2f} s ({out['cpu_s_per_100k']:.3f} s / 100k lines), peak RSS "
            f"{out['peak_rss_mb']:.1f} MB; relay CPU {out['relay_cpu_s']:.2f} s, producer {out['producer_cpu_s']:.2f} s; "
            f"machine busy {out['machine_busy_s']:.2f} of {out['run_wall_s'] * core.machine_info()['nproc']:.2f} "
            f"CPU-s, ≈ other processes {out['other_cpu_s']:.2f} s"
            + (f"; offered rate MISS: {why}" if why else ""))
        if not daemon.alive():
            raise BenchError("the daemon exited during the run")
    except BenchError as e:
        raise BenchError(f"{e}\n  daemon pid {daemon.pid}; stderr:{daemon.log_tail(20)}") from e
    finally:
        client.close()
        api.close()
        out["daemon_exit"] = common.stop_daemon(daemon, "sustain", log)
        left = ours_left(d)
        out["left_after_exit"] = len(left)
        for pid in left:  # the relay and the producer name this part's dir
            log(f"sustain: killing left-over pid {pid}: {core.cmdline(pid)}")
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        out["load_after"] = os.getloadavg()
        if not args.keep:
            shutil.rmtree(d / "data", ignore_errors=True)
    return out


# --------------------------------------------------------------------------- part 3: search


def search_part(args, binary: Path, mcpload: Path, tmp: Path) -> dict:
    N = args.search_lines
    d = tmp / "search"
    d.mkdir()
    relay = d / "relay.py"
    relay.write_text(RELAY_PY)
    # 1M lines of this producer are ~190 MB of text, above the default per-server cap of
    # 50 MB that the hourly retention enforces (it also runs at start). The cap is raised so
    # that no retention run can cut the table during the part.
    wrapper = d / "mcp-manager-wrapper.sh"
    wrapper.write_text(f'#!/bin/sh\nexec "{binary}" "$@" --log-max-mb 100000\n')
    wrapper.chmod(0o755)
    python = shutil.which("python3") or sys.executable
    daemon = core.Daemon(wrapper, d, args.timeout)
    api = core.Api(daemon.port, args.timeout)
    client = TimedClient(daemon.port, args.timeout)
    out: dict = {"lines": N, "fill_rate": args.fill_rate, "fill_window": args.fill_window,
                 "daemon_flags": "--log-max-mb 100000"}
    try:
        # Fill: one producer of N lines, paced by the relay.
        t0 = now()
        cpu0 = proc_cpu_s(daemon.pid)
        api.call("POST", "/api/servers", {
            "name": "search", "command": python,
            "args": [str(relay), str(args.fill_rate), str(args.fill_window),
                     f"http://127.0.0.1:{daemon.port}/api/servers/search/logs?limit=20",
                     str(mcpload)] + spew_args(N, "block"),
            "start": True, "restart_policy": "never", "start_timeout_secs": 3600}, expect=(201,))
        deadline = now() + N / args.fill_rate * 2 + args.timeout
        last_q = search_path("search", q=f'"request_id={N - 1}"', source="stderr", limit=5)
        log(f"search: filling {N} lines at ≤ {num(args.fill_rate)} lines/s, ≤ {num(args.fill_window)} lines ahead "
            f"of the store")
        db = d / "data" / "mcp-manager.db"

        def file_mb(path: Path) -> float:
            try:
                return path.stat().st_size / 1e6
            except OSError:
                return 0.0

        # Progress: (seconds since the POST, newest stored request id, db MB, WAL MB), every 0.2 s.
        progress: list[tuple[float, int, float, float]] = []
        while True:
            if client.json(last_q)["data"]:
                break
            if now() > deadline:
                raise BenchError(f"search: the last of {N} lines was not stored within {deadline - t0:.0f} s")
            ids = [int(m.group(1)) for e in client.json("/api/servers/search/logs?limit=20")["data"]
                   for m in [REQUEST_ID.search(e["message"].encode())] if m]
            if ids:
                progress.append((now() - t0, max(ids), file_mb(db), file_mb(Path(str(db) + "-wal"))))
            time.sleep(0.2)
        out["fill_s"] = now() - t0
        out["fill_cpu_s"] = proc_cpu_s(daemon.pid) - cpu0
        progress.append((out["fill_s"], N - 1, file_mb(db), file_mb(Path(str(db) + "-wal"))))
        out["fill_progress"] = progress
        # Store rate per tenth of the lines: time between the first samples at or past each boundary.
        # The first tenth starts at the POST (it includes the spawn).
        tenths, prev_t, prev_k = [], 0.0, 0
        for i in range(1, 11):
            k = min(N - 1, N * i // 10)
            hit = next(((t, kk) for t, kk, _, _ in progress if kk >= k), None)
            if hit and hit[0] > prev_t:
                tenths.append((hit[1] - prev_k) / (hit[0] - prev_t))
                prev_t, prev_k = hit
        out["fill_rate_by_tenth"] = tenths
        while now() < deadline and api.call("GET", "/api/servers/search")["data"]["status"] in ("starting", "running"):
            time.sleep(0.1)
        time.sleep(0.3)
        # Count what is stored, through the streamed export (timed, for information).
        t1 = now()
        present = bytearray(N)  # which request ids are stored
        stored = 0
        for raw in stream_export(daemon.port, "search", args.timeout, source="stderr"):
            stored += 1
            m = REQUEST_ID.search(raw)
            if m and int(m.group(1)) < N:
                present[int(m.group(1))] = 1
        out["export_s"] = now() - t1
        out["stored"] = stored
        sys_lines = system_lines(daemon.port, "search", args.timeout)
        out["dropped"] = sum(int(m.group(1)) for x in sys_lines for m in [DROPPED.match(x["message"])] if m)
        out["system_lines"] = len(sys_lines)
        out["rss_after_fill_mb"] = core.mb(daemon.rss_kb())
        out["db_mb"], out["wal_mb"] = file_mb(db), file_mb(Path(str(db) + "-wal"))
        out["wal_max_mb"] = max([w for _, _, _, w in progress] + [out["wal_mb"]])
        log(f"search: filled in {out['fill_s']:.1f} s; stored {stored} stderr lines (dropped {out['dropped']}); "
            f"export of them took {out['export_s']:.1f} s; db {out['db_mb']:.0f} MB + WAL {out['wal_mb']:.0f} MB; "
            f"store rate by tenth (lines/s): {', '.join(num(x) for x in out['fill_rate_by_tenth'])}")

        # Landmarks for the since and cursor queries.
        def line_of(rid: int) -> dict | None:
            data = client.json(search_path("search", q=f'"request_id={rid}"', source="stderr"))["data"]
            return data[0] if data else None

        def first_stored(k: int) -> int:
            while k < N - 1 and not present[k]:
                k += 1
            return k

        since_line = line_of(first_stored(int(N * 0.9)))
        mid_line = line_of(first_stored(N // 2))
        newest = line_of(N - 1)
        if not (since_line and mid_line and newest):
            raise BenchError("search: the landmark lines (request_id 0.9·N, N/2, N−1) are not all found")
        since = since_line["timestamp"]
        since_ns = parse_ns(since)
        cursor = mid_line["id"]
        rng = random.Random(args.seed)
        rare_ids = [first_stored(rng.randrange(N)) for _ in range(args.n + 1)]
        kinds = [
            ("word", "common word `q=request` (every line)", {"q": "request"}),
            ("rare", "rare token `q=request_id=K` (1 line)", None),
            ("phrase", "phrase `q=\"tool call finished\"&limit=50`", {"q": '"tool call finished"', "limit": 50}),
            ("prefix", "prefix `q=retry*`", {"q": "retry*"}),
            ("level", "word + level `q=request&level=warn`", {"q": "request", "level": "warn"}),
            ("source", "word + source `q=request&source=stderr`", {"q": "request", "source": "stderr"}),
            ("since", "word + time `q=request&since=T` (newest 10 %)", {"q": "request", "since": since}),
            ("cursor", "word + cursor `q=request&cursor=C` (a page in the middle)", {"q": "request", "cursor": cursor}),
            ("filter", "filters only `level=warn&source=stderr`", {"level": "warn", "source": "stderr"}),
        ]
        labels = {k: label for k, label, _ in kinds}
        rare_k = iter(rare_ids)

        def request(kind: str, params):
            if kind == "rare":
                k = next(rare_k)
                params = {"q": f"request_id={k}"}
            else:
                k = None
            took, status, raw = client.get(search_path("search", **params))
            problem = check(kind, params, k, status, raw)
            return took, len(raw), problem

        def check(kind: str, params: dict, k, status: int, raw: bytes) -> str | None:
            if status != 200:
                return f"HTTP {status}: {raw[:200]!r}"
            try:
                page = json.loads(raw)
                data, nxt = page["data"], page["next_cursor"]
            except (ValueError, KeyError, TypeError) as e:
                return f"not a page: {e}"
            limit = params.get("limit", 200)
            ids = [x["id"] for x in data]
            if len(data) > limit:
                return f"{len(data)} lines for limit {limit}"
            if ids != sorted(ids) or len(set(ids)) != len(ids):
                return "lines not oldest first"
            if kind == "rare":
                want = f"request_id={k} ".encode()
                if len(data) != 1 or want not in data[0]["message"].encode() or nxt is not None:
                    return f"request_id={k}: {len(data)} lines, next_cursor {nxt}"
                return None
            # Every other kind matches far more than one page.
            if len(data) != limit or nxt != ids[0]:
                return f"{len(data)} lines (limit {limit}), next_cursor {nxt} (first id {ids[:1]})"
            for x in data:
                text = x["message"]
                if "q" in params and params["q"] == "request" and "request" not in text:
                    return f"line {x['id']} lacks 'request'"
                if kind == "phrase" and "tool call finished" not in text:
                    return f"line {x['id']} lacks the phrase"
                if kind == "prefix" and not re.search(r"(?i)\bretry", text):
                    return f"line {x['id']} has no word starting with 'retry'"
                if "level" in params and x["level"] not in ("warn", "error"):
                    return f"line {x['id']} has level {x['level']}"
                if "source" in params and x["source"] != "stderr":
                    return f"line {x['id']} has source {x['source']}"
                if kind == "since" and parse_ns(x["timestamp"]) < since_ns:
                    return f"line {x['id']} is older than since"
                if kind == "cursor" and x["id"] >= cursor:
                    return f"line {x['id']} is not older than the cursor"
            if kind == "word" and data[-1]["id"] != newest["id"]:
                return "the newest line is not the last of the first page"
            return None

        cold, results = {}, {k: [] for k, _, _ in kinds}
        sizes, problems = {k: [] for k, _, _ in kinds}, []
        checked = {k: 0 for k, _, _ in kinds}
        for kind, _, params in kinds:  # one unmeasured first request of each kind
            took, size, problem = request(kind, params)
            cold[kind] = ms(took)
            if problem:
                problems.append(f"{kind} (first): {problem}")
            else:
                checked[kind] += 1
        log(f"search: first request of each kind (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in cold.items()))
        t_end = now() + max(args.timeout, 600)
        for i in range(args.n):
            kind, _, params = kinds[i % len(kinds)]
            took, size, problem = request(kind, params)
            results[kind].append(ms(took))
            sizes[kind].append(size)
            if problem:
                problems.append(f"{kind}: {problem}")
            else:
                checked[kind] += 1
            if now() > t_end:
                log(f"search: stopped after {i + 1} requests (time bound)")
                break
        allv = [v for vs in results.values() for v in vs]
        out.update({
            "n": sum(len(v) for v in results.values()),
            "since": since,
            "cursor": cursor,
            "labels": labels,
            "kinds": {k: {"dist": dist(results[k]), "cold_ms": cold[k], "checked": checked[k],
                          "requests": len(results[k]) + 1,
                          "body_kb": statistics.median(sizes[k]) / 1000 if sizes[k] else None,
                          "samples_ms": [round(v, 3) for v in results[k]]} for k in results},
            "overall": dist(allv),
            "problems": problems[:20],
            "problem_count": len(problems),
            "rss_end_mb": core.mb(daemon.rss_kb()),
            "peak_rss_mb": core.mb(daemon.rss_kb("VmHWM")),
            "reconnects": client.reconnects,
        })
        o = out["overall"]
        log(f"search: {o['n']} requests: p50 {o['p50']:.1f} ms, p95 {o['p95']:.1f} ms, p99 {o['p99']:.1f} ms, "
            f"max {o['max']:.1f} ms; {len(problems)} answers did not check out")
    except BenchError as e:
        raise BenchError(f"{e}\n  daemon pid {daemon.pid}; stderr:{daemon.log_tail(20)}") from e
    finally:
        client.close()
        api.close()
        out["daemon_exit"] = common.stop_daemon(daemon, "search", log)
        if not args.keep:
            shutil.rmtree(d / "data", ignore_errors=True)
    return out


# --------------------------------------------------------------------------- part 4: follow


def follow_part(args, binary: Path, tmp: Path) -> dict:
    d = tmp / "follow"
    d.mkdir()
    script = d / "follow.py"
    script.write_text(FOLLOW_PY)
    python = shutil.which("python3") or sys.executable
    expected = int(args.follow_rate * args.follow_secs)
    daemon = core.Daemon(binary, d, args.timeout)
    api = core.Api(daemon.port, args.timeout)
    ws = None
    out: dict = {"rate": args.follow_rate, "secs": args.follow_secs, "expected": expected}
    try:
        server = api.call("POST", "/api/servers", {
            "name": "follow", "command": python, "args": [str(script), str(args.follow_rate), str(args.follow_secs)],
            "restart_policy": "never", "start_timeout_secs": 3600}, expect=(201,))["data"]
        sid = server["id"]
        ws = core.WebSocket("127.0.0.1", daemon.port, "/api/events", args.timeout)
        cond = threading.Condition()
        got: list[tuple[int, int, int, int]] = []  # (seq, write ns, daemon timestamp ns, arrival ns)
        state = {"events": 0, "lagged": 0, "other_server": 0, "done": False, "error": None, "batch_sizes": [],
                 "kinds": {}}

        def reader():
            try:
                while True:
                    text, _ = ws.recv_text()
                    arrived = time.time_ns()
                    msg = json.loads(text)
                    kind = msg.get("type")
                    with cond:
                        state["kinds"][kind] = state["kinds"].get(kind, 0) + 1
                        if kind == "lagged":
                            state["lagged"] += 1
                        elif kind == "logs:new":
                            data = msg.get("data") or {}
                            state["events"] += 1
                            if data.get("server_id") != sid:
                                state["other_server"] += 1
                                continue
                            state["batch_sizes"].append(len(data.get("lines") or []))
                            for line in data.get("lines") or []:
                                m = re.search(r"follow seq=(\d+) t_ns=(\d+)", line["message"])
                                if m:
                                    got.append((int(m.group(1)), int(m.group(2)), parse_ns(line["timestamp"]), arrived))
                                elif "follow done" in line["message"]:
                                    state["done"] = True
                        cond.notify_all()
            except (EOFError, OSError, ValueError, BenchError) as e:
                with cond:
                    state["error"] = str(e)
                    cond.notify_all()

        threading.Thread(target=reader, name="follow-ws", daemon=True).start()
        ws.send_frame(0x1, json.dumps({"type": "subscribe_logs", "servers": [sid]}).encode())
        time.sleep(0.3)  # the subscription has no acknowledgement
        cpu0 = proc_cpu_s(daemon.pid)
        api.call("POST", "/api/servers/follow/start", expect=(202,))
        log(f"follow: {expected} lines at {args.follow_rate:.0f} lines/s, {args.follow_secs:.0f} s")
        deadline = now() + args.follow_secs + args.timeout
        with cond:
            while not state["done"] and not state["error"]:
                left = deadline - now()
                if left <= 0:
                    break
                cond.wait(left)
            lines = list(got)
            st = dict(state)
        out["daemon_cpu_s"] = proc_cpu_s(daemon.pid) - cpu0
        if st["error"] and not st["done"]:
            raise BenchError(f"follow: event stream ended: {st['error']}")
        if not st["done"]:
            log(f"follow: the last line did not arrive within {args.follow_secs + args.timeout:.0f} s")
        lat = [(a - w) / 1e6 for _, w, _, a in lines]
        capture = [(t - w) / 1e6 for _, w, t, _ in lines]
        deliver = [(a - t) / 1e6 for _, _, t, a in lines]
        seqs = [s for s, _, _, _ in lines]
        sizes = st["batch_sizes"]
        out.update({
            "received": len(lines),
            "done_seen": st["done"],
            "in_order": seqs == sorted(seqs) and len(set(seqs)) == len(seqs),
            "missing": expected - len(set(seqs)),
            "latency_ms": dist(lat),
            "capture_ms": dist(capture),
            "delivery_ms": dist(deliver),
            "events": st["events"],
            "lines_per_event": statistics.fmean(sizes) if sizes else None,
            "lagged": st["lagged"],
            "other_server": st["other_server"],
            "kinds": st["kinds"],
        })
        lt = out["latency_ms"]
        if lt.get("n"):
            log(f"follow: {len(lines)}/{expected} lines: latency p50 {lt['p50']:.2f} ms, p99 {lt['p99']:.2f} ms, "
                f"max {lt['max']:.2f} ms")
    except BenchError as e:
        raise BenchError(f"{e}\n  daemon pid {daemon.pid}; stderr:{daemon.log_tail(20)}") from e
    finally:
        if ws is not None:
            ws.close()
        api.close()
        out["daemon_exit"] = common.stop_daemon(daemon, "follow", log)
        if not args.keep:
            shutil.rmtree(d / "data", ignore_errors=True)
    return out


# --------------------------------------------------------------------------- report


def report(result: dict) -> str:
    m = result["machine"]
    la = lambda t: " ".join(f"{x:.2f}" for x in t)  # noqa: E731
    out = [
        f"## mcp-manager logs benchmark ({', '.join(result['parts'])}), {result['date']}",
        "",
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['mem_total_mb']} MB RAM, Linux {m['kernel']}, Python {m['python']}",
        f"- load average before: {la(result['load_before'])}; after: {la(result['load_after'])}",
        f"- binary: {result['binary']['path']} ({result['binary']['size_bytes'] / 1e6:.1f} MB, built "
        f"{result['binary']['mtime']}), copied to the temp dir before the run; repo HEAD when run: {result['git']}",
        f"- producer: mcpload {result['mcpload']}",
        f"- run time: {result.get('run_s', 0):.0f} s",
    ]
    ing, su = result.get("ingest"), result.get("sustain")
    se, fo = result.get("search"), result.get("follow")
    ok = lambda p: "pass" if p else "MISS"  # noqa: E731
    # Headline figures next to their targets.
    out += ["", "| metric | value | target |", "| --- | --- | --- |"]
    if ing:
        for mode, label in (("line", "1 write/line"), ("block", "64 KiB blocks")):
            s, raw = ing["summary"][f"daemon/{mode}"], ing["summary"][f"raw-pipe/{mode}"]
            out.append(f"| Ingest into the store, {label}: stored lines ÷ time to the last line searchable (median) | "
                       f"**{num(s.get('stored_per_s'))} lines/s** (L ÷ that time: {num(s.get('lines_per_s'))}; raw pipe "
                       f"drain: {num(raw.get('lines_per_s'))}) | ≥ {num(TARGET_LINES_PER_S)} lines/s |")
            out.append(f"| ↳ lines dropped by the daemon, of {num(ing['lines'])} (median; min–max) | "
                       f"{num(s.get('dropped'))} ({num(s.get('dropped_min'))}–{num(s.get('dropped_max'))}); "
                       f"runs with every line stored and byte-exact: {s['complete_runs']} of {s['runs']} | 0 |")
            out.append(f"| ↳ last line searchable after the producer's end (median; max) | "
                       f"{f1(s.get('searchable_lag_s'), ' s', 2)}; {f1(s.get('searchable_lag_s_max'), ' s', 2)} | "
                       f"< {TARGET_SEARCHABLE_S:.0f} s |")
    if su:
        tg, lg = su["targets"], su["lag_ms"]
        out.append(f"| Sustained ingest, open loop ({num(su['lines'])} lines offered at {num(su['rate'])} lines/s for "
                   f"{su['secs']:g} s): offered rate achieved | **{num(su['offered_per_s'])} lines/s** | "
                   f"≥ {num(TARGET_LINES_PER_S)} lines/s: {ok(tg['offered']['pass'])}"
                   + (f" ({tg['offered']['why']})" if tg["offered"]["why"] else "") + " |")
        out.append(f"| ↳ lines dropped by the daemon (lost) | **{num(su['dropped'])}** ({num(su['lost'])}) | "
                   f"0: {ok(tg['dropped']['pass'])} |")
        out.append(f"| ↳ age of the newest stored line, sampled every {su['poll_ms']:g} ms: max (p50, p99) | "
                   f"**{f1(lg.get('max'), ' ms', 0)}** ({f1(lg.get('p50'), ' ms', 0)}, {f1(lg.get('p99'), ' ms', 0)}) | "
                   f"< {TARGET_SEARCHABLE_S:.0f} s: {ok(tg['lag']['pass'])} |")
        out.append(f"| ↳ last line searchable after its write | **{f1(su['last_searchable_s'] * 1000, ' ms', 0)}** | "
                   f"< {TARGET_SEARCHABLE_S:.0f} s: {ok(tg['last']['pass'])} |")
    if se:
        o = se["overall"]
        out.append(f"| Search over {num(se['stored'])} stored lines, all kinds, p50 (p99) | **{f1(o.get('p50'))}** "
                   f"({f1(o.get('p99'))}) | p50 < {TARGET_SEARCH_P50_MS:.0f} ms |")
    if fo:
        lt = fo["latency_ms"]
        out.append(f"| `logs -f`: child's write → `logs:new` frame at the WebSocket client, p99 (p50) | "
                   f"**{f1(lt.get('p99'), ' ms', 2)}** ({f1(lt.get('p50'), ' ms', 2)}) | p99 < {TARGET_FOLLOW_P99_MS:.0f} ms |")
    if ing:
        out += ["", f"### Ingest: {num(ing['lines'])} stderr lines ({ing['bytes'] / 1e6:.1f} MB) per run",
                "",
                f"- {ing['rounds']} rounds (+1 warm-up, discarded), every path and producer mode once per round in a "
                f"shuffled order; medians over rounds (min–max for lines/s).",
                "- time = from the producer's first write (its stamp) until: direct-file, its last write; raw-pipe, "
                "`mcpload drain` has written every line; daemon, `GET …/logs/search?q=\"request_id=L-1\"` first "
                "returns the last line (polled every few ms).",
                "- daemon CPU: utime+stime of the daemon pid from the POST that creates and starts the server to the "
                "last line found, per 100 000 lines written. Peak RSS: VmHWM of that (fresh) daemon.",
                "",
                "| producer writes | path | lines/s (L ÷ time) | min–max | stored lines/s | time s | producer s | "
                "lag after the producer's end s (est. max lag s) | CPU s / 100k lines | peak RSS MB | stored | "
                "dropped | lost | exact runs |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for mode, label in (("line", "1 write/line"), ("block", "64 KiB blocks")):
            for path in ("direct-file", "raw-pipe", "daemon"):
                s = ing["summary"][f"{path}/{mode}"]
                dm = path == "daemon"
                cpu = s.get("cpu_s_per_100k") if dm else (None if path == "direct-file" else
                                                           (s.get("reader_cpu_s") or 0) / ing["lines"] * 100_000)
                out.append(
                    f"| {label} | {path} | {num(s.get('lines_per_s'))} | {num(s.get('lines_per_s_min'))}–"
                    f"{num(s.get('lines_per_s_max'))} | {num(s.get('stored_per_s')) if dm else '–'} | "
                    f"{f1(s.get('ingest_s'), '', 3)} | {f1(s.get('producer_s'), '', 3)} | "
                    + (f"{f1(s.get('searchable_lag_s'), '', 2)} ({f1(s.get('max_lag_est_s'), '', 2)})" if dm else "–")
                    + f" | {f1(cpu, '', 3)} | {f1(s.get('peak_rss_mb'), '', 1) if dm else '–'} | "
                    f"{num(s.get('stored')) if dm else '–'} | {num(s.get('dropped')) if dm else '–'} | "
                    f"{num(s.get('lost')) if dm else '–'} | {s['complete_runs']}/{s['runs']} |")
        out += ["",
                "- est. max lag: the newest stored line was sampled between the polls (`GET …/logs?limit=20`); each "
                "sample's lag is its arrival minus the line's write time interpolated over the producer's run "
                "(assumes an even pace). An estimate; the last line's lag is exact.",
                f"- daemon runs: final server status {', '.join(ing['final_statuses'])}; daemon exit codes "
                f"{ing['exit_codes']}; marked processes left after exit: {ing['left']}; "
                f"every stored line compared with the producer's output: "
                f"{sum(r['bad_lines'] for r in ing['records'] if r['path'] == 'daemon')} differed, "
                f"{sum(r['out_of_order'] for r in ing['records'] if r['path'] == 'daemon')} out of order.",
                f"- `system` lines seen: {'; '.join(f'`{x}`' for x in ing['system_messages'])}"]
        if ing["daemon_problems"]:
            out += ["", "ERROR/WARN lines of the daemons:", ""] + [f"    {x}" for x in ing["daemon_problems"]]
    if su:
        lg, lt, rt = su["lag_ms"], su["late_ms"], su["poll_rtt_ms"]
        la = lambda t: " ".join(f"{x:.2f}" for x in t)  # noqa: E731
        out += ["", f"### Sustain: {num(su['lines'])} lines offered at {num(su['rate'])} lines/s for {su['secs']:g} s",
                "",
                f"- producer: `mcpload spew --lines {su['lines']} --block {BLOCK}` through a pacing relay as the "
                f"server's command, open loop: the relay writes the lines on a fixed schedule (monotonic clock), "
                f"whole lines, 16 KiB at a time, and never waits for the store. It records every write(2) (start, "
                f"end: CLOCK_REALTIME), so each line's write time is measured: the start of the write that carried it. "
                f"A fresh daemon, run with `{su['daemon_flags']}`.",
                f"- lag: every {su['poll_ms']:g} ms `GET …/logs?limit=20` (the newest stored lines, from memory; a line "
                f"is there once its batch is committed); lag = the answer's arrival − the write time of the newest "
                f"`request_id` in it, up to the first answer that shows the last line. Then "
                f"`GET …/logs/search?q=\"request_id=L-1\"&source=stderr` until it is found.",
                f"- offered rate: L ÷ (end of the relay's last write − start of its first); it counts as met within "
                f"{OFFERED_TOLERANCE * 100:g} % of the target (the relay's last write may wake up a little late).",
                "- a dropped line is never searchable: the lag rows are about the stored lines, and hold for every "
                "line only with 0 dropped.",
                "",
                "| figure | value |",
                "| --- | --- |",
                f"| offered rate achieved | {num(su['offered_per_s'])} lines/s over {su['write_s']:.3f} s (schedule "
                f"{su['scheduled_s']:.3f} s) |",
                f"| relay: write started late vs the schedule, p50 / p99 / max | {f1(lt.get('p50'), ' ms', 2)} / "
                f"{f1(lt.get('p99'), ' ms', 2)} / {f1(lt.get('max'), ' ms', 2)} ({num(su['writes'])} writes) |",
                f"| relay: time in write(2); writes over 1 ms (a full pipe or preempted); longest | {su['in_write_s']:.3f} s; "
                f"{su['held_writes']} ({su['held_s']:.3f} s); {su['max_write_ms']:.1f} ms |",
                f"| relay CPU; producer CPU (its own run) | {su['relay_cpu_s']:.2f} s; {su['producer_cpu_s']:.2f} s "
                f"({f1(su['producer_s'], ' s', 2)}) |",
                f"| stored (distinct), dropped, lost | {num(su['stored'])} ({num(su['unique'])}), {num(su['dropped'])}, "
                f"{num(su['lost'])} |",
                f"| duplicates, out of order, lines without a request_id | {su['duplicates']}, {su['out_of_order']}, "
                f"{su['other_lines']} |",
                f"| lag of the newest stored line, {su['lag_samples']} samples: p50 / p95 / p99 / max | "
                f"{f1(lg.get('p50'))} / {f1(lg.get('p95'))} / {f1(lg.get('p99'))} / {f1(lg.get('max'))} |",
                f"| ↳ included: the poll's round trip, p50 / max | {f1(rt.get('p50'))} / {f1(rt.get('max'))} |",
                f"| last line searchable after its write (after the relay's last write ended) | "
                f"{f1(su['last_searchable_s'] * 1000)} ({f1(su['last_after_relay_end_s'] * 1000)}) |",
                f"| daemon CPU from the POST to the last line found; per 100 000 lines | {su['daemon_cpu_s']:.2f} s; "
                f"{su['cpu_s_per_100k']:.3f} s |",
                f"| daemon RSS idle; peak (VmHWM) | {su['rss_idle_mb']:.1f} MB; {su['peak_rss_mb']:.1f} MB |",
                f"| CPU-seconds from the POST to the last line found ({su['run_wall_s']:.2f} s): machine busy; daemon; "
                f"relay + producer; this script; ≈ other processes (busy − these; /proc/stat counts in ticks, so "
                f"± a few tenths); idle; steal | {su['machine_busy_s']:.2f}; "
                f"{su['daemon_cpu_s']:.2f}; {su['relay_cpu_s'] + su['producer_cpu_s']:.2f}; {su['script_cpu_s']:.2f}; "
                f"**{su['other_cpu_s']:.2f}**; {su['machine_idle_s']:.2f}; {su['machine_steal_s']:.2f} |",
                f"| load average before; after the part | {la(su['load_before'])}; {la(su['load_after'])} |",
                "",
                f"- final server status {su['final_status']}; `system` lines seen: "
                f"{'; '.join(f'`{x}`' for x in su['system_messages'])}"]
        if su["targets"]["offered"]["why"]:
            out += ["", f"**The offered rate was not met:** {su['targets']['offered']['why']}."]
    if se:
        out += ["", f"### Search over {num(se['stored'])} stored lines of one server",
                "",
                f"- fill: `mcpload spew --lines {se['lines']} --block {BLOCK}` through a relay (at ≤ "
                f"{num(se['fill_rate'])} lines/s and ≤ {num(se['fill_window'])} lines ahead of the store) as the "
                f"server's command: {se['fill_s']:.1f} s (daemon CPU "
                f"{se['fill_cpu_s']:.1f} s); stored {num(se['stored'])} stderr lines, dropped {num(se['dropped'])}; "
                f"database {se['db_mb']:.0f} MB + WAL {se['wal_mb']:.0f} MB (WAL at most {se['wal_max_mb']:.0f} MB during the "
                f"fill); the daemon ran with `{se['daemon_flags']}`.",
                f"- store rate during the fill, per tenth of the lines (lines/s): "
                f"{', '.join(num(x) for x in se['fill_rate_by_tenth'])}.",
                f"- export of all {num(se['stored'])} lines (ndjson, streamed): {se['export_s']:.1f} s. Daemon RSS "
                f"after the fill {se['rss_after_fill_mb']:.1f} MB, at the end {se['rss_end_mb']:.1f} MB, peak "
                f"{se['peak_rss_mb']:.1f} MB.",
                f"- {se['n']} timed requests, the kinds in turn, on one keep-alive connection; client-measured "
                f"(request written → last body byte). The first request of each kind is shown apart (cold).",
                "",
                "| kind | p50 | p95 | p99 | max | first (cold) | body | answers checked |",
                "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for k, v in se["kinds"].items():
            dd = v["dist"]
            out.append(f"| {se['labels'][k]} | {f1(dd.get('p50'))} | {f1(dd.get('p95'))} | {f1(dd.get('p99'))} | "
                       f"{f1(dd.get('max'))} | {f1(v['cold_ms'])} | {f1(v['body_kb'], ' kB')} | "
                       f"{v['checked']}/{v['requests']} |")
        o = se["overall"]
        out.append(f"| **all** | **{f1(o.get('p50'))}** | {f1(o.get('p95'))} | {f1(o.get('p99'))} | {f1(o.get('max'))} "
                   f"| – | – | {sum(v['checked'] for v in se['kinds'].values())}/"
                   f"{sum(v['requests'] for v in se['kinds'].values())} |")
        if se["problems"]:
            out += ["", f"Answers that did not check out ({se['problem_count']}):", ""] + [f"- {x}" for x in se["problems"]]
    if fo:
        lt, cp, dl = fo["latency_ms"], fo["capture_ms"], fo["delivery_ms"]
        out += ["", "### Follow: write → WebSocket `logs:new`",
                "",
                f"- {num(fo['expected'])} lines at {fo['rate']:.0f} lines/s for {fo['secs']:.0f} s, one write(2) per line "
                f"on stderr, each carrying `time.time_ns()` taken just before the write; received "
                f"{num(fo['received'])} (missing {fo['missing']}, in order: {fo['in_order']}), in {fo['events']} "
                f"`logs:new` events ({f1(fo['lines_per_event'], '', 2)} lines each); lagged {fo['lagged']}; lines of "
                f"other servers {fo['other_server']}; daemon CPU {fo['daemon_cpu_s']:.2f} s.",
                "",
                "| latency | p50 | p99 | max |",
                "| --- | --- | --- | --- |",
                f"| child's write → frame received (end to end) | {f1(lt.get('p50'), ' ms', 2)} | "
                f"{f1(lt.get('p99'), ' ms', 2)} | {f1(lt.get('max'), ' ms', 2)} |",
                f"| ↳ write → the daemon's line timestamp (read from the pipe) | {f1(cp.get('p50'), ' ms', 2)} | "
                f"{f1(cp.get('p99'), ' ms', 2)} | {f1(cp.get('max'), ' ms', 2)} |",
                f"| ↳ line timestamp → frame received (queue, store, bus, WebSocket) | {f1(dl.get('p50'), ' ms', 2)} | "
                f"{f1(dl.get('p99'), ' ms', 2)} | {f1(dl.get('max'), ' ms', 2)} |"]
    exits = []
    if su:
        exits.append(("sustain", su["daemon_exit"]))
    if se:
        exits.append(("search", se["daemon_exit"]))
    if fo:
        exits.append(("follow", fo["daemon_exit"]))
    if exits:
        out.append("")
    for label, ex in exits:
        out.append(f"- daemon exit ({label}): code {ex['code']}, SIGTERM → exit {f1(ex['sigterm_to_exit_ms'], ' ms', 0)}, "
                   f"marked processes left {ex['left_after_exit']}; log {ex['log']['ERROR']} ERROR, "
                   f"{ex['log']['WARN']} WARN lines" + (f": `{ex['first_problems'][0]}`" if ex["first_problems"] else ""))
    out.append(f"- processes of this run left at the end: {result.get('left_at_end')}")
    for part, err in (result.get("errors") or {}).items():
        out.append(f"- **part {part} broke** (no figures): {err}")
    return "\n".join(out)


def parse_parts(text: str) -> list[str]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise argparse.ArgumentTypeError(f"unknown part(s) {unknown or text!r}; choose from {', '.join(PARTS)}")
    return [p for p in PARTS if p in parts]


def main() -> int:
    p = argparse.ArgumentParser(description="Log benchmark of the mcp-manager daemon (see docs/benchmarks.md)")
    p.add_argument("--parts", type=parse_parts, default=list(PARTS),
                   help="comma-separated parts: ingest, sustain, search, follow (default: all)")
    p.add_argument("--lines", type=int, default=500_000, help="ingest: lines per run (default 500000)")
    p.add_argument("--rounds", type=int, default=5, help="ingest: measured rounds, plus one warm-up (default 5)")
    p.add_argument("--poll-ms", type=float, default=5.0,
                   help="ingest, sustain: pause between polls of the newest stored line (default 5)")
    p.add_argument("--sustain-rate", type=float, default=300_000,
                   help="sustain: offered lines/s, open loop (default 300000)")
    p.add_argument("--sustain-secs", type=float, default=5.0,
                   help="sustain: seconds of offered load; L = rate × secs lines (default 5)")
    p.add_argument("--n", type=int, default=200, help="search: timed requests over all kinds (default 200)")
    p.add_argument("--search-lines", type=int, default=1_000_000, help="search: stored lines (default 1000000)")
    p.add_argument("--fill-rate", type=float, default=100_000,
                   help="search: at most this many lines/s while the table is filled (default 100000)")
    p.add_argument("--fill-window", type=int, default=40_000,
                   help="search: at most this many lines written ahead of the store while filling (default 40000)")
    p.add_argument("--follow-rate", type=float, default=200, help="follow: lines/s (default 200)")
    p.add_argument("--follow-secs", type=float, default=10, help="follow: seconds of lines (default 10)")
    p.add_argument("--seed", type=int, default=1, help="order of the ingest runs, rare ids of the search (default 1)")
    p.add_argument("--mcpload", help="the mcpload binary (default: built once from --peer-bench into "
                                     f"{CACHE}/mcpload-<hash>)")
    p.add_argument("--peer-bench", default=str(PEER_BENCH), help=f"the peer benchmark (default {PEER_BENCH})")
    p.add_argument("--binary", default=str(core.DEFAULT_BINARY), help="daemon binary (default target/release/mcp-manager)")
    p.add_argument("--json", metavar="FILE", help="also write every figure and sample as JSON to FILE")
    p.add_argument("--timeout", type=float, default=120.0, help="bound of every wait, in seconds (default 120)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (data dirs and daemon logs)")
    args = p.parse_args()
    if min(args.lines, args.n, args.search_lines, int(args.sustain_rate * args.sustain_secs)) < 2 \
            or args.rounds < 1 or min(args.fill_rate, args.follow_rate, args.follow_secs, args.sustain_rate,
                                      args.sustain_secs) <= 0 or args.poll_ms < 0:
        p.error("--lines, --n, --search-lines, --sustain-rate × --sustain-secs must be ≥ 2, --rounds ≥ 1, "
                "rates and durations > 0")

    t_start = now()
    binary = Path(args.binary).resolve()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        print(f"logs: error: no daemon binary at {binary}; build it with: cargo build --release", file=sys.stderr)
        return 1
    st = binary.stat()
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": core.machine_info(),
        "load_before": os.getloadavg(),
        "binary": {"path": str(binary), "size_bytes": st.st_size,
                   "mtime": datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc).isoformat(timespec="seconds")},
        "git": core.git_describe(),
        "parts": args.parts,
        "options": {k: v for k, v in vars(args).items() if k not in ("json",)},
    }
    tmp = Path(tempfile.mkdtemp(prefix="mcp-manager-logs-"))
    log(f"temp dir {tmp}")
    code = 0
    result["errors"] = {}
    try:
        mcpload, result["mcpload"] = common.ensure_mcpload(args.mcpload, args.peer_bench, log)
        # Every daemon of the run starts from this copy: a rebuild of target/release during
        # the run cannot mix two builds.
        copy = tmp / "mcp-manager"
        shutil.copy2(binary, copy)
        for part, fn in (("ingest", lambda: ingest_part(args, copy, mcpload, tmp)),
                         ("sustain", lambda: sustain_part(args, copy, mcpload, tmp)),
                         ("search", lambda: search_part(args, copy, mcpload, tmp)),
                         ("follow", lambda: follow_part(args, copy, tmp))):
            if part not in args.parts:
                continue
            try:
                result[part] = fn()
            except (BenchError, subprocess.SubprocessError, OSError, ValueError, KeyError) as e:
                # The run of this part broke: say so, go on with the other parts, exit 1.
                print(f"logs: error in part {part}: {e}", file=sys.stderr)
                result["errors"][part] = str(e).splitlines()[0][:500]
                code = 1
    except (BenchError, subprocess.SubprocessError, OSError) as e:
        print(f"logs: error: {e}", file=sys.stderr)
        result["errors"] = {"setup": str(e)}
        code = 1
    finally:
        left = ours_left(tmp)
        result["left_at_end"] = len(left)
        for pid in left:  # they name this run's temp dir: ours
            log(f"killing left-over pid {pid}: {core.cmdline(pid)}")
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    result["load_after"] = os.getloadavg()
    result["run_s"] = now() - t_start
    if "setup" in result["errors"]:
        return code
    print(report(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
