"""The MQTT collector end to end through a real Mosquitto: good and bad input, store outages,
sessions."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson
import pytest

from minewatch.collector.decode import PayloadDecoder
from minewatch.collector.mqtt import MqttCollector
from minewatch.config import load_facility
from minewatch.profiles import load_facility_profiles
from minewatch.registry import facility_registry
from minewatch.sample import NS_PER_S, Sample, SampleBatch, now_ns
from minewatch.store import SqliteStore, StoreUnavailable
from tests.support.mosquitto import Broker, start_mosquitto
from tests.support.mqtt import (
    RIG_TOPIC,
    S21_METRICS,
    S21_SERIALS,
    Publisher,
    facility_file,
    s21_payload,
    wait_for,
)


def count_rows(store: SqliteStore) -> int:
    return len(store.query(0, 2**62))


def make_collector(
    tmp_path: Path, broker: Broker, store: SqliteStore | None = None, **over: object
) -> MqttCollector:
    cfg = load_facility(facility_file(tmp_path, broker.port, **over))
    profiles = load_facility_profiles(cfg)
    return MqttCollector(
        cfg, store or SqliteStore(cfg.telemetry_db), profiles, facility_registry(cfg, set(profiles))
    )


@pytest.fixture
def publisher(mosquitto: Broker) -> Iterator[Publisher]:
    pub = Publisher(mosquitto.port)
    yield pub
    pub.close()


def good_stream(n_per_rig: int, t0: int) -> list[tuple[str, bytes]]:
    return [
        (RIG_TOPIC.format(serial), orjson.dumps(s21_payload(serial, t0 + seq * NS_PER_S, seq)))
        for seq in range(n_per_rig)
        for serial in S21_SERIALS
    ]


def test_malformed_payloads_in_a_good_stream(
    tmp_path: Path, mosquitto: Broker, publisher: Publisher
) -> None:
    col = make_collector(tmp_path, mosquitto)
    col.start()
    assert col.wait_ready(10)
    t0 = now_ns() - 3600 * NS_PER_S
    good = good_stream(20, t0)
    rig = RIG_TOPIC.format(S21_SERIALS[0])
    bad: list[tuple[str, bytes]] = [
        (rig, b"{not json"),
        (rig, b"[1,2,3]"),
        (rig, b'{"x":"' + b"a" * 300_000 + b'"}'),
        (
            RIG_TOPIC.format("GHOST-1"),
            orjson.dumps(s21_payload("GHOST-1", t0, model="antminer-s99")),
        ),
        (rig, orjson.dumps(s21_payload(S21_SERIALS[0], now_ns() + 3600 * NS_PER_S))),
        (rig, orjson.dumps(s21_payload(S21_SERIALS[0], now_ns() - 30 * 86400 * NS_PER_S))),
        # one bad field each; the other 11 metrics of these messages must be stored
        (rig, orjson.dumps(s21_payload(S21_SERIALS[0], t0 + 1000 * NS_PER_S, power_w="high"))),
        (
            rig,
            orjson.dumps(s21_payload(S21_SERIALS[0], t0 + 1001 * NS_PER_S)).replace(
                b'"hashrate_ths":200.0', b'"hashrate_ths":NaN'
            ),
        ),
        (rig, orjson.dumps(s21_payload(S21_SERIALS[0], t0 + 1002 * NS_PER_S, surprise=1))),
    ]
    stream = good[:50] + bad[:5] + good[50:120] + bad[5:] + good[120:]
    total = publisher.publish_all(stream)
    wait_for(lambda: col.stats()["acked"] == total, what="every message acknowledged")
    col.stop()

    expected_samples = len(good) * S21_METRICS + 2 * (S21_METRICS - 1) + S21_METRICS
    assert count_rows(col.store) == expected_samples
    st = col.stats()
    assert st["received"] == total and st["stored_samples"] == expected_samples
    assert st["rejected_total"] == {
        "not_json": 1,
        "not_object": 1,
        "oversized": 1,
        "unknown_device": 1,
        "ts_future": 1,
        "ts_past": 1,
        "wrong_type": 1,
        "not_finite": 1,
        "unknown_field": 1,
    }
    assert st["queue_depth"] == 0 and st["lag_s"] is not None
    raw = {r["reason"]: r for r in st["recent_rejects"]}
    assert raw["not_json"]["payload"] == "{not json" and raw["oversized"]["truncated"] is True

    devices = col.store.devices().set_index("device")
    assert devices.loc[S21_SERIALS[0], ["kind", "model", "zone", "rack", "role"]].tolist() == [
        "asic_miner",
        "antminer-s21",
        "hall1",
        "A01",
        "rig",
    ]
    assert "GHOST-1" not in devices.index


def test_unregistered_rig_and_hall_sensor_are_recorded(
    tmp_path: Path, mosquitto: Broker, publisher: Publisher
) -> None:
    col = make_collector(tmp_path, mosquitto)
    col.start()
    assert col.wait_ready(10)
    t = now_ns()
    publisher.publish_all(
        [
            (RIG_TOPIC.format("NEW-0001"), orjson.dumps(s21_payload("NEW-0001", t))),
            (
                "site/demo/env/env-hall1",
                orjson.dumps({"ts": t / NS_PER_S, "temperature": 29.5, "humidity": 40}),
            ),
        ]
    )
    wait_for(lambda: col.stats()["acked"] == 2, what="both messages acknowledged")
    col.stop()
    devices = col.store.devices().set_index("device")
    assert devices.loc["NEW-0001", ["model", "zone", "rack", "role"]].tolist() == [
        "antminer-s21",
        "",
        "",
        "rig",
    ]
    assert devices.loc["env-hall1", ["kind", "zone", "role"]].tolist() == [
        "env_sensor",
        "hall1",
        "hall_sensor",
    ]
    assert col.stats()["rejected_total"] == {}


class ExplodingDecoder(PayloadDecoder):
    def decode(self, topic: str, payload: bytes, received_ns: int):  # type: ignore[override]
        if payload == b'"boom"':
            raise RuntimeError("decoder bug")
        return super().decode(topic, payload, received_ns)


def test_an_exception_in_processing_does_not_kill_intake(
    tmp_path: Path, mosquitto: Broker, publisher: Publisher
) -> None:
    cfg = load_facility(facility_file(tmp_path, mosquitto.port))
    profiles = load_facility_profiles(cfg)
    registry = facility_registry(cfg, set(profiles))
    col = MqttCollector(
        cfg,
        SqliteStore(tmp_path / "t.db"),
        profiles,
        registry,
        decoder=ExplodingDecoder(cfg.device_groups, profiles, registry),
    )
    col.start()
    assert col.wait_ready(10)
    good = good_stream(3, now_ns() - 60 * NS_PER_S)
    stream = good[:10] + [(RIG_TOPIC.format(S21_SERIALS[0]), b'"boom"')] * 3 + good[10:]
    publisher.publish_all(stream)
    wait_for(lambda: col.stats()["acked"] == len(stream), what="every message acknowledged")
    col.stop()
    assert count_rows(col.store) == len(good) * S21_METRICS
    st = col.stats()
    assert st["rejected_total"] == {"internal_error": 3}
    assert (
        st["recent_rejects"][-1]["payload"] == '"boom"'
        and "decoder bug" in st["recent_rejects"][-1]["detail"]
    )


class FlakyStore(SqliteStore):
    """Raises StoreUnavailable while ``down`` is set, like a database outage."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.down = threading.Event()
        self.failed_writes = 0

    def write(self, samples: Iterable[Sample] | SampleBatch) -> None:
        if self.down.is_set():
            self.failed_writes += 1
            raise StoreUnavailable("simulated outage")
        super().write(samples)


