#!/usr/bin/env python3
"""Health benchmark of the mcp-manager daemon (Python 3.11+, standard library only).

Two parts, each against a real release binary in a throw-away data dir:

* `history`: how fast the daemon answers health-history questions over a big table.
  One server `hist` (never started) gets 30 days of checks every 30 s, and 49 other
  servers get the same, written straight into `DATA_DIR/mcp-manager.db` while the
  daemon is stopped (in the exact timestamp format the daemon writes, checked against
  rows it wrote itself). The daemon is restarted on that data dir and N requests of
  each are timed from a keep-alive connection, in two rounds: round 1 on the table that
  grew while the daemon was down (any planner statistics describe the small table),
  round 2 after one more restart, with the statistics round 1's daemon gathered
  (it runs `PRAGMA optimize` at start and after each prune):
    GET /api/servers/hist/health/history?range=7d&buckets=200   (target < 50 ms)
    GET /api/servers/hist/health/summary                         (24h, 7d, 30d)
    GET /api/servers/hist/health/history?range=7d&limit=500      (a raw page)
  Every bucketed answer is checked: 200 buckets whose totals add up to the rows in its
  window.
* `probes`: how well the daemon keeps its probe schedule under load. 200 fixture
  servers run with `health.interval_secs = 5`. Over a window (120 s) the script takes
  the daemon's CPU time from /proc (target < 10 % of one core) and every
  `health:update` event from the WebSocket; per server, the interval between
  consecutive checks' `at` (when each check started) minus 5 s is the drift
  (target p99 < 100 ms).

Figures are measured and printed next to their target; nothing is asserted. The daemon,
its WebSocket client and the REST client come from bench/core.py. Every daemon of a run
starts from a copy of the binary made at the start, so a rebuild during the run cannot
mix two builds.

    cargo build --release && python3 bench/health.py [--parts history,probes]
        [--servers 200] [--interval 5] [--window 120] [--n 50] [--json out.json]

See docs/benchmarks.md, section "Health".
"""

from __future__ import annotations

import argparse
import bisect
import collections
import datetime
import http.client
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import core  # noqa: E402  (bench/core.py: Daemon, Api, WebSocket, EventWatcher, /proc helpers)
from core import BenchError, ms, now  # noqa: E402
from common import NS, dist, f1, parse_ns, pct  # noqa: E402
import common  # noqa: E402  (bench/common.py: helpers shared by the bench scripts)

ROOT = core.ROOT
FIXTURE = core.FIXTURE
PARTS = ("history", "probes")

TARGET_HISTORY_MS = 50.0
TARGET_DRIFT_P99_MS = 100.0
TARGET_CPU_PERCENT = 10.0

CHECK_EVERY_S = 30  # the synthetic history: one check every 30 s per server
RETENTION_DAYS = 30  # the daemon's default --health-retention-days (pruned at start, then hourly)


def log(msg: str) -> None:
    print(f"[health] {msg}", file=sys.stderr, flush=True)


def db_text(t_ns: int) -> str:
    """The daemon's text form of a timestamp in SQLite: `YYYY-MM-DD HH:MM:SS.fffffffff`, UTC
    (chrono's `%F %T%.f` as written by Diesel: nanoseconds, since Utc::now() has them)."""
    secs, frac = divmod(t_ns, NS)
    base = datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return f"{base}.{frac:09d}"


