"""MQTT collector throughput: Mosquitto → collector (decode, SQLite write, ack) vs a bare paho
subscriber.

Measurements against a real Mosquitto on loopback, in the same run:

1. **Flood** — a backlog of N messages (default 50,000 simulator rig payloads) queued by the broker
   for a persistent session, then drained: by a bare paho QoS 1 subscriber with an empty handler
   (the baseline: what one paho client can take in at all), once over MQTT 3.1.1 and once over
   MQTT 5 (the collector's default protocol, whose per-message properties cost paho ~10 µs), and
   by the collector (decode + write + ack after write). Ratio = collector rate / baseline rate.
   Each drain reports CPU time per message (all threads) beside the rate, and the load average.
1b. **Shared subscription** (``--processes N``, N >= 2) — the same backlog queued for N
   ``minewatch collect`` processes on one ``$share`` group, drained by all of them, against one
   such process in the same run: time from the first sample stored to the last.
2. **Live stream** — the simulator (its own process) publishing a facility-scale rate (default
   3,000 rigs once a second = 3,000 msg/s, about 30,000 rigs every 10 s, the largest site
   minewatch plans for) for some seconds: does the collector keep up, and how far behind
   (lag = store time - sample time) does it get?

Run: ``python bench/collector_mqtt.py [--flood 50000] [--rate 3000] [--seconds 10] [--processes 2]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from minewatch.collector.mqtt import MqttCollector  # noqa: E402
from minewatch.config import load_facility  # noqa: E402
from minewatch.config.mqtt import MqttSettings  # noqa: E402
from minewatch.profiles import load_facility_profiles  # noqa: E402
from minewatch.registry import facility_registry  # noqa: E402
from minewatch.simulator.build import build_facility  # noqa: E402
from minewatch.simulator.publisher import messages_at  # noqa: E402
from minewatch.store import SqliteStore  # noqa: E402
from tests.support.mosquitto import start_mosquitto  # noqa: E402
from tests.support.mqtt import (  # noqa: E402
    Publisher,
    facility_file,
    simulate_command,
    start_collect_process,
)


def sim_messages(cfg, n: int, start_s: float) -> list[tuple[str, bytes]]:
    """``n`` messages from consecutive 5-second rounds of the 200-rig demo facility."""
    facility = build_facility(cfg, n_rigs=200)
    out: list[tuple[str, bytes]] = []
    t = start_s
    while len(out) < n:
        out.extend(messages_at(facility, t, "demo"))
        t += 5
    return out[:n]


def baseline_drain(port: int, topic: str, publish, protocol: int) -> tuple[float, float]:
    """(messages/s, CPU s per message) of a bare paho QoS 1 subscriber (empty handler, auto-ack)
    draining a backlog. CPU time per message is the figure that survives a busy machine."""
    got = [0]
    done = threading.Event()
    total = [0]
    v5 = protocol == mqtt.MQTTv5

    def on_message(_c, _u, _m) -> None:
        got[0] += 1
        if got[0] >= total[0]:
            done.set()

    def client() -> mqtt.Client:
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"bench-baseline-{protocol}",
            clean_session=None if v5 else False,
            protocol=protocol,
        )
        c.on_message = on_message
        c.on_connect = lambda cl, *_: cl.subscribe(topic, qos=1)
        return c

    def connect(c: mqtt.Client) -> None:
        if v5:  # keep the session (and its backlog) across the disconnect
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
            c.connect("127.0.0.1", port, clean_start=False, properties=props)
        else:
            c.connect("127.0.0.1", port)

    c = client()
    subscribed = threading.Event()
    c.on_subscribe = lambda *_: subscribed.set()
    connect(c)
    c.loop_start()
    subscribed.wait(10)
    c.disconnect()
    c.loop_stop()
    total[0] = publish()
    c = client()
    t0, cpu0 = time.perf_counter(), time.process_time()
    connect(c)
    c.loop_start()
    done.wait(600)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    c.disconnect()
    c.loop_stop()
    return total[0] / elapsed, cpu / total[0]


def collector_drain(cfg, store, publish) -> tuple[float, float, dict]:
    profiles = load_facility_profiles(cfg)
    registry = facility_registry(cfg, set(profiles))
    col = MqttCollector(cfg, store, profiles, registry)
    col.start()
    col.wait_ready(10)
    col.stop()
    total = publish()
    col = MqttCollector(cfg, store, profiles, registry)
    t0, cpu0 = time.perf_counter(), time.process_time()
    col.start()
    while col.stats()["acked"] < total:
        time.sleep(0.01)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    col.stop()
    return total / elapsed, cpu / total, col.stats()


DEFAULT_BATCH_WAIT_MS = MqttSettings.model_fields["batch_wait_ms"].default
COLLECT = [sys.executable, "-m", "minewatch.cli", "collect", "--config"]


def shared_drain(work: Path, processes: int, publish) -> tuple[float, float, int]:
    """(messages/s, CPU s per message over all processes, samples stored) of ``processes``
    ``minewatch collect`` processes sharing one ``$share`` subscription, draining a backlog.
    Timed from the first sample in the store to the last (process start-up excluded); the store
    is polled every 0.1 s, so the figure is good to ~0.1 s. A broker of its own: sessions of
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
    t0, cpu0 = time.perf_counter(), cpu_s()
    last, still = n, 0
    while still < 20 and time.monotonic() < deadline:  # 2 s without a new sample: drained
        time.sleep(0.1)
        n = stored()
        still = still + 1 if n == last else 0
        if n != last:
            t1, cpu1, last = time.perf_counter(), cpu_s(), n
    stop(procs)
    return total / (t1 - t0), (cpu1 - cpu0) / total, last


