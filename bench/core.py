#!/usr/bin/env python3
"""Benchmark of the mcp-manager daemon (Python 3.11+, standard library only).

Measures, against a real release binary in a throw-away data dir:

1. the daemon's own overhead from `POST /api/servers/{name}/start` to the `running`
   event, beyond the fixture's own start time (target < 20 ms);
2. the daemon's idle RSS, with no servers and with 50 created servers (target < 30 MB);
3. the daemon's RSS with 50 fixture servers running, children excluded (target < 60 MB);
4. the time to stop 50 servers at once, and how many fixture processes are left.

These are the part `core`. The part `containers` runs the same fixture as a host process
(`bench-proc`) and as a container of `mcp-manager-test/py-fixture:latest` (`bench-ct`),
alternating, and compares their start → `running` and stop → `stopped` times (median, p90),
split with the engine's own events (`docker events`); it then checks that no container of
the daemon is left. It needs the Docker engine and that image (`bash .ci/setup.sh`); when
it is requested and they are missing, the other parts still run and the exit code is 1.

Figures are measured and printed next to their target; nothing is asserted.
Status changes are seen through the WebSocket `/api/events` (no polling), with a minimal
WebSocket client written here over a raw socket.

    cargo build --release && python3 bench/core.py [--parts core,containers] [--n 15]
        [--servers 50] [--container-n 10] [--json out.json]

See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import datetime
import hashlib
import http.client
import json
import os
import platform
import queue
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "mcp_fixture.py"
DEFAULT_BINARY = ROOT / "target" / "release" / "mcp-manager"
INSTANCE_ENV = "MCP_MANAGER_INSTANCE"
SERVER_ENV = "MCP_MANAGER_SERVER_ID"
PROTOCOL_VERSION = "2025-11-25"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

TARGET_OVERHEAD_MS = 20.0
TARGET_IDLE_MB = 30.0
TARGET_RUNNING_MB = 60.0
PARTS = ("core", "containers")


class BenchError(Exception):
    """A failure that ends the run with a clear message."""


def now() -> float:
    return time.perf_counter()


def ms(seconds: float) -> float:
    return seconds * 1000.0


# --------------------------------------------------------------------------- /proc helpers


def proc_status_kb(pid: int, field: str) -> int | None:
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM, RssAnon ...), or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def proc_pss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def proc_state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
        return data[data.rindex(")") + 2]
    except (OSError, ValueError, IndexError):
        return "?"


def marked_processes(instance_id: str) -> list[int]:
    """Pids whose environment carries this daemon instance's marker (its children and
    their descendants), plus zombies whose parent is the daemon (a zombie's environ is
    unreadable)."""
    needle = f"{INSTANCE_ENV}={instance_id}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            found.append(pid)
    return found


def zombie_children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                data = f.read()
            rest = data[data.rindex(")") + 2 :].split()
            if rest[0] == "Z" and int(rest[1]) == parent:
                found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def machine_info() -> dict:
    info = {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": "?",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "mem_total_mb": None,
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["mem_total_mb"] = round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return info


# --------------------------------------------------------------------------- WebSocket client


class WebSocket:
    """A minimal RFC 6455 client: the upgrade handshake, reading (possibly fragmented) text
    frames with 7/16/64-bit lengths, answering pings, sending masked frames."""

    def __init__(self, host: str, port: int, path: str, timeout: float):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.send_lock = threading.Lock()
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "\r\n"
        )
        self.sock.sendall(request.encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise BenchError(f"WebSocket {path}: connection closed during the handshake: {buf!r}")
            buf += chunk
            if len(buf) > 65536:
                raise BenchError(f"WebSocket {path}: handshake response too long")
        head, self.buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if not re.match(r"HTTP/1\.1 101\b", lines[0]):
            raise BenchError(f"WebSocket {path}: upgrade refused: {head.decode('latin-1')!r} {self.buf[:500]!r}")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise BenchError(f"WebSocket {path}: bad Sec-WebSocket-Accept {headers.get('sec-websocket-accept')!r}")
        self.sock.settimeout(None)

    def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise EOFError("WebSocket closed by the server")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send_frame(self, opcode: int, payload: bytes = b"") -> None:
        header = bytearray([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 65536:
            header.append(0x80 | 126)
            header += struct.pack("!H", n)
        else:
            header.append(0x80 | 127)
            header += struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        with self.send_lock:
            self.sock.sendall(bytes(header) + mask + masked)

    def recv_text(self) -> tuple[str, float]:
        """The next text message and the time its last frame arrived. Pings are answered;
        binary messages and pongs are skipped; a close frame raises EOFError."""
        parts: list[bytes] = []
        message_opcode = None
        while True:
            b0, b1 = self._read_exact(2)
            fin, opcode = b0 & 0x80, b0 & 0x0F
            length = b1 & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self._read_exact(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self._read_exact(8))
            mask = self._read_exact(4) if b1 & 0x80 else None
            payload = self._read_exact(length)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x9:  # ping
                self.send_frame(0xA, payload)
                continue
            if opcode == 0xA:  # pong
                continue
            if opcode == 0x8:  # close
                try:
                    self.send_frame(0x8, payload[:2])
                except OSError:
                    pass
                raise EOFError(f"WebSocket closed by the server: {payload!r}")
            if opcode in (0x1, 0x2):
                message_opcode, parts = opcode, [payload]
            elif opcode == 0x0:
                parts.append(payload)
            if fin and message_opcode is not None:
                at = now()
                data = b"".join(parts)
                if message_opcode == 0x1:
                    return data.decode("utf-8"), at
                parts, message_opcode = [], None

    def close(self) -> None:
        try:
            self.send_frame(0x8, struct.pack("!H", 1000))
        except OSError:
            pass
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class EventWatcher:
    """Reads /api/events on a thread and keeps, per server name, every status it went
    through with the arrival time of the event. Waiters wait on a condition."""

    def __init__(self, port: int, timeout: float):
        self.ws = WebSocket("127.0.0.1", port, "/api/events", timeout)
        self.cond = threading.Condition()
        self.history: dict[str, list[tuple[float, str, dict]]] = {}
        self.snapshots = 0
        self.lagged = 0
        self.events = 0
        self.error: str | None = None
        self.closed = False
        self.thread = threading.Thread(target=self._run, name="events", daemon=True)
        self.thread.start()
        self.wait_snapshot(timeout)

    def _run(self) -> None:
        try:
            while True:
                text, at = self.ws.recv_text()
                msg = json.loads(text)
                kind = msg.get("type")
                with self.cond:
                    if kind == "server:status":
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

    def wait_snapshot(self, timeout: float) -> None:
        deadline = now() + timeout
        with self.cond:
            while self.snapshots == 0:
                if self.error:
                    raise BenchError(self.error)
                left = deadline - now()
                if left <= 0:
                    raise BenchError(f"no snapshot on /api/events within {timeout:.0f} s")
                self.cond.wait(left)

    def mark(self, name: str) -> int:
        with self.cond:
            return len(self.history.get(name, []))

    def marks(self, names) -> dict[str, int]:
        with self.cond:
            return {n: len(self.history.get(n, [])) for n in names}

    def wait_all(self, marks: dict[str, int], status: str, timeout: float, what: str) -> dict[str, float]:
        """Waits until every named server has reached `status` after its mark; returns the
        arrival time of each one's event. A server that lands in `failed`/`backoff` (or
        `stopped` while waiting for `running`) ends the run."""
        bad = {"failed", "backoff"} | ({"stopped"} if status == "running" else set())
        deadline = now() + timeout
        done: dict[str, float] = {}
        with self.cond:
            while True:
                for name, mark in marks.items():
                    if name in done:
                        continue
                    for at, st, data in self.history.get(name, [])[mark:]:
                        if st == status:
                            done[name] = at
                            break
                        if st in bad:
                            server = data.get("server") or {}
                            detail = server.get("last_error") or json.dumps(data)[:600]
                            raise BenchError(f"{what}: server {name} went to '{st}' instead of '{status}': {detail}")
                if len(done) == len(marks):
                    return done
                if self.error:
                    raise BenchError(f"{what}: {self.error}")
                left = deadline - now()
                if left <= 0:
                    missing = sorted(set(marks) - set(done))
                    last = {n: (self.history.get(n) or [(0, None, None)])[-1][1] for n in missing[:10]}
                    raise BenchError(
                        f"{what}: {len(missing)} of {len(marks)} servers did not reach '{status}' "
                        f"within {timeout:.0f} s; last statuses: {last}"
                    )
                self.cond.wait(left)

    def find(self, name: str, mark: int, status: str) -> dict | None:
        """The data of the first event after `mark` that put `name` in `status`."""
        with self.cond:
            for _, st, data in self.history.get(name, [])[mark:]:
                if st == status:
                    return data
        return None

    def close(self) -> None:
        with self.cond:
            self.closed = True
        self.ws.close()


def parse_ts(ts) -> float | None:
    """An RFC 3339 UTC timestamp from the daemon (`…T04:02:01.329051Z`, any number of
    fractional digits) as seconds since the epoch."""
    if not isinstance(ts, str):
        return None
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", ts)
    if not m:
        return None
    base = datetime.datetime.fromisoformat(m.group(1) + ("+00:00" if m.group(3) == "Z" else m.group(3)))
    frac = float("0." + m.group(2)) if m.group(2) else 0.0
    return base.timestamp() + frac


# --------------------------------------------------------------------------- REST client


class Api:
    """JSON over http.client, one keep-alive connection per thread."""

    def __init__(self, port: int, timeout: float):
        self.port = port
        self.timeout = timeout
        self.local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.local.conn = conn
        return conn

    def call(self, method: str, path: str, body=None, expect=(200,)) -> dict:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            conn = self._conn()
            try:
                conn.request(method, path, body=payload, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise BenchError(f"{method} {path}: {e}") from e
            except (socket.timeout, TimeoutError) as e:
                conn.close()
                self.local.conn = None
                raise BenchError(f"{method} {path}: no answer within {self.timeout:.0f} s") from e
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError:
            doc = {"raw": raw[:500].decode(errors="replace")}
        if resp.status not in expect:
            raise BenchError(f"{method} {path}: HTTP {resp.status} (expected {expect}): {json.dumps(doc)[:600]}")
        return doc

    def close(self) -> None:
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            conn.close()


# --------------------------------------------------------------------------- the daemon


class Daemon:
    def __init__(self, binary: Path, tmp: Path, timeout: float):
        self.binary = binary
        self.data_dir = tmp / "data"
        self.log_path = tmp / "daemon.stderr.log"
        self.log_file = open(self.log_path, "wb")
        # A token or bind from the caller's environment would change what is measured.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MANAGER_")}
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--bind", "127.0.0.1:0", "--data-dir", str(self.data_dir)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log_file,
            env=env,
        )
        self.pid = self.proc.pid
        lines: queue.Queue = queue.Queue()

        def pump():  # keeps stdout drained for the daemon's whole life
            for line in self.proc.stdout:
                lines.put(line.decode(errors="replace").rstrip("\n"))
            lines.put(None)

        threading.Thread(target=pump, name="daemon-stdout", daemon=True).start()
        deadline = now() + timeout
        self.port = None
        seen = []
        while self.port is None:
            left = deadline - now()
            try:
                line = lines.get(timeout=max(0.01, left))
            except queue.Empty:
                line = ""
                if left <= 0:
                    self.stop()
                    raise BenchError(f"the daemon did not print its address within {timeout:.0f} s; stdout: {seen}; "
                                     f"stderr: {self.log_tail()}")
                continue
            if line is None:
                code = self.proc.wait()
                raise BenchError(f"the daemon exited with code {code} before listening; stdout: {seen}; "
                                 f"stderr: {self.log_tail()}")
            seen.append(line)
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
        self.ready_at = now()
        self.instance_id = (self.data_dir / "instance-id").read_text().strip()

    def rss_kb(self, field: str = "VmRSS") -> int:
        value = proc_status_kb(self.pid, field)
        if value is None:
            raise BenchError(f"cannot read {field} of the daemon (pid {self.pid}); exit code {self.proc.poll()}; "
                             f"stderr: {self.log_tail()}")
        return value

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_lines(self) -> list[str]:
        """The daemon's stderr so far, without ANSI colour codes."""
        try:
            if not self.log_file.closed:
                self.log_file.flush()
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return ANSI.sub("", text).splitlines()

    def log_tail(self, lines: int = 15) -> str:
        return "\n    ".join([""] + self.log_lines()[-lines:])

    def log_counts(self) -> dict[str, int]:
        counts = {"ERROR": 0, "WARN": 0}
        for line in self.log_lines():
            m = re.match(r"\S+\s+(ERROR|WARN)\b", line)
            if m:
                counts[m.group(1)] += 1
        return counts

    def log_problems(self, limit: int = 10) -> list[str]:
        return [ln for ln in self.log_lines() if re.match(r"\S+\s+(ERROR|WARN)\b", ln)][:limit]

    def stop(self) -> tuple[float | None, int | None]:
        """SIGTERM, wait up to 30 s, then SIGKILL. Returns (seconds to exit, exit code)."""
        if self.proc.poll() is not None:
            return None, self.proc.returncode
        t0 = now()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
            took = now() - t0
        except subprocess.TimeoutExpired:
            print(f"warning: the daemon (pid {self.pid}) did not exit 30 s after SIGTERM; killing it", file=sys.stderr)
            self.proc.kill()
            code = self.proc.wait()
            took = None
        self.log_file.close()
        return took, code


