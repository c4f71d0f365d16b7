"""Helpers shared by the bench scripts (core.py holds the daemon, API and /proc helpers;
this module holds what logs.py, health.py and gateway.py each used to carry a copy of):
percentiles and distributions, number formatting, daemon timestamps, stopping a daemon
and reporting what it left behind, and the mcpload load client."""

from __future__ import annotations

import datetime
import hashlib
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
from pathlib import Path
from typing import Callable

import core
from core import BenchError, ms

ROOT = core.ROOT
# The peer benchmark, read-only (mcpload's source, the fixture): `../shared/bench` beside the
# main checkout, also found from a worktree one level further down.
PEER_BENCH = next((d / "shared" / "bench" for d in (ROOT.parent, ROOT.parent.parent)
                   if (d / "shared" / "bench").is_dir()), ROOT.parent / "shared" / "bench")
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mcp-manager-bench"
NS = 1_000_000_000


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): the ceil(q/100 · n)-th smallest value."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s), max(1, math.ceil(q / 100.0 * len(s)))) - 1]


def dist(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": statistics.median(values), "p95": pct(values, 95), "p99": pct(values, 99),
            "max": max(values), "min": min(values), "mean": statistics.fmean(values)}


def num(x, digits=0) -> str:
    """1234567.8 → '1 234 568' (the docs' thousands separator)."""
    return "–" if x is None else f"{x:,.{digits}f}".replace(",", " ")


def f1(v, unit=" ms", digits=1) -> str:
    return "–" if v is None else f"{v:.{digits}f}{unit}"


def parse_ns(ts: str) -> int:
    """An RFC 3339 UTC timestamp from the daemon (`…T04:02:01.329051234Z`), or its SQLite
    text form (`… 04:02:01.329051234`), as integer nanoseconds since the epoch, exactly."""
    m = re.match(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|\+00:00)?$", ts)
    if not m:
        raise BenchError(f"unexpected timestamp {ts!r}")
    base = datetime.datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}+00:00")
    frac = (m.group(3) or "").ljust(9, "0")
    return int(base.timestamp()) * NS + int(frac or 0)


def stop_daemon(daemon: core.Daemon, what: str, log: Callable[[str], None]) -> dict:
    """SIGTERM the daemon, then report (and SIGKILL) every process still carrying its
    instance id: ours to kill, after reporting them."""
    took, code = daemon.stop()
    left = core.marked_processes(daemon.instance_id)
    out = {"code": code, "sigterm_to_exit_ms": None if took is None else ms(took), "left_after_exit": len(left),
           "log": daemon.log_counts(), "first_problems": daemon.log_problems()}
    log(f"{what}: daemon exited with code {code}, "
        f"{'n/a' if took is None else f'{ms(took):.0f} ms'} after SIGTERM; marked processes left: {len(left)}")
    for p in left:
        log(f"killing left-over pid {p} ({core.proc_state(p)}): {core.cmdline(p)}")
        out.setdefault("left", []).append({"pid": p, "cmdline": core.cmdline(p)})
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    return out


def ensure_mcpload(mcpload: str | None, peer_bench: str, log: Callable[[str], None]) -> tuple[Path, str]:
    """The mcpload binary: `mcpload` when given, or built once from a copy of the peer
    benchmark's source into CACHE/mcpload-<hash of the source>."""
    if mcpload:
        path = Path(mcpload).resolve()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise BenchError(f"--mcpload {path}: not an executable file")
        return path, f"{path} (given)"
    src = Path(peer_bench) / "mcpload"
    files = [src / "Cargo.toml", src / "Cargo.lock", src / "src" / "main.rs"]
    if not all(f.is_file() for f in files):
        raise BenchError(f"mcpload source not found under {src}; pass --peer-bench DIR or --mcpload PATH")
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:12]
    home = CACHE / f"mcpload-{digest}"
    binary = home / "target" / "release" / "mcpload"
    if not binary.is_file():
        cargo = shutil.which("cargo")
        if cargo is None:
            raise BenchError("cargo is not on PATH (needed once to build mcpload); or pass --mcpload PATH")
        copy = home / "src"
        shutil.rmtree(copy, ignore_errors=True)
        (copy / "src").mkdir(parents=True)
        for f in files:
            shutil.copy(f, copy / f.relative_to(src))
        log(f"building mcpload from {src} into {home} (once)")
        r = subprocess.run([cargo, "build", "--release", "--offline", "--manifest-path", str(copy / "Cargo.toml"),
                            "--target-dir", str(home / "target")], capture_output=True, text=True, timeout=600)
        if r.returncode != 0 or not binary.is_file():
            raise BenchError(f"building mcpload failed:\n{r.stderr[-2000:]}")
    return binary, f"{binary} (built from {src}, source sha256 {digest})"