def proc_cpu_ticks(pid: int) -> int:
    """utime + stime of one process (its threads included, its children not), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    rest = data[data.rindex(")") + 2:].split()
    return int(rest[11]) + int(rest[12])  # fields 14 and 15 of proc(5)


def proc_threads(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return None


class Watcher(core.EventWatcher):
    """core.EventWatcher (server:status per server, snapshots, lagged) that also keeps every
    `health:update` event with the wall-clock time its frame arrived."""

    def __init__(self, port: int, timeout: float):
        self.health: list[tuple[float, dict]] = []
        self.kinds: collections.Counter = collections.Counter()
        super().__init__(port, timeout)

    def _run(self) -> None:
        try:
            while True:
                text, at = self.ws.recv_text()
                wall = time.time()
                msg = json.loads(text)
                kind = msg.get("type")
                with self.cond:
                    self.kinds[kind] += 1
                    if kind == "health:update":
                        self.health.append((wall, msg.get("data") or {}))
                    elif kind == "server:status":
                        data = dict(msg.get("data") or {}, _ts=msg.get("ts"))
                        self.events += 1
                        self.history.setdefault(data.get("name"), []).append((at, data.get("status"), data))
                    elif kind == "snapshot":
                        self.snapshots += 1
                        for server in (msg.get("data") or {}).get("servers", []):
                            hist = self.history.setdefault(server.get("name"), [])
                            if not hist or hist[-1][1] != server.get("status"):
                                hist.append((at, server.get("status"), {"snapshot": True, "server": server}))
                    elif kind == "lagged":
                        self.lagged += 1
                    self.cond.notify_all()
        except (EOFError, OSError, ValueError) as e:
            with self.cond:
                if not self.closed:
                    self.error = f"event stream ended: {e}"
                self.cond.notify_all()

    def wait_checks(self, name: str, count: int, timeout: float) -> list[dict]:
        deadline = now() + timeout
        with self.cond:
            while True:
                got = [d for _, d in self.health if d.get("name") == name]
                if len(got) >= count:
                    return got
                if self.error:
                    raise BenchError(self.error)
                left = deadline - now()
                if left <= 0:
                    raise BenchError(f"{name}: {len(got)} of {count} health:update events within {timeout:.0f} s")
                self.cond.wait(left)

    def health_since(self, index: int) -> list[tuple[float, dict]]:
        with self.cond:
            return list(self.health[index:])

    def health_count(self) -> int:
        with self.cond:
            return len(self.health)


class TimedClient:
    """GETs over one keep-alive connection, timed from just before the request is written
    to the last byte of the body (JSON parsing excluded)."""

    def __init__(self, port: int, timeout: float):
        self.port, self.timeout = port, timeout
        self.conn = None
        self.reconnects = 0

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def get(self, path: str) -> tuple[float, int, bytes]:
        if self.conn is None:
            self.conn = self._connect()
        t0 = now()
        try:
            self.conn.request("GET", path, headers={"Accept": "application/json"})
            resp = self.conn.getresponse()
            raw = resp.read()
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

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def start_daemon(binary: Path, tmp: Path, timeout: float, run: int) -> core.Daemon:
    """core.Daemon on `tmp/data`; the stderr log of an earlier run on the same dir is kept
    as `daemon-<k>.stderr.log` (core.Daemon truncates `daemon.stderr.log`)."""
    log_path = tmp / "daemon.stderr.log"
    if log_path.exists():
        log_path.rename(tmp / f"daemon-{run - 1}.stderr.log")
    return core.Daemon(binary, tmp, timeout)


# --------------------------------------------------------------------------- part 1: history


def fixture_body(name: str, **extra) -> dict:
    return {"name": name, "command": "python3", "args": [str(FIXTURE)], **extra}


def check_format(db: Path, probe_id: str, probe_events: list[dict]) -> dict:
    """Reads the rows the daemon wrote for the probe server: their text must have the form
    this script writes, and match the `at` of the events for the same checks."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT timestamp, typeof(timestamp) FROM health_metrics WHERE server_id = ? "
                           "ORDER BY id", (probe_id,)).fetchall()
    finally:
        con.close()
    if not rows:
        raise BenchError("the daemon wrote no health_metrics row for the format probe")
    pattern = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9}$")
    bad = [r for r in rows if r[1] != "text" or not pattern.match(r[0])]
    event_texts = {db_text(parse_ns(e["at"])) for e in probe_events if e.get("at")}
    matched = sum(1 for r in rows if r[0] in event_texts)
    if bad or matched == 0:
        raise BenchError(f"the daemon's health_metrics timestamps are not `YYYY-MM-DD HH:MM:SS.fffffffff` text "
                         f"(or do not match the events' `at`): {bad[:3] or rows[:3]}; events: {sorted(event_texts)[:3]}")
    return {"rows": len(rows), "example": rows[0][0], "matched_event_at": matched}


