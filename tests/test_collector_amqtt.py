"""The demo's fallback broker (amqtt, MQTT 3.1.1, in-process): simulator → amqtt → collector →
store."""

from __future__ import annotations

from pathlib import Path

from minewatch.broker import EmbeddedBroker
from minewatch.collector.mqtt import MqttCollector
from minewatch.config import load_facility
from minewatch.profiles import load_facility_profiles
from minewatch.registry import facility_registry
from minewatch.simulator.build import build_facility
from minewatch.store import SqliteStore
from tests.support.mqtt import facility_file, publish_sim_rounds, wait_for


def test_collector_and_simulator_over_amqtt(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path / "amqtt", prefer="amqtt")
    broker.start()
    try:
        cfg = load_facility(facility_file(tmp_path, broker.port, n_rigs=20, protocol="3.1.1"))
        profiles = load_facility_profiles(cfg)
        col = MqttCollector(
            cfg, SqliteStore(tmp_path / "t.db"), profiles, facility_registry(cfg, set(profiles))
        )
        col.start()
        assert col.wait_ready(15)
        sent = publish_sim_rounds(build_facility(cfg), broker.port, rounds=3)
        wait_for(
            lambda: col.stats()["acked"] == sent, what="every message acknowledged through amqtt"
        )
        col.stop()
    finally:
        broker.stop()
    per_round = 10 * 12 + 10 * 8 + 2 * 2  # first 20 rigs: 10 S21, 10 S21 Hydro; 2 hall sensors
    assert sent == 3 * 22 and col.stats()["stored_samples"] == 3 * per_round
    assert col.stats()["rejected_total"] == {}