def test_store_outage_holds_the_acks_until_written(
    tmp_path: Path, mosquitto: Broker, publisher: Publisher
) -> None:
    store = FlakyStore(tmp_path / "t.db")
    store.down.set()
    col = make_collector(tmp_path, mosquitto, store)
    col.start()
    assert col.wait_ready(10)
    good = good_stream(5, now_ns() - 60 * NS_PER_S)
    publisher.publish_all(good)
    wait_for(lambda: store.failed_writes >= 3, what="writes retried during the outage")
    assert col.stats()["acked"] == 0 and count_rows(store) == 0
    store.down.clear()
    wait_for(lambda: col.stats()["acked"] == len(good), what="acks after the outage")
    col.stop()
    assert count_rows(store) == len(good) * S21_METRICS
    assert col.stats()["store_errors"] >= 3


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_persistent_session_keeps_messages_published_while_the_collector_is_down(
    tmp_path: Path, mosquitto: Broker, publisher: Publisher, protocol: str
) -> None:
    col = make_collector(tmp_path, mosquitto, protocol=protocol)
    col.start()
    assert col.wait_ready(10)
    col.stop()
    good = good_stream(4, now_ns() - 60 * NS_PER_S)
    publisher.publish_all(good)  # nobody connected: the broker queues them for the session
    col2 = make_collector(tmp_path, mosquitto, col.store, protocol=protocol)
    col2.start()
    wait_for(
        lambda: col2.stats()["acked"] == len(good), what="queued messages delivered on reconnect"
    )
    col2.stop()
    assert count_rows(col.store) == len(good) * S21_METRICS