def fill_history(db: Path, hist_id: str, other_ids: list[str], end_ns: int, depth_s: int, seed: int) -> dict:
    """Inserts one check every 30 s per server over `depth_s` seconds up to `end_ns`, in time
    order across servers (so ids grow with time, as when the daemon writes them). Each server
    has its own phase within the 30 s and a few ms of jitter. 2 % of checks are unhealthy
    (no response time, an error message); healthy ones take 0–30 ms, a few 100–400 ms.
    Returns the hist server's timestamps (ns) and statuses, for the checks below."""
    rng = random.Random(seed)
    servers = [hist_id] + other_ids
    phase = {s: rng.randrange(0, CHECK_EVERY_S * NS) for s in servers}
    order = sorted(servers, key=lambda s: phase[s])
    steps = depth_s // CHECK_EVERY_S
    start_ns = end_ns - steps * CHECK_EVERY_S * NS  # every row is after this (+ its phase)
    hist_ts: list[int] = []
    hist_status: list[str] = []

    def rows():
        for k in range(steps):
            base = start_ns + k * CHECK_EVERY_S * NS
            for s in order:
                t = base + phase[s] + rng.randrange(0, 5_000_000)
                if rng.random() < 0.02:
                    status, rt, err = "unhealthy", None, "MCP ping: no answer within 5s"
                else:
                    status, err = "healthy", None
                    rt = rng.randrange(100, 400) if rng.random() < 0.01 else int(rng.expovariate(1 / 4.0)) % 30
                if s == hist_id:
                    hist_ts.append(t)
                    hist_status.append(status)
                yield (s, status, rt, err, db_text(t))

    con = sqlite3.connect(str(db))
    t0 = now()
    try:
        con.execute("PRAGMA synchronous = OFF")
        before = con.execute("SELECT COUNT(*) FROM health_metrics").fetchone()[0]
        with con:  # one transaction
            con.executemany("INSERT INTO health_metrics (server_id, status, response_time, error_message, timestamp) "
                            "VALUES (?, ?, ?, ?, ?)", rows())
        after = con.execute("SELECT COUNT(*) FROM health_metrics").fetchone()[0]
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    return {"inserted": after - before, "rows_total": after, "insert_s": now() - t0, "servers": len(servers),
            "steps": steps, "oldest": db_text(start_ns), "newest": db_text(end_ns),
            "db_mb": db.stat().st_size / 1e6, "hist_ts": hist_ts, "hist_status": hist_status,
            "stat1": stat1_rows(db)}


def count_between(ts: list[int], since: int, until: int) -> int:
    return bisect.bisect_left(ts, until) - bisect.bisect_left(ts, since)


def query_plans(db: Path, hist_id: str) -> dict:
    """EXPLAIN QUERY PLAN of the daemon's two history queries (with Python's SQLite, which may
    be another version than the one linked into the daemon), for information."""
    q_page = ("SELECT id, status, response_time, error_message, timestamp FROM health_metrics "
              "WHERE server_id = ? AND timestamp >= ? AND timestamp < ? AND id > ? ORDER BY id ASC LIMIT ?")
    q_count = ("SELECT COUNT(*), SUM(status = 'healthy') FROM health_metrics "
               "WHERE server_id = ? AND timestamp >= ? AND timestamp < ?")
    q_streak = ("SELECT status FROM health_metrics WHERE server_id = ? AND timestamp >= ? AND timestamp < ? "
                "ORDER BY timestamp DESC, id DESC LIMIT 100000")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        args = (hist_id, "2000-01-01 00:00:00", "2100-01-01 00:00:00")
        return {
            "sqlite_version": sqlite3.sqlite_version,
            "page": [r[3] for r in con.execute("EXPLAIN QUERY PLAN " + q_page, args + (0, 501))],
            "summary": [r[3] for r in con.execute("EXPLAIN QUERY PLAN " + q_count, args)],
            "streak": [r[3] for r in con.execute("EXPLAIN QUERY PLAN " + q_streak, args)],
        }
    finally:
        con.close()