def live_stream(cfg, config_path: Path, store, port: int, rate: int, seconds: float) -> dict:
    """The simulator CLI in its own process (so it does not share our GIL) publishes ``rate`` rigs
    once a second; the collector runs here."""
    profiles = load_facility_profiles(cfg)
    col = MqttCollector(cfg, store, profiles, facility_registry(cfg, set(profiles)))
    col.start()
    col.wait_ready(10)
    sim = subprocess.Popen(
        simulate_command(config_path, port, rate, 1),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lags, depths = [], []
    t_start = time.perf_counter()
    while time.perf_counter() - t_start < seconds:
        time.sleep(0.1)
        st = col.stats()
        if st["lag_s"] is not None:
            lags.append(st["lag_s"])
        depths.append(st["queue_depth"])
    sim.send_signal(signal.SIGTERM)
    out, _ = sim.communicate(timeout=60)
    sent = int(out.rsplit(", ", 1)[1].split()[0])  # "..., N confirmed by the broker"
    t_end = time.perf_counter()
    while col.stats()["acked"] < sent and time.perf_counter() - t_end < 120:
        time.sleep(0.01)
    catch_up_s = time.perf_counter() - t_end
    st = col.stats()
    col.stop()
    lags.sort()
    return {
        "sent": sent,
        "publish_rate": sent / seconds,
        "acked": st["acked"],
        "catch_up_s": catch_up_s,
        "lag_p50_s": lags[len(lags) // 2] if lags else None,
        "lag_max_s": lags[-1] if lags else None,
        "max_queue": max(depths),
        "stored_samples": st["stored_samples"],
    }


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
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-collector-"))
    broker = start_mosquitto(work / "mosquitto")
    try:
        # the shipped batch wait (the tests' facility files shorten it to 50 ms for latency; a
        # flood then commits ~3x as many smaller batches)
        config_path = facility_file(
            work, broker.port, n_rigs=max(200, args.rate), batch_wait_ms=DEFAULT_BATCH_WAIT_MS
        )
        cfg = load_facility(config_path)
        msgs = sim_messages(cfg, args.flood, time.time() - 86400)

        def publish(port: int) -> int:
            pub = Publisher(port, client_id="bench-flood")
            n = 0
            for i in range(0, len(msgs), 5000):  # stay under paho's 65,535 in-flight message ids
                n += pub.publish_all(msgs[i : i + 5000])
            pub.close()
            return n

        print(f"load average before: {load()} on {os.cpu_count()} cores")
        bases = {
            name: baseline_drain(broker.port, "site/demo/#", lambda: publish(broker.port), proto)
            for name, proto in (("MQTT 3.1.1", mqtt.MQTTv311), ("MQTT 5", mqtt.MQTTv5))
        }
        rate, cpu, st = collector_drain(
            cfg, SqliteStore(work / "flood.db"), lambda: publish(broker.port)
        )
        samples_per_msg = st["stored_samples"] / st["acked"]
        print(
            f"flood of {len(msgs):,} simulator messages "
            f"(~{sum(len(p) for _, p in msgs) / len(msgs):.0f} B, "
            f"{samples_per_msg:.1f} samples each), Mosquitto QoS 1, persistent session backlog:"
        )
        for name, (base, base_cpu) in bases.items():
            print(
                f"  baseline bare paho, {name:<10}      : {base:8,.0f} msg/s   "
                f"{base_cpu * 1e6:6.0f} us CPU/msg"
            )
        print(
            f"  collector (MQTT {cfg.mqtt.protocol}) -> SQLite, ack after write: {rate:8,.0f} msg/s"
            f"   {cpu * 1e6:6.0f} us CPU/msg   {rate * samples_per_msg:,.0f} samples/s"
            f"   ({st['batches']} batches)"
        )
        for name, (base, base_cpu) in bases.items():
            print(
                f"  ratio collector / {name:<10}       : {rate / base:8.2f} (rate)   "
                f"{base_cpu / cpu:6.2f} (CPU)"
            )
        print(f"  load average after: {load()}")
        print(f"  rejected: {st['rejected_total']}")
        if args.processes >= 2:
            shared = {n: shared_drain(work, n, publish) for n in (1, args.processes)}
            print("shared subscription, minewatch collect processes on $share/bench:")
            for n, (r, c, stored) in shared.items():
                print(
                    f"  {n} process(es): {r:8,.0f} msg/s   {c * 1e6:6.0f} us CPU/msg (all "
                    f"processes)   {stored:,} samples stored"
                )
            print(
                f"  speed-up {shared[args.processes][0] / shared[1][0]:.2f}; load average {load()}"
            )
        broker.stop()  # the sessions of the flood would take a copy of every later message
        broker = start_mosquitto(work / "mosquitto-live")
        live_path = facility_file(
            work / "live", broker.port, max(200, args.rate), batch_wait_ms=DEFAULT_BATCH_WAIT_MS
        )
        live = live_stream(
            load_facility(live_path),
            live_path,
            SqliteStore(work / "live.db"),
            broker.port,
            args.rate,
            args.seconds,
        )
        print(
            f"live stream: simulator process, {args.rate:,} rigs each publishing once a second, "
            f"{args.seconds:g} s:"
        )
        print(
            f"  published {live['sent']:,} ({live['publish_rate']:,.0f} msg/s); acked "
            f"{live['acked']:,} "
            f"({live['stored_samples']:,} samples); "
            f"caught up {live['catch_up_s']:.2f} s after the simulator stopped"
        )
        print(
            f"  lag (store time - sample time) p50 {live['lag_p50_s'] * 1000:,.0f} ms, "
            f"max {live['lag_max_s'] * 1000:,.0f} ms; max queue depth {live['max_queue']}"
        )
        print(f"load average at the end: {load()}")
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