def test_shared_subscription_splits_the_stream_without_duplicates(
    tmp_path: Path, mosquitto: Broker, publisher: Publisher
) -> None:
    store = SqliteStore(tmp_path / "shared.db")
    cols = [
        make_collector(
            tmp_path / f"c{i}", mosquitto, store, shared_group="hall1", client_id=f"shared-{i}"
        )
        for i in range(2)
    ]
    for c in cols:
        c.start()
        assert c.wait_ready(10)
    good = good_stream(20, now_ns() - 600 * NS_PER_S)
    publisher.publish_all(good)
    wait_for(
        lambda: sum(c.stats()["acked"] for c in cols) == len(good), what="all acked across both"
    )
    for c in cols:
        c.stop()
    assert all(c.stats()["received"] > 0 for c in cols)
    assert sum(c.stats()["received"] for c in cols) == len(good)
    assert count_rows(store) == len(good) * S21_METRICS


def test_broker_restart_reconnects_and_resumes_the_session(
    tmp_path: Path, mosquitto: Broker
) -> None:
    col = make_collector(tmp_path, mosquitto, reconnect_max_s=1)
    col.start()
    assert col.wait_ready(10)
    first = good_stream(2, now_ns() - 60 * NS_PER_S)
    pub = Publisher(mosquitto.port, client_id="pub-1")
    pub.publish_all(first)
    pub.close()
    wait_for(lambda: col.stats()["acked"] == len(first), what="first part stored")
    mosquitto.stop()  # persists the session to disk
    wait_for(lambda: not col.stats()["connected"], what="collector notices the broker is gone")
    restarted = start_mosquitto(mosquitto.workdir, port=mosquitto.port)
    try:
        assert col.wait_ready(20), "collector must reconnect by itself"
        second = good_stream(3, now_ns() - 30 * NS_PER_S)
        pub = Publisher(restarted.port, client_id="pub-2")
        pub.publish_all(second)
        pub.close()
        total = (len(first) + len(second)) * S21_METRICS
        wait_for(lambda: count_rows(col.store) == total, what="second part stored")
        time.sleep(0.5)  # redeliveries still in flight would show as extra acks below
        col.stop()
    finally:
        restarted.stop()
    st = col.stats()
    assert st["connects"] == 2 and st["disconnects"] == 1
    # The resumed session may redeliver messages acknowledged just before the broker stopped
    # (Mosquitto 2.0.11: 3 to 17 of the 20 here); the store key makes them no-ops.
    assert st["acked"] >= len(first) + len(second) and st["acked"] == st["received"]
    assert count_rows(col.store) == total


def test_broker_down_at_boot_is_retried(tmp_path: Path) -> None:
    from tests.support.ports import free_port

    port = free_port()
    cfg_path = facility_file(tmp_path, port, reconnect_max_s=1)
    cfg = load_facility(cfg_path)
    profiles = load_facility_profiles(cfg)
    col = MqttCollector(
        cfg, SqliteStore(tmp_path / "t.db"), profiles, facility_registry(cfg, set(profiles))
    )
    col.start()  # returns at once although nothing listens yet
    assert not col.wait_ready(1.5)
    broker = start_mosquitto(tmp_path / "late-broker", port=port)
    try:
        assert col.wait_ready(20)
        pub = Publisher(port)
        good = good_stream(1, now_ns() - 60 * NS_PER_S)
        pub.publish_all(good)
        pub.close()
        wait_for(
            lambda: col.stats()["acked"] == len(good), what="messages after a late broker start"
        )
    finally:
        col.stop()
        col.stop()  # idempotent
        broker.stop()


def test_registry_edits_are_picked_up_without_a_restart(
    tmp_path: Path, mosquitto: Broker, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("minewatch.collector.registry_watch.REGISTRY_CHECK_S", 0.0)
    col = make_collector(tmp_path, mosquitto)
    col.start()
    assert col.wait_ready(10)
    registry = tmp_path / "registry.csv"

    def send(seq: int) -> None:
        publisher.publish_all(
            [
                (
                    RIG_TOPIC.format("NEW-0001"),
                    orjson.dumps(s21_payload("NEW-0001", now_ns() - (100 - seq) * NS_PER_S)),
                )
            ]
        )
        wait_for(lambda: col.stats()["acked"] == seq, what=f"message {seq} stored")

    def where() -> list[str]:
        return col.store.devices().set_index("device").loc["NEW-0001", ["zone", "rack"]].tolist()

    send(1)
    assert where() == ["", ""]
    registry.write_text(registry.read_text() + "NEW-0001,antminer-s21,hall2,B09\n")
    os.utime(registry, (time.time() + 5, time.time() + 5))
    send(2)
    assert where() == ["hall2", "B09"] and col.stats()["registry_reloads"] == 1
    registry.write_text(
        registry.read_text() + "NEW-0001,antminer-s21,hall1,A01\n"
    )  # duplicate serial
    os.utime(registry, (time.time() + 10, time.time() + 10))
    send(3)
    col.stop()
    assert col.stats()["registry_reload_errors"] == 1 and where() == ["hall2", "B09"]
