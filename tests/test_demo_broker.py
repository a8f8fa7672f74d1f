"""The demo's broker helper: both kinds carry a QoS 1 message from a publisher to a subscriber."""

from __future__ import annotations

import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from minewatch.broker import EmbeddedBroker


def _roundtrip(broker: EmbeddedBroker) -> bytes:
    version = mqtt.MQTTv5 if broker.protocol == "5" else mqtt.MQTTv311
    got: list[bytes] = []
    done = threading.Event()
    subscribed = threading.Event()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="t-sub", protocol=version)
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.on_message = lambda c, u, msg: (got.append(msg.payload), done.set())
    sub.connect(broker.host, broker.port)
    sub.loop_start()
    sub.subscribe("site/+/status", qos=1)
    assert subscribed.wait(10)

    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="t-pub", protocol=version)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    pub.publish("site/rig1/status", b'{"power_w": 3500}', qos=1).wait_for_publish(10)
    assert done.wait(10)
    for c in (pub, sub):
        c.loop_stop()
        c.disconnect()
    return got[0]


@pytest.mark.parametrize("kind", ["mosquitto", "amqtt"])
def test_broker_carries_messages_and_stops(kind: str, tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path / kind, prefer=kind)  # type: ignore[arg-type]
    broker.start()
    try:
        assert broker.stats()["running"] is True
        assert _roundtrip(broker) == b'{"power_w": 3500}'
    finally:
        broker.stop()
    assert broker.stats()["running"] is False
    broker.stop()  # idempotent