def history_part(args, binary: Path, tmp: Path) -> dict:
    timeout = args.timeout
    work = tmp / "history"
    work.mkdir()
    out: dict = {"n": args.n, "other_servers": args.other_servers, "history_days": args.history_days}

    # 1. A daemon that knows the servers; it writes a few checks of its own for the format check.
    daemon = start_daemon(binary, work, timeout, 1)
    api = core.Api(daemon.port, timeout)
    watcher = Watcher(daemon.port, timeout)
    try:
        hist = api.call("POST", "/api/servers", fixture_body("hist"), expect=(201,))["data"]
        others = [api.call("POST", "/api/servers", fixture_body(f"hist-other-{i:02d}"), expect=(201,))["data"]["id"]
                  for i in range(1, args.other_servers + 1)]
        mark = watcher.mark("fmt-probe")
        probe = api.call("POST", "/api/servers", fixture_body("fmt-probe", health={"interval_secs": 0.2}, start=True),
                         expect=(201,))["data"]
        probe_events = watcher.wait_checks("fmt-probe", 4, timeout)
        mark = watcher.mark("fmt-probe")
        api.call("POST", "/api/servers/fmt-probe/stop", expect=(202,))
        watcher.wait_all({"fmt-probe": mark}, "stopped", timeout, "stopping fmt-probe")
    except BenchError as e:
        raise BenchError(f"{e}\n  daemon stderr:{daemon.log_tail(20)}") from e
    finally:
        watcher.close()
        api.close()
        out["first_daemon"] = common.stop_daemon(daemon, "history, first daemon", log)
    db = daemon.data_dir / "mcp-manager.db"
    out["format"] = check_format(db, probe["id"], probe_events)
    log(f"timestamp format checked on {out['format']['rows']} rows the daemon wrote "
        f"(e.g. {out['format']['example']!r}, {out['format']['matched_event_at']} equal to an event's `at`)")

    # 2. The history, written while the daemon is down. The oldest row stays 10 min inside the
    # retention, so the prune at the next start removes nothing.
    depth_s = int(min(args.history_days * 86400, RETENTION_DAYS * 86400 - 600))
    end_ns = time.time_ns() - NS
    log(f"writing {depth_s / 86400:.2f} days of 30-s checks for {1 + len(others)} servers into {db.name} ...")
    fill = fill_history(db, hist["id"], others, end_ns, depth_s, args.seed)
    hist_ts, hist_status = fill.pop("hist_ts"), fill.pop("hist_status")
    hist_unhealthy_ts = [t for t, s in zip(hist_ts, hist_status) if s == "unhealthy"]
    out["fill"] = fill
    log(f"inserted {fill['inserted']} rows in {fill['insert_s']:.1f} s ({fill['rows_total']} in the table, "
        f"db {fill['db_mb']:.0f} MB); hist has {len(hist_ts)} checks")

    # 3. The same data dir, a new daemon: round 1 with the planner statistics as the first daemon
    # left them (gathered on a near-empty table, if at all). That daemon runs PRAGMA optimize at
    # start and after its prune; round 2 is a third daemon with what it gathered.
    out["stats"] = {"after_insert": fill.pop("stat1")}
    out["rounds"] = []
    for rnd in (1, 2):
        plans = query_plans(db, hist["id"])
        daemon = start_daemon(binary, work, timeout, rnd + 1)
        try:
            res = time_requests(daemon, args.n, timeout, hist_ts, hist_unhealthy_ts)
        except BenchError as e:
            raise BenchError(f"{e}\n  daemon stderr:{daemon.log_tail(20)}") from e
        finally:
            exit_info = common.stop_daemon(daemon, f"history, round {rnd}", log)
        res["daemon_exit"] = exit_info
        res["plans"] = plans
        res["stat1_during"] = out["stats"]["after_insert"] if rnd == 1 else out["stats"]["after_round_1"]
        out["stats"][f"after_round_{rnd}"] = stat1_rows(db)
        out["rounds"].append(res)
        for k, d in res["dist"].items():
            log(f"round {rnd}, {k}: p50 {d['p50']:.1f} ms, p95 {d['p95']:.1f} ms, max {d['max']:.1f} ms "
                f"(first {res['first_ms'][k]:.1f} ms)")
    out["hist_checks"] = len(hist_ts)
    out["daemon_exit"] = out["rounds"][-1]["daemon_exit"]
    return out


