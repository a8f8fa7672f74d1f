"""``check-config --broker`` against real Mosquitto brokers: one set up for durability, one that
downgrades QoS, a QoS 0 set-up whose messages are not queued, and no broker at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from minewatch.collector.broker_probe import probe_broker
from minewatch.config import load_facility
from tests.support.mosquitto import Broker, start_mosquitto
from tests.support.mqtt import facility_file
from tests.support.ports import free_port

ROOT = Path(__file__).parents[1]


def test_a_durable_broker_gives_no_warning_and_the_cli_passes(
    tmp_path: Path, mosquitto: Broker
) -> None:
    config = facility_file(tmp_path, mosquitto.port)
    assert probe_broker(load_facility(config)) == []
    done = subprocess.run(
        [sys.executable, "-m", "minewatch.cli", "check-config", "--broker", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, f"{config}: OK"), done.stderr


def test_a_qos_downgrading_broker_is_reported(tmp_path: Path) -> None:
    broker = start_mosquitto(tmp_path / "mosquitto", extra="max_qos 0\n")
    try:
        found = probe_broker(load_facility(facility_file(tmp_path, broker.port)))
    finally:
        broker.stop()
    assert len(found) == 2, found  # the downgrade, and (at QoS 0) nothing queued
    assert found[0].startswith("the broker grants QoS 0 for a QoS 1 subscription")
    assert "not the message published while the probe was away" in found[1]


def test_no_broker_is_one_clear_problem(tmp_path: Path) -> None:
    port = free_port()
    found = probe_broker(load_facility(facility_file(tmp_path, port)), timeout_s=1.0)
    assert found == [f"no answer from the MQTT broker at 127.0.0.1:{port} in 1 s"]
