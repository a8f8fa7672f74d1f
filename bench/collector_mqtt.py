"""MQTT collector throughput: Mosquitto → collector (decode, SQLite write, ack) vs a bare paho
subscriber.

Measurements against a real Mosquitto on loopback, in the same run:

1. **Flood** — a backlog of N messages (default 50,000 simulator rig payloads) queued by the broker
   for a persistent session, then drained: by a bare paho QoS 1 subscriber with an empty handler
   (the baseline: what one paho client can take in at all), once over MQTT 3.1.1 and once over
   MQTT 5 (the collector's default protocol, whose per-message properties cost paho ~10 µs), and
   by the collector (decode + write + ack after write), once on its default MQTT 5 and once on
   MQTT 3.1.1 (docs/collector-mqtt.md, "Protocol"; ``--before DIR`` also by the collector of an
   earlier source tree). Ratio = collector rate / baseline rate. Every drain runs in a fresh
   process of its own and is timed the same way (``bench/collector_drain.py``: connect to last
   message handled, CPU time of all its threads), with the load average beside the figures.
1b. **Shared subscription** (``--processes N``, N >= 2) — the same backlog queued for N
   ``minewatch collect`` processes on one ``$share`` group, drained by all of them, against one
   such process in the same run: time from the first sample stored to the last.
2. **Live stream** — the simulator (its own process) publishing a facility-scale rate (default
   3,000 rigs once a second = 3,000 msg/s, about 30,000 rigs every 10 s, the largest site
   minewatch plans for) for some seconds: does the collector keep up, and how far behind
   (lag = store time - sample time) does it get?

Run: ``python bench/collector_mqtt.py [--flood 50000] [--rate 3000] [--seconds 10] [--processes 2]
[--before DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from minewatch.config import load_facility  # noqa: E402
from minewatch.config.mqtt import MqttSettings  # noqa: E402
from minewatch.simulator.build import build_facility  # noqa: E402
from minewatch.simulator.publisher import messages_at  # noqa: E402
from tests.support.mosquitto import start_mosquitto  # noqa: E402
from tests.support.mqtt import (  # noqa: E402
    Publisher,
    facility_file,
    simulate_command,
    start_collect_process,
)


def sim_messages(cfg, n: int, start_s: float, n_rigs: int = 200) -> list[tuple[str, bytes]]:
    """``n`` messages from consecutive 5-second rounds of the demo facility's first ``n_rigs``
    rigs (and its hall sensors)."""
    facility = build_facility(cfg, n_rigs=n_rigs)
    out: list[tuple[str, bytes]] = []
    t = start_s
    while len(out) < n:
        out.extend(messages_at(facility, t, "demo"))
        t += 5
    return out[:n]


def drain_process(kind: str, port: int, config: Path, tree: Path, *args: str) -> subprocess.Popen:
    """``bench/collector_drain.py`` as a child we talk to through its stdin and stdout."""
    command = [sys.executable, str(ROOT / "bench" / "collector_drain.py"), kind]
    command += ["--port", str(port), "--config", str(config), "--tree", str(tree), *args]
    return subprocess.Popen(
        command,
        cwd=tree,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def publish(port: int, msgs: list[tuple[str, bytes]]) -> int:
    """Queue ``msgs`` at the broker on ``port`` (QoS 1); how many it confirmed."""
    pub = Publisher(port, client_id="bench-flood")
    n = 0
    for i in range(0, len(msgs), 5000):  # stay under paho's 65,535 in-flight message ids
        n += pub.publish_all(msgs[i : i + 5000])
    pub.close()
    return n


def child_drain(
    kind: str,
    work: Path,
    backlogs: list[list[tuple[str, bytes]]],
    n_rigs: int,
    tree: Path = ROOT,
    protocol: str = "5",
) -> list[dict[str, Any]]:
    """Drains of ``backlogs``, one after the other, by ``kind`` (``paho-3.1.1``, ``paho-5`` or
    ``collector``, with minewatch from ``tree``) in a fresh process (``bench/collector_drain.py``):
    it creates its session, we queue a backlog, it drains it, and so on. Every kind is timed
    alike, from connect to the last message handled, with the CPU time of its whole process,
    against a fresh Mosquitto of its own: no drain finds the sessions of other drains with their
    copies of its backlog queued. One result per backlog."""
    run = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=work))
    broker = start_mosquitto(run / "mosquitto")
    results = []
    try:
        config = facility_file(
            run, broker.port, n_rigs, batch_wait_ms=DEFAULT_BATCH_WAIT_MS, protocol=protocol
        )
        child = drain_process(kind, broker.port, config, tree)
        assert child.stdin is not None and child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{kind} drain did not start")
        for msgs in backlogs:
            child.stdin.write(f"{publish(broker.port, msgs)}\n")
            child.stdin.flush()
            results.append(json.loads(child.stdout.readline()))
        child.stdin.close()
        child.wait(60)
    finally:
        broker.stop()
    for out in results:
        if out["handled"] < out["messages"]:
            raise RuntimeError(f"{kind} drained {out['handled']} of {out['messages']} messages")
        out["rate"] = out["messages"] / out["seconds"]
        out["cpu_per_msg"] = out["cpu_s"] / out["messages"]
    return results


DEFAULT_BATCH_WAIT_MS = MqttSettings.model_fields["batch_wait_ms"].default
COLLECT = [sys.executable, "-m", "minewatch.cli", "collect", "--config"]


def shared_drain(work: Path, processes: int, publish) -> tuple[float, float, int]:
    """(messages/s, CPU s per message over all processes, samples stored) of ``processes``
    ``minewatch collect`` processes sharing one ``$share`` subscription, draining a backlog.
    Timed from the first sample in the store to the last (process start-up excluded), counting
    only the messages stored in that window (not the first batch, stored before it opened); the
    store is polled every 0.1 s, so the figure is good to ~0.1 s. A broker of its own: sessions of
    earlier runs would take a copy (or, in the group, a share) of every message."""
    run = work / f"shared-{processes}"
    broker = start_mosquitto(run / "mosquitto")
    try:
        return _shared_drain(run, broker.port, processes, publish)
    finally:
        broker.stop()


def _shared_drain(run: Path, port: int, processes: int, publish) -> tuple[float, float, int]:
    config = facility_file(
        run, port, n_rigs=200, shared_group="bench", batch_wait_ms=DEFAULT_BATCH_WAIT_MS
    )
    args = ["--mqtt-only"]

    def start(i: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*COLLECT, str(config), "--client-id", f"bench-{processes}-{i}", *args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=(run / f"c{i}.log").open("ab"),
        )

    def stop(procs: list[subprocess.Popen[bytes]]) -> None:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(120)

    procs = [
        start_collect_process(
            config, run / f"c{i}.log", "--client-id", f"bench-{processes}-{i}", *args
        )
        for i in range(processes)
    ]
    stop(procs)  # the sessions and their shared subscription stay with the broker
    total = publish(port)
    db = run / "data" / "telemetry.db"
    procs = [start(i) for i in range(processes)]

    def stored() -> int:
        if not db.exists():
            return 0
        conn = sqlite3.connect(db, timeout=30)
        try:
            return conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        except sqlite3.OperationalError:  # schema not created yet
            return 0
        finally:
            conn.close()

    def cpu_s() -> float:
        ticks = os.sysconf("SC_CLK_TCK")
        return sum(
            sum(int(x) for x in Path(f"/proc/{p.pid}/stat").read_text().split()[13:15]) / ticks
            for p in procs
        )

    deadline = time.monotonic() + 600
    while (n := stored()) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    t0, cpu0, first = time.perf_counter(), cpu_s(), n
    last, still = n, 0
    while still < 20 and time.monotonic() < deadline:  # 2 s without a new sample: drained
        time.sleep(0.1)
        n = stored()
        still = still + 1 if n == last else 0
        if n != last:
            t1, cpu1, last = time.perf_counter(), cpu_s(), n
    stop(procs)
    # only what was stored inside the window counts (the first batch was stored before it opened)
    in_window = total * (last - first) / last
    return in_window / (t1 - t0), (cpu1 - cpu0) / in_window, last


def live_stream(
    config: Path, port: int, rigs: int, interval_s: float, seconds: float, tree: Path = ROOT
) -> dict[str, Any]:
    """The simulator CLI (this tree's, its own process) publishes ``rigs`` rigs every
    ``interval_s`` for ``seconds``; the collector of ``tree`` (its own process,
    ``bench/collector_drain.py --live``) stores them: does it keep up, how far behind (lag = store
    time - sample time) does it get?"""
    child = drain_process("collector", port, config, tree, "--live", str(seconds))
    assert child.stdin is not None and child.stdout is not None
    if child.stdout.readline().strip() != "ready":
        raise RuntimeError("live collector did not start")
    sim = subprocess.Popen(
        simulate_command(config, port, rigs, interval_s),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    time.sleep(seconds)
    sim.send_signal(signal.SIGTERM)
    out, _ = sim.communicate(timeout=60)
    sent = int(out.rsplit(", ", 1)[1].split()[0])  # "..., N confirmed by the broker"
    child.stdin.write(f"{sent}\n")
    child.stdin.flush()
    live: dict[str, Any] = json.loads(child.stdout.readline())
    child.wait(60)
    live["publish_rate"] = sent / seconds
    return live


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flood", type=int, default=50_000)
    ap.add_argument("--rate", type=int, default=3000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument(
        "--processes", type=int, default=1, help="also drain with N processes on $share (N >= 2)"
    )
    ap.add_argument(
        "--before",
        type=Path,
        help="also drain with the collector of this source tree (e.g. a git archive of main)",
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-collector-"))
    try:
        n_rigs = max(200, args.rate)  # the live stream's registry; the flood's rigs are among them
        # the shipped batch wait (the tests' facility files shorten it to 50 ms for latency; a
        # flood then commits ~3x as many smaller batches)
        cfg = load_facility(facility_file(work, 1883, n_rigs))  # for its layout: port unused
        msgs = sim_messages(cfg, args.flood, time.time() - 86400)
        print(f"load average before: {load()} on {os.cpu_count()} cores")
        bases = {
            name: child_drain(kind, work, [msgs], n_rigs)[0]
            for name, kind in (("MQTT 3.1.1", "paho-3.1.1"), ("MQTT 5", "paho-5"))
        }
        # (name, tree, protocol): the shipped default (MQTT 5), then the same code on MQTT 3.1.1,
        # the like-for-like drain of the 3.1.1 baseline (docs/collector-mqtt.md, "Protocol")
        runs = [("collector", ROOT, "5"), ("collector", ROOT, "3.1.1")]
        if args.before:
            runs.insert(0, (f"before ({args.before.name})", args.before, "5"))
        cols = {
            (name, protocol): child_drain("collector", work, [msgs], n_rigs, tree, protocol)[0]
            for name, tree, protocol in runs
        }
        samples_per_msg = cols["collector", "5"]["samples"] / len(msgs)
        print(
            f"flood of {len(msgs):,} simulator messages "
            f"(~{sum(len(p) for _, p in msgs) / len(msgs):.0f} B, "
            f"{samples_per_msg:.1f} samples each), Mosquitto QoS 1, persistent session backlog, "
            "each drain in its own process, connect to last message handled:"
        )
        for name, base in bases.items():
            print(
                f"  baseline bare paho, {name:<10}      : {base['rate']:8,.0f} msg/s   "
                f"{base['cpu_per_msg'] * 1e6:6.0f} us CPU/msg"
            )
        for (name, protocol), col in cols.items():
            print(
                f"  {name} (MQTT {protocol}) -> SQLite, ack after write: "
                f"{col['rate']:8,.0f} msg/s   {col['cpu_per_msg'] * 1e6:6.0f} us CPU/msg   "
                f"{col['rate'] * samples_per_msg:,.0f} samples/s   ({col['batches']} batches, "
                f"rejected {col['rejected'] or 'none'})"
            )
            for bname, base in bases.items():
                print(
                    f"    ratio to {bname:<10}: {col['rate'] / base['rate']:5.2f} (rate)   "
                    f"{base['cpu_per_msg'] / col['cpu_per_msg']:5.2f} (CPU)"
                )
        print(f"  load average after: {load()}")
        if args.processes >= 2:
            shared = {
                n: shared_drain(work, n, lambda port: publish(port, msgs))
                for n in (1, args.processes)
            }
            print("shared subscription, minewatch collect processes on $share/bench:")
            for n, (r, c, stored) in shared.items():
                print(
                    f"  {n} process(es): {r:8,.0f} msg/s   {c * 1e6:6.0f} us CPU/msg (all "
                    f"processes)   {stored:,} samples stored"
                )
            print(
                f"  speed-up {shared[args.processes][0] / shared[1][0]:.2f}; load average {load()}"
            )
        broker = start_mosquitto(work / "mosquitto-live")
        try:
            live_path = facility_file(
                work / "live", broker.port, n_rigs, batch_wait_ms=DEFAULT_BATCH_WAIT_MS
            )
            live = live_stream(live_path, broker.port, args.rate, 1, args.seconds)
        finally:
            broker.stop()
        print(
            f"live stream: simulator process, {args.rate:,} rigs each publishing once a second, "
            f"{args.seconds:g} s:"
        )
        print(
            f"  published {live['sent']:,} ({live['publish_rate']:,.0f} msg/s); acked "
            f"{live['acked']:,} "
            f"({live['samples']:,} samples); "
            f"caught up {live['catch_up_s']:.2f} s after the simulator stopped"
        )
        print(
            f"  lag (store time - sample time) p50 {live['lag_p50_s'] * 1000:,.0f} ms, "
            f"max {live['lag_max_s'] * 1000:,.0f} ms; max queue depth {live['max_queue']}"
        )
        print(f"load average at the end: {load()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
