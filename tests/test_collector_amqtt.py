"""The demo's fallback broker (amqtt, MQTT 3.1.1, in-process): simulator → amqtt → collector → store."""

from __future__ import annotations

from pathlib import Path

from collector.context import facility_profiles, facility_registry
from collector.mqtt import MqttCollector
from minewatch.broker import EmbeddedBroker
from minewatch.config import load_facility
from minewatch.store import SqliteStore
from simulator.build import build_facility
from simulator.publisher import SimPublisher
from tests.support.mqtt import facility_file, wait_for


def test_collector_and_simulator_over_amqtt(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path / "amqtt", prefer="amqtt")
    broker.start()
    try:
        cfg = load_facility(facility_file(tmp_path, broker.port, n_rigs=20, protocol="3.1.1"))
        profiles = facility_profiles(cfg)
        col = MqttCollector(cfg, SqliteStore(tmp_path / "t.db"), profiles, facility_registry(cfg, profiles))
        col.start()
        assert col.wait_ready(15)
        t = [1_795_600_000.0]
        pub = SimPublisher(build_facility(cfg), "127.0.0.1", broker.port, interval_s=3600, clock=lambda: t[0])
        pub.start()
        assert pub.wait_ready(15)
        wait_for(lambda: pub.stats().get("rounds", 0) >= 1, what="first round")
        for _ in range(2):
            t[0] += 5
            pub.publish_once()
        sent = pub.stats()["published"]
        wait_for(lambda: col.stats()["acked"] == sent, what="every message acknowledged through amqtt")
        pub.stop()
        col.stop()
    finally:
        broker.stop()
    per_round = 10 * 12 + 10 * 8 + 2 * 2  # first 20 rigs: 10 S21, 10 S21 Hydro; 2 hall sensors
    assert sent == 3 * 22 and col.stats()["stored_samples"] == 3 * per_round
    assert col.stats()["rejected_total"] == {}
