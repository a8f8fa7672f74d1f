"""The harness's broker is a real Mosquitto that keeps QoS 1 messages for a persistent session."""

from __future__ import annotations

import subprocess
import time

from tests.support.mosquitto import Broker


def test_broker_round_trip(mosquitto: Broker) -> None:
    sub = subprocess.Popen(
        ["mosquitto_sub", "-p", str(mosquitto.port), "-t", "t/x", "-C", "1", "-W", "10"],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.3)
    subprocess.run(
        ["mosquitto_pub", "-p", str(mosquitto.port), "-t", "t/x", "-m", "hello", "-q", "1"],
        check=True,
    )
    out, _ = sub.communicate(timeout=10)
    assert out.strip() == "hello"