def stat1_rows(db: Path) -> list[str]:
    """The planner statistics of health_metrics (`sqlite_stat1`: index, then `rows rows-per-key…`)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        if not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
            return []
        return [f"{idx}: {stat}" for idx, stat in
                con.execute("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'health_metrics' ORDER BY idx")]
    finally:
        con.close()


def time_requests(daemon: core.Daemon, n: int, timeout: float, hist_ts: list[int], hist_unhealthy_ts: list[int]) -> dict:
    """N + 1 requests of each kind, interleaved, on one keep-alive connection; every answer checked."""
    client = TimedClient(daemon.port, timeout)
    endpoints = {
        "buckets": "/api/servers/hist/health/history?range=7d&buckets=200",
        "summary": "/api/servers/hist/health/summary",
        "page": "/api/servers/hist/health/history?range=7d&limit=500",
    }
    times: dict[str, list[float]] = {k: [] for k in endpoints}
    first: dict[str, float] = {}
    sizes: dict[str, int] = {}
    problems: list[str] = []
    checked = {"buckets": 0, "summary": 0, "page": 0}
    example: dict = {}
    try:
        time.sleep(1.0)  # start-up work (the retention prune, the sweep) out of the way
        for i in range(n + 1):
            for key, path in endpoints.items():
                wall0 = time.time_ns()
                took, status, raw = client.get(path)
                wall1 = time.time_ns()
                if status != 200:
                    raise BenchError(f"GET {path}: HTTP {status}: {raw[:300]!r}")
                if i == 0:
                    first[key] = ms(took)  # the first after the restart: cold caches, not in the figures
                else:
                    times[key].append(ms(took))
                sizes[key] = len(raw)
                doc = json.loads(raw)
                if key == "buckets":
                    series = doc["data"]
                    since, until = parse_ns(series["since"]), parse_ns(series["until"])
                    b = series["buckets"]
                    total = sum(x["total"] for x in b)
                    want = count_between(hist_ts, since, until)
                    want_bad = count_between(hist_unhealthy_ts, since, until)
                    bad = sum(x["unhealthy"] for x in b)
                    if len(b) != 200 or total != want or bad != want_bad or \
                            any(x["healthy"] + x["unhealthy"] != x["total"] for x in b):
                        problems.append(f"buckets #{i}: {len(b)} buckets, totals {total} (rows in the window {want}), "
                                        f"unhealthy {bad} (rows {want_bad})")
                    else:
                        checked[key] += 1
                    example["buckets"] = {"buckets": len(b), "total": total, "rows_in_window": want,
                                          "unhealthy": bad, "since": series["since"], "until": series["until"],
                                          "first": b[0], "last": b[-1]}
                elif key == "summary":
                    s = doc["data"]
                    ok = True
                    for name, days in (("24h", 1), ("7d", 7), ("30d", 30)):
                        lo = count_between(hist_ts, wall1 - days * 86400 * NS, wall1)
                        hi = count_between(hist_ts, wall0 - days * 86400 * NS, wall0)
                        got = s.get(name, {}).get("total_checks")
                        if got is None or not (min(lo, hi) <= got <= max(lo, hi)):
                            ok = False
                            problems.append(f"summary #{i}: {name} total_checks {got}, rows in the window {lo}–{hi}")
                    checked[key] += ok
                    example["summary"] = {k: {f: v.get(f) for f in ("total_checks", "unhealthy_checks", "uptime_percent",
                                                                    "avg_response_time_ms", "p95_response_time_ms")}
                                          for k, v in s.items()}
                else:
                    rows = doc["data"]
                    stamps = [parse_ns(r["timestamp"]) for r in rows]
                    lo = wall0 - 7 * 86400 * NS
                    if len(rows) != 500 or doc.get("next_cursor") is None or stamps != sorted(stamps) or \
                            stamps[0] < lo - NS or stamps[-1] > wall1:
                        problems.append(f"page #{i}: {len(rows)} rows, next_cursor {doc.get('next_cursor')}, "
                                        f"first {rows[0]['timestamp'] if rows else None}")
                    else:
                        checked[key] += 1
                    example["page"] = {"rows": len(rows), "next_cursor": doc.get("next_cursor"),
                                       "first": rows[0]["timestamp"] if rows else None,
                                       "last": rows[-1]["timestamp"] if rows else None}
        rss = core.mb(daemon.rss_kb())
    finally:
        client.close()
    return {"times_ms": times, "first_ms": first, "sizes": sizes, "problems": problems, "checked": checked,
            "example": example, "dist": {k: dist(v) for k, v in times.items()}, "endpoints": endpoints,
            "reconnects": client.reconnects, "rss_mb": rss}


# --------------------------------------------------------------------------- part 2: probes


def probes_part(args, binary: Path, tmp: Path) -> dict:
    timeout = args.timeout
    work = tmp / "probes"
    work.mkdir()
    count, interval, window = args.servers, args.interval, args.window
    out: dict = {"servers": count, "interval_s": interval, "window_s": window, "batch": args.batch}
    daemon = start_daemon(binary, work, timeout, 1)
    api = core.Api(daemon.port, timeout)
    watcher = Watcher(daemon.port, timeout)
    hz = os.sysconf("SC_CLK_TCK")
    try:
        names = [f"p-{i:03d}" for i in range(1, count + 1)]
        cpu0, t0 = proc_cpu_ticks(daemon.pid), now()
        for b in range(0, count, args.batch):
            batch = names[b:b + args.batch]
            marks = watcher.marks(batch)
            for name in batch:
                api.call("POST", "/api/servers", fixture_body(name, health={"interval_secs": interval}, start=True),
                         expect=(201,))
            watcher.wait_all(marks, "running", timeout, f"servers {batch[0]}…{batch[-1]}")
            log(f"{b + len(batch)}/{count} running")
        out["start_all_s"] = now() - t0
        out["start_cpu_s"] = (proc_cpu_ticks(daemon.pid) - cpu0) / hz
        children = core.marked_processes(daemon.instance_id)
        out["children"] = len(children)
        settle = args.settle if args.settle is not None else 2 * interval
        log(f"all {count} running after {out['start_all_s']:.1f} s ({len(children)} marked processes); "
            f"settling {settle:.0f} s, then a {window:.0f} s window")
        time.sleep(settle)

        status_marks = watcher.marks(names)
        lagged0 = watcher.lagged
        out["load_window_start"] = os.getloadavg()
        w0, cpu0, m0 = time.time(), proc_cpu_ticks(daemon.pid), now()
        time.sleep(window)
        cpu1, m1, w1 = proc_cpu_ticks(daemon.pid), now(), time.time()
        out["load_window_end"] = os.getloadavg()
        out["rss_mb"] = core.mb(daemon.rss_kb())
        out["threads"] = proc_threads(daemon.pid)
        wall = m1 - m0
        out["window_measured_s"] = wall
        out["cpu_s"] = (cpu1 - cpu0) / hz
        out["cpu_percent"] = 100.0 * out["cpu_s"] / wall
        time.sleep(min(2.0, interval))  # events of checks that started inside the window

        # Checks that started inside the window, by their `at`.
        per_server: dict[str, list[float]] = collections.defaultdict(list)
        delivery, failed, errors = [], 0, collections.Counter()
        checks = 0
        for arrived, d in watcher.health_since(0):
            at = core.parse_ts(d.get("at"))
            if at is None or not (w0 <= at < w1):
                continue
            checks += 1
            per_server[d.get("name")].append(at)
            delivery.append(ms(arrived - at))
            if d.get("status") != "healthy":
                failed += 1
                errors[str(d.get("error"))[:160]] += 1
        intervals, drift = [], []
        for at_list in per_server.values():
            at_list.sort()
            for a, b in zip(at_list, at_list[1:]):
                intervals.append(b - a)
                drift.append(ms(abs(b - a - interval)))
        left_running = {}
        for name, mark in status_marks.items():
            changes = [st for _, st, _ in watcher.history.get(name, [])[mark:]]
            if changes:
                left_running[name] = changes
        out.update({
            "checks": checks,
            "checks_per_s": checks / (w1 - w0),
            "expected_checks": count * (w1 - w0) / interval,
            "servers_checked": len(per_server),
            "failed": failed,
            "errors": errors.most_common(5),
            "intervals": len(intervals),
            "skipped_intervals": sum(1 for x in intervals if x > 1.5 * interval),
            "drift_ms": dist(drift),
            "intervals_s": dist(intervals),
            "delivery_ms": dist(delivery),
            "status_changes_in_window": left_running,
            "lagged_in_window": watcher.lagged - lagged0,
            "events": dict(watcher.kinds),
        })
        d = out["drift_ms"]
        log(f"window {wall:.1f} s: daemon CPU {out['cpu_s']:.2f} s = {out['cpu_percent']:.2f} % of one core; "
            f"{checks} checks ({out['checks_per_s']:.1f}/s, {failed} failed); drift p50 {d.get('p50', 0):.2f} ms, "
            f"p99 {d.get('p99', 0):.2f} ms, max {d.get('max', 0):.2f} ms")
    except BenchError as e:
        alive = "running" if daemon.alive() else f"exited with code {daemon.proc.returncode}"
        raise BenchError(f"{e}\n  daemon pid {daemon.pid} ({alive}); stderr:{daemon.log_tail(25)}") from e
    finally:
        watcher.close()
        api.close()
        out["daemon_exit"] = common.stop_daemon(daemon, "probes", log)
    return out


# --------------------------------------------------------------------------- report


def report(result: dict) -> str:
    m = result["machine"]
    la = lambda t: " ".join(f"{x:.2f}" for x in t)  # noqa: E731
    out = [
        f"## mcp-manager health benchmark ({', '.join(result['parts'])}), {result['date']}",
        "",
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['mem_total_mb']} MB RAM, Linux {m['kernel']}, Python {m['python']}",
        f"- load average before: {la(result['load_before'])}; after: {la(result['load_after'])}",
        f"- binary: {result['binary']['path']} ({result['binary']['size_bytes'] / 1e6:.1f} MB, built "
        f"{result['binary']['mtime']}), repo HEAD when run: {result['git']}",
    ]
    h = result.get("history")
    if h:
        fill = h["fill"]
        out += [
            "",
            "### History queries",
            "",
            f"- table: {fill['rows_total']} rows in `health_metrics` ({fill['servers']} servers × {fill['steps']} checks, "
            f"one every 30 s, {fill['oldest']} → {fill['newest']} UTC; db {fill['db_mb']:.0f} MB, inserted in "
            f"{fill['insert_s']:.1f} s); `hist` has {h['hist_checks']} checks, 2 % unhealthy",
            f"- timestamps written as the daemon writes them, e.g. `{h['format']['example']}` (checked on "
            f"{h['format']['rows']} rows the daemon wrote itself)",
            f"- N = {h['n']} requests of each, interleaved, on one keep-alive connection; client-measured (request "
            f"written → last body byte); the first request of each after the restart is shown apart",
            "- round 1: the daemon restarted on the filled table, with the planner statistics (`sqlite_stat1`) as the "
            "first daemon left them; round 2: the next restart, with the "
            "statistics that round 1's daemon gathered (at start and after its prune) (the script runs no ANALYZE itself)",
            "",
            "| round | request | p50 | p95 | max | first (cold) | body | answers checked | target |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        labels = {"buckets": "`history?range=7d&buckets=200`", "summary": "`summary` (24h, 7d, 30d)",
                  "page": "`history?range=7d&limit=500` (raw page)"}
        for rnd, r in enumerate(h["rounds"], 1):
            d = r["dist"]
            for k in ("buckets", "summary", "page"):
                target = f"< {TARGET_HISTORY_MS:.0f} ms" if k == "buckets" else "–"
                out.append(f"| {rnd} | {labels[k]} | {f1(d[k]['p50'])} | {f1(d[k]['p95'])} | {f1(d[k]['max'])} | "
                           f"{f1(r['first_ms'][k])} | {r['sizes'][k] / 1000:.1f} kB | {r['checked'][k]}/{h['n'] + 1} "
                           f"| {target} |")
        for rnd, r in enumerate(h["rounds"], 1):
            ex = r["example"].get("buckets", {})
            pl = r["plans"]
            out += ["",
                    f"Round {rnd}: statistics of health_metrics in effect: "
                    f"{'; '.join(r['stat1_during']) or 'none'}. Bucketed answer: {ex.get('buckets')} buckets, totals "
                    f"{ex.get('total')} = rows of `hist` in [since, until) {ex.get('rows_in_window')}; unhealthy "
                    f"{ex.get('unhealthy')}. Summary: "
                    + ", ".join(f"{k} {v['total_checks']} checks, uptime {f1(v['uptime_percent'], ' %', 2)}, "
                                f"p95 {v['p95_response_time_ms']} ms" for k, v in sorted(r['example'].get('summary', {}).items()))
                    + f". Plans with these statistics in Python's SQLite {pl['sqlite_version']} (the daemon links its "
                    f"own, newer SQLite; for information): page/window `{'; '.join(pl['page'])}`, summary count "
                    f"`{'; '.join(pl['summary'])}`, streak `{'; '.join(pl['streak'])}`."]
            if r["problems"]:
                out += ["", "Answers that did not check out:", ""] + [f"- {x}" for x in r["problems"][:10]]
    pr = result.get("probes")
    if pr:
        d, iv, dl = pr["drift_ms"], pr["intervals_s"], pr["delivery_ms"]
        out += [
            "",
            "### Probe scheduling under load",
            "",
            f"- {pr['servers']} fixture servers, `health.interval_secs = {pr['interval_s']}`; all running after "
            f"{pr['start_all_s']:.1f} s (batches of {pr['batch']}), {pr['children']} marked processes",
            f"- window {pr['window_measured_s']:.1f} s; load average at its start {la(pr['load_window_start'])}, "
            f"at its end {la(pr['load_window_end'])}",
            "",
            "| metric | value | target |",
            "| --- | --- | --- |",
            f"| Daemon CPU over the window (utime+stime of the daemon pid ÷ window) | {pr['cpu_percent']:.2f} % of one core "
            f"({pr['cpu_s']:.2f} s) | < {TARGET_CPU_PERCENT:.0f} % |",
            f"| Check-start drift \\|Δat − {pr['interval_s']} s\\|, p50 | {f1(d.get('p50'), ' ms', 2)} | – |",
            f"| Check-start drift, p99 | {f1(d.get('p99'), ' ms', 2)} | < {TARGET_DRIFT_P99_MS:.0f} ms |",
            f"| Check-start drift, max | {f1(d.get('max'), ' ms', 2)} | – |",
            f"| ↳ intervals measured (servers); shortest, longest | {pr['intervals']} ({pr['servers_checked']}); "
            f"{f1(iv.get('min'), ' s', 4)}, {f1(iv.get('max'), ' s', 4)} | – |",
            f"| ↳ intervals > 1.5 × interval (a skipped check) | {pr['skipped_intervals']} | 0 |",
            f"| Checks started in the window | {pr['checks']} ({pr['checks_per_s']:.1f}/s; expected "
            f"{pr['expected_checks']:.0f}) | – |",
            f"| ↳ of which unhealthy | {pr['failed']} | 0 |",
            f"| ↳ check start (`at`) → event received, p50 / p99 | {f1(dl.get('p50'), ' ms', 2)} / "
            f"{f1(dl.get('p99'), ' ms', 2)} | – |",
            f"| Daemon RSS at the window's end; threads | {pr['rss_mb']:.1f} MB; {pr['threads']} | – |",
            f"| Daemon CPU while starting the {pr['servers']} servers | {pr['start_cpu_s']:.2f} s | – |",
        ]
        if pr["errors"]:
            out += ["", "Errors of the unhealthy checks:", ""] + [f"- {n}× `{e}`" for e, n in pr["errors"]]
        if pr["status_changes_in_window"]:
            out += ["", f"Status changes during the window: {json.dumps(pr['status_changes_in_window'])[:600]}"]
        out += ["", f"Events received: {json.dumps(pr['events'])}; `lagged` in the window: {pr['lagged_in_window']}."]
    exits = []
    if h:
        exits += [("history, first daemon", h["first_daemon"])]
        exits += [(f"history, round {i}", r["daemon_exit"]) for i, r in enumerate(h["rounds"], 1)]
    if pr:
        exits += [("probes", pr["daemon_exit"])]
    for label, ex in exits:
        took = ex.get("sigterm_to_exit_ms")
        out += ["", f"Daemon exit ({label}): code {ex['code']}, SIGTERM → exit {f1(took, ' ms', 0)}, marked processes "
                    f"left after exit: {ex['left_after_exit']}. Log: {ex['log']['ERROR']} ERROR, {ex['log']['WARN']} WARN lines."]
        if ex.get("first_problems"):
            out += [""] + [f"    {line}" for line in ex["first_problems"]]
    return "\n".join(out)


def parse_parts(text: str) -> list[str]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise argparse.ArgumentTypeError(f"unknown part(s) {unknown or text!r}; choose from {', '.join(PARTS)}")
    return [p for p in PARTS if p in parts]


def main() -> int:
    p = argparse.ArgumentParser(description="Health benchmark of the mcp-manager daemon (see docs/benchmarks.md)")
    p.add_argument("--parts", type=parse_parts, default=list(PARTS),
                   help="comma-separated parts: history, probes (default: both)")
    p.add_argument("--n", type=int, default=50, help="history: timed requests of each kind (default 50, +1 cold)")
    p.add_argument("--other-servers", type=int, default=49,
                   help="history: servers with rows besides `hist` (default 49)")
    p.add_argument("--history-days", type=float, default=30.0,
                   help="history: days of checks per server (default 30, capped 10 min inside the 30-day retention)")
    p.add_argument("--seed", type=int, default=1, help="history: seed of the synthetic checks (default 1)")
    p.add_argument("--servers", type=int, default=200, help="probes: running servers (default 200)")
    p.add_argument("--interval", type=float, default=5.0, help="probes: health.interval_secs (default 5)")
    p.add_argument("--window", type=float, default=120.0, help="probes: measuring window in seconds (default 120)")
    p.add_argument("--settle", type=float, default=None,
                   help="probes: wait after the last server is running (default 2 × interval)")
    p.add_argument("--batch", type=int, default=20, help="probes: servers created and started at a time (default 20)")
    p.add_argument("--binary", default=str(core.DEFAULT_BINARY), help="daemon binary (default target/release/mcp-manager)")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    p.add_argument("--timeout", type=float, default=120.0, help="bound of every wait, in seconds (default 120)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (data dirs and daemon logs)")
    args = p.parse_args()
    if min(args.n, args.servers, args.batch) < 1 or args.window <= 0 or args.interval < 0.1 or args.history_days < 7:
        p.error("--n, --servers, --batch must be ≥ 1, --window > 0, --interval ≥ 0.1, --history-days ≥ 7")

    binary = Path(args.binary).resolve()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        print(f"health: error: no daemon binary at {binary}; build it with: cargo build --release", file=sys.stderr)
        return 1
    if shutil.which("python3") is None:
        print("health: error: python3 is not on PATH (the fixture servers are started as `python3 …`)", file=sys.stderr)
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
        "python3": shutil.which("python3"),
    }
    tmp = Path(tempfile.mkdtemp(prefix="mcp-manager-health-"))
    log(f"temp dir {tmp}")
    code = 0
    try:
        # Every daemon of the run starts from this copy: a rebuild of target/release during the
        # run (the history part restarts the daemon three times) cannot mix two binaries.
        copy = tmp / "mcp-manager"
        shutil.copy2(binary, copy)
        binary = copy
        if "history" in args.parts:
            result["history"] = history_part(args, binary, tmp)
        if "probes" in args.parts:
            result["probes"] = probes_part(args, binary, tmp)
    except BenchError as e:
        print(f"health: error: {e}", file=sys.stderr)
        code = 1
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    result["load_after"] = os.getloadavg()
    if code:
        return code
    print(report(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
