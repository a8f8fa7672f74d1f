"""MQTT collector throughput: Mosquitto → collector (decode, SQLite write, ack) vs a bare paho
subscriber.

Two measurements, both against a real Mosquitto on loopback, in the same run:

1. **Flood** — a backlog of N messages (default 50,000 simulator rig payloads) queued by the broker
   for a persistent session, then drained: by a bare paho QoS 1 subscriber with an empty handler
   (the baseline: what one paho client can take in at all) and by the collector (decode + write +
   ack after write). Ratio = collector rate / baseline rate.
2. **Live stream** — the simulator (its own process) publishing a facility-scale rate (default
   3,000 rigs once a second = 3,000 msg/s, about 30,000 rigs every 10 s, the largest site
   minewatch plans for) for some seconds: does the collector keep up, and how far behind
   (lag = store time - sample time) does it get?

Run: ``python bench/collector_mqtt.py [--flood 50000] [--rate 3000] [--seconds 10]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
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

from minewatch.collector.mqtt import MqttCollector  # noqa: E402
from minewatch.config import load_facility  # noqa: E402
from minewatch.profiles import load_facility_profiles  # noqa: E402
from minewatch.registry import facility_registry  # noqa: E402
from minewatch.simulator.build import build_facility  # noqa: E402
from minewatch.simulator.publisher import messages_at  # noqa: E402
from minewatch.store import SqliteStore  # noqa: E402
from tests.support.mosquitto import start_mosquitto  # noqa: E402
from tests.support.mqtt import Publisher, facility_file  # noqa: E402


def sim_messages(cfg, n: int, start_s: float) -> list[tuple[str, bytes]]:
    """``n`` messages from consecutive 5-second rounds of the 200-rig demo facility."""
    facility = build_facility(cfg, n_rigs=200)
    out: list[tuple[str, bytes]] = []
    t = start_s
    while len(out) < n:
        out.extend(messages_at(facility, t, "demo"))
        t += 5
    return out[:n]


def baseline_drain(port: int, topic: str, publish) -> tuple[float, float]:
    """(messages/s, CPU s per message) of a bare paho QoS 1 subscriber (empty handler, auto-ack)
    draining a backlog. CPU time per message is the figure that survives a busy machine."""
    got = [0]
    done = threading.Event()
    total = [0]

    def on_message(_c, _u, _m) -> None:
        got[0] += 1
        if got[0] >= total[0]:
            done.set()

    def client() -> mqtt.Client:
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="bench-baseline", clean_session=False
        )
        c.on_message = on_message
        c.on_connect = lambda cl, *_: cl.subscribe(topic, qos=1)
        return c

    c = client()
    subscribed = threading.Event()
    c.on_subscribe = lambda *_: subscribed.set()
    c.connect("127.0.0.1", port)
    c.loop_start()
    subscribed.wait(10)
    c.disconnect()
    c.loop_stop()
    total[0] = publish()
    c = client()
    t0, cpu0 = time.perf_counter(), time.process_time()
    c.connect("127.0.0.1", port)
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


def live_stream(cfg, config_path: Path, store, port: int, rate: int, seconds: float) -> dict:
    """The simulator CLI in its own process (so it does not share our GIL) publishes ``rate`` rigs
    once a second; the collector runs here."""
    profiles = load_facility_profiles(cfg)
    col = MqttCollector(cfg, store, profiles, facility_registry(cfg, set(profiles)))
    col.start()
    col.wait_ready(10)
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "minewatch.cli",
            "simulate",
            "--config",
            str(config_path),
            "--broker",
            f"127.0.0.1:{port}",
            "--rigs",
            str(rate),
            "--interval",
            "1",
        ],
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flood", type=int, default=50_000)
    ap.add_argument("--rate", type=int, default=3000)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-collector-"))
    broker = start_mosquitto(work / "mosquitto")
    try:
        config_path = facility_file(work, broker.port, n_rigs=max(200, args.rate))
        cfg = load_facility(config_path)
        msgs = sim_messages(cfg, args.flood, time.time() - 86400)
        samples_per_msg = None

        def publish() -> int:
            pub = Publisher(broker.port, client_id="bench-flood")
            n = 0
            for i in range(0, len(msgs), 5000):  # stay under paho's 65,535 in-flight message ids
                n += pub.publish_all(msgs[i : i + 5000])
            pub.close()
            return n

        base, base_cpu = baseline_drain(broker.port, "site/demo/#", publish)
        rate, cpu, st = collector_drain(cfg, SqliteStore(work / "flood.db"), publish)
        samples_per_msg = st["stored_samples"] / st["acked"]
        print(
            f"flood of {len(msgs):,} simulator messages "
            f"(~{sum(len(p) for _, p in msgs) / len(msgs):.0f} B, "
            f"{samples_per_msg:.1f} samples each), Mosquitto QoS 1, persistent session backlog:"
        )
        print(
            f"  baseline bare paho subscriber       : {base:8,.0f} msg/s   {base_cpu * 1e6:6.0f} "
            "us CPU/msg"
        )
        print(
            f"  collector -> SQLite, ack after write: {rate:8,.0f} msg/s   {cpu * 1e6:6.0f} us "
            "CPU/msg"
            f"   {rate * samples_per_msg:,.0f} samples/s"
        )
        print(
            f"  ratio collector / baseline          : {rate / base:8.2f} (rate)   "
            f"{base_cpu / cpu:6.2f} (CPU)"
        )
        print(
            f"  machine load average: {Path('/proc/loadavg').read_text().split()[0]} on "
            f"{os.cpu_count()} cores"
        )
        print(f"  rejected: {st['rejected_total']}")
        live = live_stream(
            cfg, config_path, SqliteStore(work / "live.db"), broker.port, args.rate, args.seconds
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
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