# --------------------------------------------------------------------------- measurements


def jsonrpc(req_id, method, params=None) -> bytes:
    msg = {"jsonrpc": "2.0", "method": method}
    if req_id is not None:
        msg["id"] = req_id
    if params is not None:
        msg["params"] = params
    return (json.dumps(msg, separators=(",", ":")) + "\n").encode()


INIT_PARAMS = {
    "protocolVersion": PROTOCOL_VERSION,
    "capabilities": {},
    "clientInfo": {"name": "bench", "version": "0"},
}


def read_reply(proc: subprocess.Popen, req_id: int, deadline: float) -> dict:
    """Reads stdout lines until the reply with this id (notifications are skipped)."""
    while True:
        if now() > deadline:
            raise BenchError(f"the fixture did not answer request {req_id} in time")
        line = proc.stdout.readline()
        if not line:
            raise BenchError(f"the fixture closed stdout before answering request {req_id} (exit {proc.poll()})")
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict) and msg.get("id") == req_id and ("result" in msg or "error" in msg):
            if "error" in msg:
                raise BenchError(f"the fixture answered request {req_id} with an error: {msg['error']}")
            return msg


def direct_fixture_run(python: str, timeout: float) -> tuple[float, float]:
    """Spawns the fixture and speaks to it directly. Returns (spawn → initialize reply,
    spawn → reply to the last of initialize, tools/list, resources/list, prompts/list),
    the same sequence the daemon sends before it reports `running`."""
    t0 = now()
    proc = subprocess.Popen(
        [python, str(FIXTURE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=str(ROOT),
    )
    deadline = t0 + timeout
    try:
        proc.stdin.write(jsonrpc(1, "initialize", INIT_PARAMS))
        proc.stdin.flush()
        read_reply(proc, 1, deadline)
        t_init = now()
        proc.stdin.write(jsonrpc(None, "notifications/initialized"))
        for req_id, method in ((2, "tools/list"), (3, "resources/list"), (4, "prompts/list")):
            proc.stdin.write(jsonrpc(req_id, method, {}))
            proc.stdin.flush()
            read_reply(proc, req_id, deadline)
        t_full = now()
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return t_init - t0, t_full - t0


def summary(values_s: list[float]) -> dict:
    v = [ms(x) for x in values_s]
    return {
        "median_ms": statistics.median(v),
        "min_ms": min(v),
        "max_ms": max(v),
        "runs_ms": [round(x, 3) for x in v],
    }


def fmt_dist(s: dict) -> str:
    return f"{s['median_ms']:.1f} ms (min {s['min_ms']:.1f}, max {s['max_ms']:.1f})"


def mb(kb: float) -> float:
    return kb / 1024.0


def git_describe() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + (" (working tree modified)" if dirty else "") if rev else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def server_body(name: str, python_cmd: str) -> dict:
    return {"name": name, "command": python_cmd, "args": [str(FIXTURE)], "stop_grace_secs": 5}


def core_part(result: dict, daemon: Daemon, api: Api, watcher: EventWatcher, python: str, n: int, count: int,
              timeout: float) -> None:
    """The core figures 1–4 (see the module docstring), appended to result["figures"]."""
    figures = result["figures"]

    def figure(key, metric, value, shown, target="–", unit=None, **extra):
        figures.append({"key": key, "metric": metric, "value": value, "unit": unit, "shown": shown,
                        "target": target, **extra})

    # 2. idle RSS --------------------------------------------------------------------
    time.sleep(1.0)  # let start-up work (sweep, migrations) settle
    rss_idle = daemon.rss_kb()
    names = [f"bench-{i:02d}" for i in range(1, count + 1)]
    for name in names:
        api.call("POST", "/api/servers", server_body(name, "python3"), expect=(201,))
    time.sleep(0.5)
    rss_created = daemon.rss_kb()
    figure("rss_idle_mb", "Daemon RSS, idle, no servers", mb(rss_idle), f"{mb(rss_idle):.1f} MB",
           f"< {TARGET_IDLE_MB:.0f} MB", "MB")
    figure("rss_created_mb", f"Daemon RSS, idle, {count} servers created (not started)", mb(rss_created),
           f"{mb(rss_created):.1f} MB", f"< {TARGET_IDLE_MB:.0f} MB", "MB")

    # 1. start overhead ----------------------------------------------------------------
    # Direct runs and daemon runs are interleaved so that drift in the machine's load
    # hits both alike. One warm-up of each is left out of the medians.
    one = names[0]
    direct_init, direct_full, daemon_start, accept, daemon_stop = [], [], [], [], []
    to_starting, handshake, delivery = [], [], []
    first_start = None
    log(f"start overhead: {n} runs (+1 warm-up) of the fixture directly and through the daemon")
    for i in range(n + 1):
        d_init, d_full = direct_fixture_run(python, timeout)
        mark = watcher.mark(one)
        wall_req = time.time()
        t_req = now()
        api.call("POST", f"/api/servers/{one}/start", expect=(202,))
        t_acc = now()
        t_run = watcher.wait_all({one: mark}, "running", timeout, f"start #{i}")[one]
        ts_starting = parse_ts((watcher.find(one, mark, "starting") or {}).get("_ts"))
        ts_running = parse_ts((watcher.find(one, mark, "running") or {}).get("_ts"))
        mark = watcher.mark(one)
        t_stop = now()
        api.call("POST", f"/api/servers/{one}/stop", expect=(202,))
        t_stopped = watcher.wait_all({one: mark}, "stopped", timeout, f"stop #{i}")[one]
        if i == 0:
            first_start = t_run - t_req
            continue
        direct_init.append(d_init)
        direct_full.append(d_full)
        daemon_start.append(t_run - t_req)
        accept.append(t_acc - t_req)
        daemon_stop.append(t_stopped - t_stop)
        if ts_starting is not None and ts_running is not None:
            to_starting.append(ts_starting - wall_req)
            handshake.append(ts_running - ts_starting)
            delivery.append((t_run - t_req) - (ts_running - wall_req))
    s_init, s_full, s_daemon = summary(direct_init), summary(direct_full), summary(daemon_start)
    s_accept, s_stop = summary(accept), summary(daemon_stop)
    overhead = s_daemon["median_ms"] - s_init["median_ms"]
    overhead_net = s_daemon["median_ms"] - s_full["median_ms"]
    paired = statistics.median(ms(a - b) for a, b in zip(daemon_start, direct_init))
    figure("daemon_overhead_ms", "Start overhead of the daemon: median(start→running) − median(direct spawn→initialize reply)",
           overhead, f"{overhead:.1f} ms", f"< {TARGET_OVERHEAD_MS:.0f} ms", "ms")
    figure("daemon_overhead_net_ms", "  of which beyond the MCP handshake: median(start→running) − median(direct spawn→initialize+3 lists)",
           overhead_net, f"{overhead_net:.1f} ms", "–", "ms")
    figure("daemon_overhead_paired_ms", "  median of the per-run differences (daemon run − the direct run just before it)",
           paired, f"{paired:.1f} ms", "–", "ms")
    figure("daemon_start_ms", "  start→running through the daemon (POST start → `running` event)",
           s_daemon["median_ms"], fmt_dist(s_daemon), "–", "ms", dist=s_daemon)
    figure("direct_init_ms", "  fixture directly: spawn → initialize reply",
           s_init["median_ms"], fmt_dist(s_init), "–", "ms", dist=s_init)
    figure("direct_full_ms", "  fixture directly: spawn → initialize + tools/list + resources/list + prompts/list",
           s_full["median_ms"], fmt_dist(s_full), "–", "ms", dist=s_full)
    if to_starting:
        s_a, s_b, s_c = summary(to_starting), summary(handshake), summary(delivery)
        figure("split_to_starting_ms", "  split by event `ts`: POST sent → `starting` (request, spawn)",
               s_a["median_ms"], fmt_dist(s_a), "–", "ms", dist=s_a)
        figure("split_handshake_ms", "  split by event `ts`: `starting` → `running` (fixture start + handshake)",
               s_b["median_ms"], fmt_dist(s_b), "–", "ms", dist=s_b)
        figure("split_delivery_ms", "  split by event `ts`: `running` → event received by the client",
               s_c["median_ms"], fmt_dist(s_c), "–", "ms", dist=s_c)
    figure("start_accept_ms", "  POST start → 202 response", s_accept["median_ms"], fmt_dist(s_accept), "–", "ms",
           dist=s_accept)
    figure("first_start_ms", "  first start (warm-up, not in the medians)", ms(first_start),
           f"{ms(first_start):.1f} ms", "–", "ms")
    figure("stop_one_ms", "  POST stop → `stopped` event, one server", s_stop["median_ms"], fmt_dist(s_stop), "–",
           "ms", dist=s_stop)

    # 3. RSS with all servers running ---------------------------------------------------
    log(f"starting {count} servers at once")
    marks = watcher.marks(names)
    with concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool:
        t0 = now()
        list(pool.map(lambda nm: api.call("POST", f"/api/servers/{nm}/start", expect=(202,)), names))
        t_sent = now()
        running = watcher.wait_all(marks, "running", timeout, f"starting {count} servers")
    start_all = max(running.values()) - t0
    rss_running_now = daemon.rss_kb()
    time.sleep(1.0)
    rss_running = daemon.rss_kb()
    children = marked_processes(daemon.instance_id)
    child_rss = sum(proc_status_kb(p, "VmRSS") or 0 for p in children)
    child_pss = sum(proc_pss_kb(p) or 0 for p in children)
    figure("rss_running_mb", f"Daemon RSS, {count} servers running (daemon process only)", mb(rss_running),
           f"{mb(rss_running):.1f} MB", f"< {TARGET_RUNNING_MB:.0f} MB", "MB",
           at_all_running_mb=mb(rss_running_now))
    figure("children_rss_mb", f"  children: {len(children)} processes, sum of VmRSS (PSS)", mb(child_rss),
           f"{mb(child_rss):.1f} MB ({mb(child_pss):.1f} MB)", "–", "MB", pss_mb=mb(child_pss),
           processes=len(children))
    figure("start_all_ms", f"  time to start {count} at once (first POST → last `running` event)", ms(start_all),
           f"{ms(start_all):.0f} ms (all {count} POSTs answered after {ms(t_sent - t0):.0f} ms)", "–", "ms",
           posts_ms=ms(t_sent - t0))

    # 4. stop all at once ---------------------------------------------------------------
    log(f"stopping {count} servers at once")
    marks = watcher.marks(names)
    with concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool:
        t0 = now()
        list(pool.map(lambda nm: api.call("POST", f"/api/servers/{nm}/stop", expect=(202,)), names))
        t_sent = now()
        stopped = watcher.wait_all(marks, "stopped", timeout, f"stopping {count} servers")
    stop_all = max(stopped.values()) - t0
    left_now = marked_processes(daemon.instance_id)
    zombies = zombie_children(daemon.pid)
    time.sleep(2.0)
    left_later = marked_processes(daemon.instance_id)
    figure("stop_all_ms", f"Time to stop {count} at once (first POST → last `stopped` event)", ms(stop_all),
           f"{ms(stop_all):.0f} ms (all {count} POSTs answered after {ms(t_sent - t0):.0f} ms)", "–", "ms",
           posts_ms=ms(t_sent - t0))
    figure("left_after_stop", "  fixture processes left at the last `stopped` event (2 s later)", len(left_now),
           f"{len(left_now)} ({len(left_later)})", "0", "processes", later=len(left_later),
           zombies=len(zombies), pids=left_now)
    if left_later:
        for p in left_later[:10]:
            log(f"left over: pid {p} state {proc_state(p)}: {cmdline(p)}")
    rss_after = daemon.rss_kb()
    hwm = daemon.rss_kb("VmHWM")
    figure("rss_after_stop_mb", f"  daemon RSS after stopping all (peak VmHWM over the run)", mb(rss_after),
           f"{mb(rss_after):.1f} MB ({mb(hwm):.1f} MB)", "–", "MB", hwm_mb=mb(hwm))



# --------------------------------------------------------------------------- container part

CT_IMAGE = "mcp-manager-test/py-fixture:latest"
CT_LABEL_INSTANCE = "mcp-manager.instance"
CT_LABEL_NAME = "mcp-manager.name"
CT_IMAGE_HASH_LABEL = "mcp-manager.test.hash"
PROC_NAME, CT_NAME = "bench-proc", "bench-ct"
SETUP_HINT = ("run `bash .ci/setup.sh` (it starts the Docker engine and builds the image), "
              "or leave the part out with `--parts core`")


def docker(argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
    """`docker ARGV...` with its output captured; never raises (rc 124: timeout, 127: no CLI)."""
    try:
        return subprocess.run(["docker", *argv], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(["docker", *argv], 124, "", f"no answer within {timeout:.0f} s")
    except OSError as e:
        return subprocess.CompletedProcess(["docker", *argv], 127, "", str(e))


def our_containers(instance_id: str) -> list[str] | None:
    """`docker ps -aq --filter label=mcp-manager.instance=<id>`: every container of this
    daemon instance, running or not; None when the engine does not answer."""
    r = docker(["ps", "-aq", "--filter", f"label={CT_LABEL_INSTANCE}={instance_id}"])
    if r.returncode != 0:
        return None
    return r.stdout.split()


def expected_image_hash() -> str | None:
    """The `mcp-manager.test.hash` label tests/images/build.sh would give the image now:
    sha256 of the fixture, the build script and the interpreter binary."""
    h = hashlib.sha256()
    try:
        for f in (FIXTURE, ROOT / "tests" / "images" / "build.sh", Path("/usr/bin/python3.11")):
            h.update(f.read_bytes())
    except OSError:
        return None
    return h.hexdigest()


def containers_preflight() -> tuple[str | None, dict | None]:
    """(why the container part cannot run, None) or (None, facts about the engine and image)."""
    if shutil.which("docker") is None:
        return f"the docker CLI is not on PATH; {SETUP_HINT}", None
    r = docker(["image", "inspect", CT_IMAGE, "--format", "{{json .}}"])
    if r.returncode != 0:
        lines = (r.stderr or r.stdout).strip().splitlines()
        why = lines[-1].strip() if lines else f"exit code {r.returncode}"
        return f"`docker image inspect {CT_IMAGE}` failed: {why}; {SETUP_HINT}", None
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        doc = {}
    config = doc.get("Config") or {}
    labels = config.get("Labels") or {}
    version = docker(["version", "--format", "{{.Server.Version}}"])
    env = {
        "image": CT_IMAGE,
        "image_id": (doc.get("Id") or "?").removeprefix("sha256:")[:12],
        "image_created": doc.get("Created"),
        "image_size_mb": round((doc.get("Size") or 0) / 1e6, 1),
        "entrypoint": config.get("Entrypoint"),
        "engine": version.stdout.strip() if version.returncode == 0 else "?",
    }
    want, have = expected_image_hash(), labels.get(CT_IMAGE_HASH_LABEL)
    env["image_current"] = None if want is None or have is None else want == have
    if env["image_current"] is False:
        env["warning"] = (f"{CT_IMAGE} was built from another version of tests/fixtures/mcp_fixture.py, "
                          "tests/images/build.sh or /usr/bin/python3.11; `bash .ci/setup.sh` rebuilds it")
    return None, env


class DockerEvents:
    """`docker events` for this daemon instance's containers, read on a thread. Keeps each
    event's action, the server name from its label, the engine's own time (`timeNano`) and
    the arrival time. `--since` replays what happened between the call and the subscription,
    so nothing is missed at the start."""

    def __init__(self, instance_id: str):
        self.cond = threading.Condition()
        self.events: list[dict] = []
        self.error: str | None = None
        self.closed = False
        self.proc = subprocess.Popen(
            ["docker", "events", "--since", f"{time.time() - 1:.3f}", "--format", "{{json .}}",
             "--filter", "type=container", "--filter", f"label={CT_LABEL_INSTANCE}={instance_id}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        threading.Thread(target=self._run, name="docker-events", daemon=True).start()

    def _run(self) -> None:
        for line in self.proc.stdout:
            at = now()
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            actor = ev.get("Actor") or {}
            attrs = actor.get("Attributes") or {}
            item = {
                "action": ev.get("Action") or ev.get("status"),
                "id": ev.get("id") or actor.get("ID"),
                "name": attrs.get(CT_LABEL_NAME),
                "engine_s": (ev.get("timeNano") or 0) / 1e9,
                "at": at,
                "exit_code": attrs.get("exitCode"),
                "signal": attrs.get("signal"),
            }
            with self.cond:
                self.events.append(item)
                self.cond.notify_all()
        err = self.proc.stderr.read().strip() if self.proc.stderr else ""
        with self.cond:
            if not self.closed:
                self.error = f"`docker events` ended: {err or 'no message'}"
            self.cond.notify_all()

    def mark(self) -> int:
        with self.cond:
            return len(self.events)

    def find(self, mark: int, name: str, action: str) -> dict | None:
        with self.cond:
            for ev in self.events[mark:]:
                if ev["name"] == name and ev["action"] == action:
                    return ev
        return None

    def actions(self, mark: int, name: str) -> list[str]:
        with self.cond:
            return [ev["action"] for ev in self.events[mark:] if ev["name"] == name]

    def wait(self, mark: int, name: str, action: str, timeout: float) -> dict | None:
        """The first `action` event of `name`'s container after `mark`, or None at the
        timeout or when the stream has ended."""
        deadline = now() + timeout
        with self.cond:
            while True:
                for ev in self.events[mark:]:
                    if ev["name"] == name and ev["action"] == action:
                        return ev
                left = deadline - now()
                if self.error or left <= 0:
                    return None
                self.cond.wait(left)

    def close(self) -> None:
        with self.cond:
            self.closed = True
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def p90(values: list[float]) -> float:
    """The 90th percentile, interpolated between the two nearest samples
    (`statistics.quantiles(..., method="inclusive")`)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def start_stop_once(kind: str, name: str, run_no: int, api: Api, watcher: EventWatcher,
                    devents: DockerEvents | None, instance_id: str, timeout: float) -> dict:
    """One start (POST → `running` event) and one stop (POST → `stopped` event) of `name`,
    with the split by the daemon's event `ts` and, for the container, by the engine's events.
    For the container, it then waits until the engine has removed it, so that removal does
    not overlap the next measurement."""
    what = f"{kind} run #{run_no}"
    mark = watcher.mark(name)
    dmark = devents.mark() if devents else 0
    wall_req = time.time()
    t_req = now()
    api.call("POST", f"/api/servers/{name}/start", expect=(202,))
    t_acc = now()
    t_run = watcher.wait_all({name: mark}, "running", timeout, f"{what}: start")[name]
    ts_starting = parse_ts((watcher.find(name, mark, "starting") or {}).get("_ts"))
    ts_running = parse_ts((watcher.find(name, mark, "running") or {}).get("_ts"))
    mark = watcher.mark(name)
    wall_stop = time.time()
    t_stop = now()
    api.call("POST", f"/api/servers/{name}/stop", expect=(202,))
    t_stopped = watcher.wait_all({name: mark}, "stopped", timeout, f"{what}: stop")[name]
    ts_stopped = parse_ts((watcher.find(name, mark, "stopped") or {}).get("_ts"))

    s: dict[str, float | None] = {
        "start": t_run - t_req,
        "stop": t_stopped - t_stop,
        "accept": t_acc - t_req,
        "to_starting": None if ts_starting is None else ts_starting - wall_req,
        "starting_to_running": None if None in (ts_starting, ts_running) else ts_running - ts_starting,
        "delivery": None if ts_running is None else (t_run - t_req) - (ts_running - wall_req),
    }
    if kind != "container":
        return s

    destroy = devents.wait(dmark, name, "destroy", timeout) if devents else None
    if destroy is None:
        # No event (the stream ended, or it was missed): ask the engine directly.
        deadline = now() + timeout
        while True:
            ids = our_containers(instance_id)
            if ids == []:
                break
            if now() > deadline:
                seen = devents.actions(dmark, name) if devents else "n/a"
                raise BenchError(f"{what}: the container was not removed within {timeout:.0f} s of its stop "
                                 f"(docker ps: {ids}; engine events seen for it: {seen})")
            time.sleep(0.05)
        return s
    ev = {a: devents.find(dmark, name, a) for a in ("create", "attach", "start", "kill", "die", "destroy")}

    def between(a, b):
        return None if a is None or b is None else b - a

    eng = {a: (e["engine_s"] if e else None) for a, e in ev.items()}
    s.update({
        "to_create": between(wall_req, eng["create"]),
        "create_to_start": between(eng["create"], eng["start"]),
        "start_to_running": between(eng["start"], ts_running),
        "to_kill": between(wall_stop, eng["kill"]),
        "to_die": between(wall_stop, eng["die"]),
        "die_to_stopped": between(eng["die"], ts_stopped),
        "stopped_to_destroy": between(ts_stopped, eng["destroy"]),
        "to_destroy": between(wall_stop, eng["destroy"]),
        "exit_code": ev["die"]["exit_code"] if ev["die"] else None,
        "kill_signal": ev["kill"]["signal"] if ev["kill"] else None,
    })
    return s


def containers_part(daemon: Daemon, api: Api, watcher: EventWatcher, n: int, timeout: float) -> dict:
    """The same fixture as a host process and as a container, started and stopped in
    alternation (process, container, process, container, …), N runs each after one warm-up."""
    proc_body = {"name": PROC_NAME, "command": "python3", "args": [str(FIXTURE)], "stop_grace_secs": 5}
    ct_body = {"name": CT_NAME, "type": "container", "image": CT_IMAGE, "stop_grace_secs": 5}
    api.call("POST", "/api/servers", proc_body, expect=(201,))
    api.call("POST", "/api/servers", ct_body, expect=(201,))
    devents = DockerEvents(daemon.instance_id)
    kinds = (("process", PROC_NAME), ("container", CT_NAME))
    samples: dict[str, list[dict]] = {"process": [], "container": []}
    first: dict[str, dict] = {}
    log(f"containers: {n} start/stop runs (+1 warm-up) of {PROC_NAME} and {CT_NAME}, alternating")
    try:
        for i in range(n + 1):
            for kind, name in kinds:
                s = start_stop_once(kind, name, i, api, watcher, devents, daemon.instance_id, timeout)
                if i == 0:
                    first[kind] = s
                else:
                    samples[kind].append(s)
            p = first["process"] if i == 0 else samples["process"][-1]
            c = first["container"] if i == 0 else samples["container"][-1]
            log(f"  run {i}{' (warm-up)' if i == 0 else ''}: start→running process {ms(p['start']):.0f} ms, "
                f"container {ms(c['start']):.0f} ms; stop→stopped process {ms(p['stop']):.0f} ms, "
                f"container {ms(c['stop']):.0f} ms")
        events_error = devents.error
    finally:
        devents.close()

    # Nothing of this daemon may be left: no container (running or exited), no process.
    containers_left = our_containers(daemon.instance_id)
    processes_left = marked_processes(daemon.instance_id)
    log(f"containers left after the part (docker ps -aq --filter label={CT_LABEL_INSTANCE}="
        f"{daemon.instance_id}): {'?' if containers_left is None else len(containers_left)}; "
        f"marked processes left: {len(processes_left)}")
    for p in processes_left[:10]:
        log(f"left over: pid {p} state {proc_state(p)}: {cmdline(p)}")

    rows: list[dict] = []

    def values(kind: str, key: str) -> list[float]:
        return [ms(s[key]) for s in samples[kind] if s.get(key) is not None]

    def row(key: str, metric: str, stat=statistics.median, process=True, container=True):
        vp = values("process", key) if process else []
        vc = values("container", key) if container else []
        rows.append({"key": key, "metric": metric, "stat": stat.__name__,
                     "process": stat(vp) if vp else None, "container": stat(vc) if vc else None})

    row("start", "start → `running` (POST start → event), median")
    row("start", "start → `running`, p90", p90)
    row("stop", "stop → `stopped` (POST stop → event), median")
    row("stop", "stop → `stopped`, p90", p90)
    rows.append({"key": "first_start", "metric": "  first start (warm-up, not in the figures above)",
                 "process": ms(first["process"]["start"]), "container": ms(first["container"]["start"])})
    rows.append({"key": "first_stop", "metric": "  first stop (warm-up)",
                 "process": ms(first["process"]["stop"]), "container": ms(first["container"]["stop"])})
    row("accept", "  POST start → 202 response, median")
    row("to_starting", "  split by event `ts`: POST sent → `starting`, median")
    row("starting_to_running", "  split by event `ts`: `starting` → `running`, median")
    row("to_create", "  engine events: POST sent → `create` (request, image check, create), median", process=False)
    row("create_to_start", "  engine events: `create` → `start` (attach, then the engine's start), median", process=False)
    row("start_to_running", "  engine `start` event → `running` (rest of the fixture start-up + MCP handshake), median", process=False)
    row("delivery", "  `running` → event received by the client, median")
    row("to_kill", "  engine events: POST stop → `kill` (SIGTERM sent), median", process=False)
    row("to_die", "  engine events: POST stop → `die`, median", process=False)
    row("die_to_stopped", "  engine `die` → `stopped` (daemon `ts`), median", process=False)
    row("stopped_to_destroy", "  `stopped` → container removed (engine `destroy`), median", process=False)
    row("to_destroy", "  POST stop → container removed, median", process=False)
    row("to_destroy", "  POST stop → container removed, p90", p90, process=False)
    rows.append({"key": "left", "metric": "left after the part: marked processes / containers of this daemon",
                 "process": len(processes_left), "container": None if containers_left is None else len(containers_left),
                 "unit": "count"})
    return {
        "n": n,
        "bodies": {"process": proc_body, "container": ct_body},
        "rows": rows,
        "first": first,
        "samples": samples,
        "exit_codes": sorted({str(s.get("exit_code")) for s in samples["container"]}),
        "kill_signals": sorted({str(s.get("kill_signal")) for s in samples["container"]}),
        "containers_left": containers_left,
        "processes_left": processes_left,
        "docker_events_error": events_error,
    }


def run(args, parts: list[str]) -> dict:
    binary = Path(args.binary).resolve()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise BenchError(f"no daemon binary at {binary}; build it with: cargo build --release")
    if not FIXTURE.is_file():
        raise BenchError(f"fixture missing: {FIXTURE}")
    python = shutil.which("python3")
    if python is None:
        raise BenchError("python3 is not on PATH (the fixture servers are started as `python3 ...`)")
    timeout = args.timeout
    n, count = args.n, args.servers

    # The container part needs the engine and the image: checked before anything runs, so
    # a missing one is said at once. The other parts still run; main() then exits 1.
    run_parts = list(parts)
    skipped = None
    ct_env = None
    if "containers" in parts:
        skipped, ct_env = containers_preflight()
        if skipped:
            log(f"container part skipped: {skipped}")
            run_parts.remove("containers")
        elif ct_env.get("warning"):
            log(f"warning: {ct_env['warning']}")
    if not run_parts:
        raise BenchError(f"container part cannot run: {skipped}")

    stat = binary.stat()
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "load_before": os.getloadavg(),
        "binary": {
            "path": str(binary),
            "size_bytes": stat.st_size,
            "mtime": datetime.datetime.fromtimestamp(stat.st_mtime, datetime.timezone.utc).isoformat(timespec="seconds"),
        },
        "git": git_describe(),
        "parts": run_parts,
        "n": n,
        "servers": count,
        "python3": python,
        "figures": [],
    }
    if skipped:
        result["containers_skipped"] = skipped
    if ct_env:
        result["container_env"] = ct_env

    tmp = Path(tempfile.mkdtemp(prefix="mcp-manager-bench-"))
    daemon = watcher = api = None
    try:
        log(f"temp dir {tmp}; starting {binary}")
        t0 = now()
        daemon = Daemon(binary, tmp, timeout)
        result["daemon_ready_ms"] = ms(daemon.ready_at - t0)
        log(f"daemon pid {daemon.pid} on port {daemon.port}, instance {daemon.instance_id}")
        api = Api(daemon.port, timeout)
        watcher = EventWatcher(daemon.port, timeout)

        if "core" in run_parts:
            core_part(result, daemon, api, watcher, python, n, count, timeout)
        if "containers" in run_parts:
            result["containers"] = containers_part(daemon, api, watcher, args.container_n, timeout)
        result["events"] = {"status_events": watcher.events, "snapshots": watcher.snapshots, "lagged": watcher.lagged}
    except BenchError as e:
        if daemon is not None:
            alive = "running" if daemon.alive() else f"exited with code {daemon.proc.returncode}"
            raise BenchError(f"{e}\n  daemon pid {daemon.pid} ({alive}); last lines of its stderr:{daemon.log_tail(25)}") from e
        raise
    finally:
        if watcher is not None:
            watcher.close()
        if api is not None:
            api.close()
        if daemon is not None:
            took, code = daemon.stop()
            result["daemon_exit"] = {"code": code, "sigterm_to_exit_ms": None if took is None else ms(took)}
            leftovers = marked_processes(daemon.instance_id)
            result["daemon_exit"]["left_after_exit"] = len(leftovers)
            for p in leftovers:  # ours: do not leave them running
                log(f"killing left-over pid {p} after the daemon exited: {cmdline(p)}")
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            if "containers" in run_parts:
                ids = our_containers(daemon.instance_id)
                result["daemon_exit"]["containers_left_after_exit"] = None if ids is None else len(ids)
                for cid in ids or []:  # labelled with this run's instance id: ours to remove
                    log(f"removing left-over container {cid} after the daemon exited")
                    docker(["rm", "-f", cid], timeout=60)
            result["daemon_log"] = daemon.log_counts()
            result["daemon_log"]["first_problems"] = daemon.log_problems()
            if args.keep:
                log(f"kept {tmp}")
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    result["load_after"] = os.getloadavg()
    return result


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def containers_report(ct: dict, env: dict) -> list[str]:
    def shown(v, unit):
        if v is None:
            return "–"
        return str(v) if unit == "count" else f"{v:.1f} ms"

    out = [
        "### Container servers: the same fixture as a host process and as a container",
        "",
        f"- process: `{json.dumps(ct['bodies']['process'])}`",
        f"- container: `{json.dumps(ct['bodies']['container'])}`; image {env.get('image_id')} "
        f"({env.get('image_size_mb')} MB, created {env.get('image_created')}, entrypoint {env.get('entrypoint')}, "
        f"built from the current fixture: {env.get('image_current')}), Docker engine {env.get('engine')}",
        f"- N = {ct['n']} start/stop runs of each (+1 warm-up each), alternating process and container",
        "",
        "| metric | process | container | container − process |",
        "| --- | --- | --- | --- |",
    ]
    for r in ct["rows"]:
        unit = r.get("unit", "ms")
        metric = r["metric"]
        if metric.startswith("  "):
            metric = "↳ " + metric.strip()
        pv, cv = r.get("process"), r.get("container")
        diff = "–" if unit == "count" or pv is None or cv is None else f"{(cv - pv) + 0.0:+.1f} ms".replace("-0.0 ", "+0.0 ")
        out.append(f"| {metric} | {shown(pv, unit)} | {shown(cv, unit)} | {diff} |")
    out.append("")
    out.append(
        f"Container exit codes seen at `die`: {', '.join(ct['exit_codes'])}; stop signal sent by the engine: "
        f"{', '.join(ct['kill_signals'])}. Containers left after the part: "
        f"{'?' if ct['containers_left'] is None else len(ct['containers_left'])}."
        + (f" docker events: {ct['docker_events_error']}" if ct.get("docker_events_error") else "")
    )
    return out


def report(result: dict) -> str:
    m = result["machine"]
    la = lambda t: " ".join(f"{x:.2f}" for x in t)  # noqa: E731
    parts = result.get("parts", ["core"])
    out = [
        f"## mcp-manager benchmark ({', '.join(parts)}), {result['date']}",
        "",
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['mem_total_mb']} MB RAM, Linux {m['kernel']}, Python {m['python']}",
        f"- load average before: {la(result['load_before'])}; after: {la(result['load_after'])}",
        f"- binary: {result['binary']['path']} ({result['binary']['size_bytes'] / 1e6:.1f} MB, built {result['binary']['mtime']}), repo HEAD when run: {result['git']}",
        f"- fixture: `python3 {FIXTURE.relative_to(ROOT)}`, python3 = {result['python3']} (the same for the direct runs and the daemon)",
    ]
    if "core" in parts:
        out += [
            f"- N = {result['n']} start/stop runs (+1 warm-up), {result['servers']} servers for the RSS and stop figures",
            "",
            "| metric | value | target |",
            "| --- | --- | --- |",
        ]
        for f in result["figures"]:
            metric = f["metric"]
            if metric.startswith("  "):
                metric = "↳ " + metric.strip()
            out.append(f"| {metric} | {f['shown']} | {f['target']} |")
    if "containers" in result:
        out.append("")
        out += containers_report(result["containers"], result.get("container_env") or {})
    if result.get("containers_skipped"):
        out += ["", f"Container part skipped: {result['containers_skipped']}"]
    ex = result.get("daemon_exit", {})
    out.append("")
    took = ex.get("sigterm_to_exit_ms")
    ct_left = ""
    if "containers_left_after_exit" in ex:
        ct_left = f", containers left after exit: {ex['containers_left_after_exit']}"
    out.append(
        f"Daemon exit: code {ex.get('code')}, SIGTERM → exit "
        f"{'n/a' if took is None else f'{took:.0f} ms'}, marked processes left after exit: {ex.get('left_after_exit')}{ct_left}. "
        f"Daemon log: {result.get('daemon_log', {}).get('ERROR', '?')} ERROR, {result.get('daemon_log', {}).get('WARN', '?')} WARN lines. "
        f"Events: {result.get('events', {})}."
    )
    problems = result.get("daemon_log", {}).get("first_problems") or []
    if problems:
        out.append("")
        out.append("First ERROR/WARN lines of the daemon:")
        out.append("")
        out += [f"    {line}" for line in problems]
    return "\n".join(out)


def parse_parts(text: str) -> list[str]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise argparse.ArgumentTypeError(f"unknown part(s) {unknown or text!r}; choose from {', '.join(PARTS)}")
    return [p for p in PARTS if p in parts]  # fixed order, no duplicates


def main() -> int:
    p = argparse.ArgumentParser(description="Benchmark of the mcp-manager daemon (see docs/benchmarks.md)")
    p.add_argument("--parts", type=parse_parts, default=list(PARTS),
                   help="comma-separated parts to run: core, containers (default: core,containers)")
    p.add_argument("--n", type=int, default=15, help="core: start/stop runs for the start overhead (default 15)")
    p.add_argument("--servers", type=int, default=50, help="core: servers for the RSS and stop figures (default 50)")
    p.add_argument("--container-n", type=int, default=10,
                   help="containers: start/stop runs of each of the process and the container (default 10)")
    p.add_argument("--binary", default=str(DEFAULT_BINARY), help="daemon binary (default target/release/mcp-manager)")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    p.add_argument("--timeout", type=float, default=60.0, help="bound of every wait, in seconds (default 60)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (data dir and daemon log)")
    args = p.parse_args()
    if args.n < 1 or args.servers < 1 or args.container_n < 1:
        p.error("--n, --servers and --container-n must be at least 1")
    try:
        result = run(args, args.parts)
    except BenchError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 1
    print(report(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    if result.get("containers_skipped"):
        print(f"bench: error: the container part was requested but cannot run: {result['containers_skipped']}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
