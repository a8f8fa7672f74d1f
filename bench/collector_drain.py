"""One MQTT drain in a fresh process, timed the same way whatever drains: the bench's child.

``bench/collector_mqtt.py`` and ``bench/plot_collector.py`` run every flood drain (the bare paho
subscribers of the baseline and the collector) through this script, each in its own process, so
that no drain inherits another's threads, heap or start-up, and all are timed alike: from just
before connecting to the moment a 10 ms poll sees the last message handled (bare paho: its
``on_message`` ran; collector: acknowledged after the write), CPU time of the whole process (all
threads) over the same window.

Protocol on stdin/stdout: the child creates its persistent session (connect, subscribe,
disconnect) and prints ``ready``; the parent queues a backlog and writes the number of messages
queued; the child drains them (a fresh client or collector each time, as after a restart) and
prints one JSON line with its figures; again for each further backlog, until stdin closes. (A
second backlog of the same rigs meets a store that knows them: the steady state, where the first
one also pays for every device's first sight.)

``--live SECONDS`` instead keeps the collector connected while the parent runs a publisher: the
child prints ``ready`` once subscribed, samples the collector's lag every 0.1 s for SECONDS, then
reads the number of messages published, waits until that many are acknowledged and prints its
figures.

``--tree DIR`` imports minewatch from DIR (e.g. a ``git archive`` of an earlier commit), so the
same harness times the code before and after a change.

Run by the benches: ``python bench/collector_drain.py {paho-3.1.1,paho-5,collector} --port P
--config facility.yaml [--tree DIR] [--live SECONDS]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

#: How often the drain's end is looked for (the same for every kind of drain).
POLL_S = 0.01
#: What the bare subscribers subscribe to: every topic of the demo facility's device groups.
TOPIC = "site/demo/#"
PAHO_PROTOCOLS = {"paho-3.1.1": mqtt.MQTTv311, "paho-5": mqtt.MQTTv5}


class BarePaho:
    """The baseline: a paho QoS 1 subscriber with a counting ``on_message`` (paho acknowledges
    each message as the callback returns) and a persistent session."""

    def __init__(self, port: int, topic: str, protocol: int) -> None:
        self.port, self.topic, self.protocol = port, topic, protocol
        self.handled = 0
        self.subscribed = threading.Event()
        self._client: mqtt.Client | None = None

    def start(self) -> None:
        v5 = self.protocol == mqtt.MQTTv5
        c = self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"bench-baseline-{self.protocol}",
            clean_session=None if v5 else False,
            protocol=self.protocol,
        )
        c.on_message = self._on_message
        c.on_connect = lambda cl, *_: cl.subscribe(self.topic, qos=1)
        c.on_subscribe = lambda *_: self.subscribed.set()
        if v5:  # keep the session (and its backlog) across the disconnect
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
            c.connect("127.0.0.1", self.port, clean_start=False, properties=props)
        else:
            c.connect("127.0.0.1", self.port)
        c.loop_start()

    def _on_message(self, _c: Any, _u: Any, _m: Any) -> None:
        self.handled += 1

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    def figures(self) -> dict[str, Any]:
        return {}


class Collector:
    """The collector of the tree on ``sys.path``, writing to the embedded SQLite store."""

    def __init__(self, config: Path) -> None:
        from minewatch.collector.mqtt import MqttCollector
        from minewatch.config import load_facility
        from minewatch.profiles import load_facility_profiles
        from minewatch.registry import facility_registry
        from minewatch.store import SqliteStore

        cfg = load_facility(config)
        profiles = load_facility_profiles(cfg)
        store = SqliteStore(config.parent / "bench.db")
        self._make = lambda: MqttCollector(
            cfg, store, profiles, facility_registry(cfg, set(profiles))
        )
        self.col = self._make()
        #: The stats of the last run, kept by ``stop``.
        self.last: dict[str, Any] = {}

    @property
    def handled(self) -> int:
        return int(self.col.stats()["acked"])

    def start(self) -> None:
        self.col.start()

    def wait_subscribed(self) -> bool:
        return self.col.wait_ready(10)

    def stop(self) -> None:
        self.col.stop()
        self.last = self.col.stats()
        self.col = self._make()  # a fresh one for the next start, as a restarted process

    def figures(self) -> dict[str, Any]:
        st = self.last
        return {
            "samples": st["stored_samples"],
            "batches": st["batches"],
            "rejected": st["rejected_total"],
        }


def timed(part: BarePaho | Collector, total: int) -> dict[str, Any]:
    """Wall and CPU seconds from just before ``part.start()`` until it handled ``total``."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    part.start()
    deadline = t0 + 600
    while part.handled < total and time.perf_counter() < deadline:
        time.sleep(POLL_S)
    return {
        "messages": total,
        "handled": part.handled,
        "seconds": time.perf_counter() - t0,
        "cpu_s": time.process_time() - cpu0,
    }


def drain(kind: str, port: int, config: Path) -> None:
    if kind == "collector":
        part: Any = Collector(config)
        part.start()
        part.wait_subscribed()
    else:
        part = BarePaho(port, TOPIC, PAHO_PROTOCOLS[kind])
        part.start()
        part.subscribed.wait(10)
    part.stop()
    print("ready", flush=True)
    for line in sys.stdin:  # one backlog after another, until the parent closes stdin
        if kind != "collector":  # a fresh client, as the collector makes a fresh one on stop
            part = BarePaho(port, TOPIC, PAHO_PROTOCOLS[kind])
        out = timed(part, int(line))
        part.stop()
        print(json.dumps({**out, **part.figures()}), flush=True)


def live(config: Path, seconds: float) -> None:
    part = Collector(config)
    part.start()
    part.wait_subscribed()
    print("ready", flush=True)
    lags: list[float] = []
    depths: list[int] = []
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        time.sleep(0.1)
        st = part.col.stats()
        if st["lag_s"] is not None:
            lags.append(st["lag_s"])
        depths.append(st["queue_depth"])
    sent = int(sys.stdin.readline())
    t0 = time.perf_counter()
    while part.handled < sent and time.perf_counter() - t0 < 120:
        time.sleep(POLL_S)
    catch_up_s = time.perf_counter() - t0
    part.stop()
    lags.sort()
    print(
        json.dumps(
            {
                "sent": sent,
                "acked": part.last["acked"],
                "samples": part.last["stored_samples"],
                "catch_up_s": catch_up_s,
                "lag_p50_s": lags[len(lags) // 2] if lags else None,
                "lag_max_s": lags[-1] if lags else None,
                "max_queue": max(depths),
            }
        ),
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kind", choices=[*PAHO_PROTOCOLS, "collector"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--live", type=float, default=0.0)
    args = ap.parse_args()
    sys.path.insert(0, str(args.tree))
    if args.live:
        live(args.config, args.live)
    else:
        drain(args.kind, args.port, args.config)


if __name__ == "__main__":
    main()
