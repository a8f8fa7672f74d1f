"""MQTT test helpers: a facility file pointing at the test broker, a QoS 1 publisher that
confirms every message, and polling for a condition."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from minewatch.simulator.layout import registry_csv
from tests.support.waiting import wait_for

DEMO = Path(__file__).parents[2] / "examples" / "demo" / "facility.yaml"


def facility_file(tmp_path: Path, port: int, n_rigs: int = 20, **mqtt_over: Any) -> Path:
    """The demo facility, with its MQTT settings aimed at the test broker and a ``n_rigs``
    registry."""
    data = yaml.safe_load(DEMO.read_text())
    data["mqtt"].update(
        {"port": port, "client_id": f"test-collector-{port}", "batch_wait_ms": 50, **mqtt_over}
    )
    data["storage"]["data_dir"] = str(tmp_path / "data")
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "facility.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    (tmp_path / "registry.csv").write_text(registry_csv(n_rigs))
    return path


class Publisher:
    """A paho QoS 1 publisher whose ``publish_all`` returns once the broker has every message."""

    def __init__(self, port: int, client_id: str = "test-publisher") -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.max_inflight_messages_set(1000)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish_all(
        self, messages: Iterable[tuple[str, bytes]], qos: int = 1, timeout_s: float = 60
    ) -> int:
        infos = []
        for topic, payload in messages:
            info = self.client.publish(topic, payload, qos=qos)
            assert info.rc == mqtt.MQTT_ERR_SUCCESS, f"publish to {topic} refused: rc={info.rc}"
            infos.append(info)
        for info in infos:
            info.wait_for_publish(timeout_s)
        return len(infos)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Subscriber:
    """Collects every message on ``topic`` (for checking what a publisher sent)."""

    def __init__(self, port: int, topic: str, client_id: str = "test-subscriber") -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_message = lambda _c, _u, m: self._add(m)
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10), "subscription not confirmed"

    def _add(self, m: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(m)

    def snapshot(self) -> list[mqtt.MQTTMessage]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


#: The first rack of the demo layout: ten Antminer S21s (12 metrics per full payload).
S21_SERIALS = [f"BMS21-{i:06d}" for i in range(1, 11)]
S21_METRICS = 12
RIG_TOPIC = "site/demo/rigs/{}/status"


def s21_payload(serial: str, ts_ns: int, seq: int = 0, **over: Any) -> dict[str, Any]:
    """A full agent payload for an Antminer S21 at ``ts_ns`` (RFC 3339 with ms)."""
    secs, ns = divmod(ts_ns, 1_000_000_000)
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{ns // 1_000_000:03d}Z"
    p: dict[str, Any] = {
        "ts": ts,
        "serial": serial,
        "model": "antminer-s21",
        "status": "mining",
        "power_w": 3500.0 + seq % 50,
        "hashrate_ths": 200.0 - seq % 7,
        "temp": {"chip_max": 70.0 + seq % 5, "board_max": 60.0, "inlet": 28.0, "outlet": 47.0},
        "fans": [5400, 5410, 5390, 5405],
        "error_code": 0,
    }
    p.update(over)
    return p


def publish_sim_rounds(
    facility: Any, port: int, rounds: int, start_s: float = 1_795_600_000.0, step_s: float = 5.0
) -> int:
    """Publish ``rounds`` rounds of a simulated facility at fixed simulated times ``start_s``,
    ``start_s + step_s``, ...; returns how many messages the broker confirmed."""
    from minewatch.simulator.publisher import SimPublisher

    t = [start_s]
    pub = SimPublisher(facility, "127.0.0.1", port, interval_s=3600, clock=lambda: t[0])
    pub.start()
    assert pub.wait_ready(15)
    wait_for(lambda: pub.stats().get("rounds", 0) >= 1, what="first round")
    for _ in range(rounds - 1):
        t[0] += step_s
        pub.publish_once()
    pub.stop()
    return pub.stats()["delivered"]


def simulate_command(
    config: Path, port: int, rigs: int, interval_s: float, *args: str
) -> list[str]:
    """``minewatch simulate`` publishing ``rigs`` rigs every ``interval_s`` to the broker on
    ``port`` (the configuration's own broker is overridden)."""
    return [
        *(sys.executable, "-m", "minewatch.cli", "simulate", "--config", str(config)),
        *("--broker", f"127.0.0.1:{port}", "--rigs", str(rigs), "--interval", f"{interval_s:g}"),
        *args,
    ]


def start_collect_process(config: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``minewatch collect`` as a subprocess, logging to ``log``; returns once it has subscribed."""
    before = log.read_text().count("subscriptions confirmed") if log.exists() else 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "minewatch.cli", "collect", "--config", str(config), *args],
        cwd=Path(__file__).parents[2],
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )
    wait_for(
        lambda: (
            proc.poll() is not None or log.read_text().count("subscriptions confirmed") > before
        ),
        timeout_s=30,
        what="collector subscribed",
    )
    assert proc.poll() is None, log.read_text()
    return proc
