"""Peak resident memory at 30,000 rigs (issue #14, P6): the analyzer (goal ≤ 1 GB) and the MQTT
collector (goal ≤ 300 MB), each in a process of its own, read from ``/proc/<pid>/status``
(``VmHWM``, the kernel's high-water mark of the resident set).

- **Collector**: ``minewatch collect`` (the real command) subscribed to a real Mosquitto, while the
  simulator (``minewatch simulate``, its own process) publishes ``--rigs`` rigs every 10 s for
  ``--seconds``. Baseline in the same run: the same collector process once subscribed, before the
  first message (interpreter, imports, profiles, a 30,000-rig registry).
- **Analyzer**: a child process running the live cycles of ``bench/analyzer_live.py`` (full
  tm-2026, late window 60 s, 2 % of samples late) over a store holding ``--history-s`` of telemetry
  (default 13 min, so DQ-03's 12-minute look-back is held in full in the live cache). Baseline in
  the same run: that process after its imports and with the store open, before the analyzer
  exists.

    .venv/bin/python bench/memory_rss.py [--rigs 30000] [--seconds 60] [--db /tmp/mw-bench-mem]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minewatch.store import SqliteStore  # noqa: E402
from tests.support.mosquitto import start_mosquitto  # noqa: E402
from tests.support.mqtt import (  # noqa: E402
    facility_file,
    simulate_command,
    start_collect_process,
)

MB = 1024 * 1024


def status_kb(pid: int, field: str) -> int:
    """A ``VmRSS``/``VmHWM`` line of ``/proc/<pid>/status``, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def collector(rigs: int, seconds: float, work: Path) -> dict[str, float]:
    """Idle and peak RSS (MB) of ``minewatch collect`` while the simulator publishes ``rigs`` rigs
    every 10 s, and how many devices it stored."""
    broker = start_mosquitto(work / "mosquitto")
    try:
        config = facility_file(work, broker.port, n_rigs=rigs)
        proc = start_collect_process(config, work / "collect.log")
        time.sleep(1)
        idle = status_kb(proc.pid, "VmRSS") / 1024
        sim = subprocess.Popen(
            simulate_command(config, broker.port, rigs, 10),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        t0, rss = time.monotonic(), []
        while time.monotonic() - t0 < seconds:
            time.sleep(0.5)
            rss.append(status_kb(proc.pid, "VmRSS") / 1024)
        sim.send_signal(signal.SIGTERM)
        sim.wait(60)
        time.sleep(5)  # let the collector drain what the broker still holds for it
        peak = status_kb(proc.pid, "VmHWM") / 1024
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        store = SqliteStore(work / "data" / "telemetry.db")
        devices = len(store.devices())
        store.close()
        return {"idle_mb": idle, "peak_mb": peak, "devices": devices, "max_sampled_mb": max(rss)}
    finally:
        broker.stop()


def analyzer_child(db: Path, rigs: int, history_s: int, cycles: int) -> None:
    """In the child process: the live cycles, then the RSS figures as one JSON line."""
    from bench.analyzer_live import build, run

    build(db, rigs, history_s)
    store = SqliteStore(db / "base.db")
    store.devices()
    store.close()
    before = status_kb(os.getpid(), "VmRSS") / 1024
    r = run(db, rigs, cycles, 60.0, 2.0, history_s=history_s)
    f = r.figures()
    print(
        json.dumps(
            {
                "before_mb": before,
                "peak_mb": status_kb(os.getpid(), "VmHWM") / 1024,
                "end_mb": status_kb(os.getpid(), "VmRSS") / 1024,
                "median_s": f["median"],
                "p95_s": f["p95"],
                "first_s": f["first"],
            }
        )
    )


def analyzer(db: Path, rigs: int, history_s: int, cycles: int) -> dict[str, float]:
    """``analyzer_child`` in a process of its own, so its high-water mark is the analyzer's."""
    build_only = [sys.executable, "-c", _BUILD.format(db=str(db), rigs=rigs, h=history_s)]
    subprocess.run(build_only, cwd=ROOT, check=True)  # the store's build does not count
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--analyzer-child",
            "--db",
            str(db),
            "--rigs",
            str(rigs),
            "--history-s",
            str(history_s),
            "--cycles",
            str(cycles),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


_BUILD = (
    "import sys; sys.path.insert(0, '.'); from pathlib import Path; "
    "from bench.analyzer_live import build; build(Path({db!r}), {rigs}, {h})"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rigs", type=int, default=30_000)
    ap.add_argument("--seconds", type=float, default=60.0, help="collector: simulator run time")
    ap.add_argument("--history-s", type=int, default=780)
    ap.add_argument("--cycles", type=int, default=7)
    ap.add_argument("--db", type=Path, default=None, help="analyzer store folder (kept)")
    ap.add_argument("--skip-collector", action="store_true")
    ap.add_argument("--skip-analyzer", action="store_true")
    ap.add_argument("--analyzer-child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    db = a.db or Path(tempfile.mkdtemp(prefix="mw-bench-mem-"))
    db.mkdir(parents=True, exist_ok=True)
    if a.analyzer_child:
        analyzer_child(db, a.rigs, a.history_s, a.cycles)
        return
    try:
        if not a.skip_analyzer:
            an = analyzer(db, a.rigs, a.history_s, a.cycles)
            print(
                f"analyzer, {a.rigs:,} rigs, {a.history_s} s of history, {a.cycles} cycles "
                f"(late window 60 s): peak RSS {an['peak_mb']:.0f} MB (goal <= 1024), "
                f"{an['end_mb']:.0f} MB at the end; baseline (imports + store open) "
                f"{an['before_mb']:.0f} MB; cycles median {an['median_s']:.2f} s, "
                f"p95 {an['p95_s']:.2f} s, first {an['first_s']:.2f} s"
            )
        if not a.skip_collector:
            work = Path(tempfile.mkdtemp(prefix="mw-bench-mem-collector-"))
            try:
                col = collector(a.rigs, a.seconds, work)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            print(
                f"collector, {a.rigs:,} rigs every 10 s for {a.seconds:g} s "
                f"({col['devices']:,} devices stored): peak RSS {col['peak_mb']:.0f} MB "
                f"(goal <= 300); baseline (subscribed, before the first message) "
                f"{col['idle_mb']:.0f} MB"
            )
        print(
            f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
            f"(RSS does not depend on it)"
        )
    finally:
        if a.db is None:
            shutil.rmtree(db, ignore_errors=True)


if __name__ == "__main__":
    main()
