"""Store-and-forward: an InfluxDB outage loses nothing, a restart replays, a full spool refuses
loudly."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from minewatch.config import load_facility
from minewatch.config.storage import InfluxSettings
from minewatch.sample import NS_PER_S, DeviceMeta, Sample
from minewatch.store import SpoolFull, SpoolingStore, SqliteStore, open_store
from minewatch.store.influx import InfluxStore
from minewatch.store.spool import Spool
from tests.support.influx import Server
from tests.support.influx_fixtures import FACILITY
from tests.support.ports import free_port

T0 = 1_767_225_600 * NS_PER_S
DEVICES = [f"rig-{i}" for i in range(5)]


def _batch(i: int) -> list[Sample]:
    """Batch ``i``: every rig's power and temperature at second ``i``."""
    ts = T0 + i * NS_PER_S
    return [Sample(ts, d, m, float(i)) for d in DEVICES for m in ("power_w", "chip_temp_c")]


def _spooling(
    settings: InfluxSettings, tmp_path: Path, max_bytes: int = 50_000_000
) -> SpoolingStore:
    return SpoolingStore(
        InfluxStore(settings, facility=FACILITY),
        Spool(tmp_path / "spool" / "spool.db", max_bytes),
        retry_max_s=0.3,
    )


def _wait_drained(store: SpoolingStore, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        st = store.stats()
        if st["spool_batches"] == 0 and st["status"] == "ok":
            return st
        time.sleep(0.05)
    raise AssertionError(f"spool not drained: {store.stats()}")


def test_outage_mid_stream_loses_nothing_and_duplicates_nothing(
    influxd_private: Server, v1_settings: Callable[..., InfluxSettings], tmp_path: Path
) -> None:
    store = _spooling(v1_settings(influxd_private), tmp_path)
    try:
        store.upsert_devices(
            [DeviceMeta(d, "asic_miner", "antminer-s21", "hall-a", "r01", "rig") for d in DEVICES]
        )
        for i in range(60):
            if i == 20:
                influxd_private.stop()
            if i == 40:
                influxd_private.start()
            new = (
                [Sample(T0 + i * NS_PER_S, "rig-new", "power_w", 1.0)] if i == 20 else []
            )  # first seen now
            store.write(_batch(i) + new)  # returns every time: stored or spooled
            if i == 30:
                assert store.stats()["status"] == "store_down_spooling"
                assert not store.stats()["healthy"]
            if i in (25, 45):
                store.write(
                    _batch(i - 10)
                )  # a redelivered MQTT message, during and after the outage
        st = _wait_drained(store)
        assert st["spooled_total"] >= 20 * 10 and st["replayed_total"] == st["spooled_total"]
        df = store.query(T0, T0 + 3600 * NS_PER_S, devices=DEVICES)
        assert len(df) == 60 * 10
        assert not df.duplicated(["device", "metric", "ts"]).any()
        assert sorted(df[df.device == "rig-3"].query("metric == 'power_w'")["value"]) == [
            float(i) for i in range(60)
        ]
        devices = store.devices().set_index("device")
        assert (
            devices.loc["rig-4", "kind"] == "asic_miner"
            and devices.loc["rig-4", "first_seen"] == T0
        )
        assert (
            devices.loc["rig-new", "first_seen"]
            == devices.loc["rig-new", "last_seen"]
            == T0 + 20 * NS_PER_S
        )
    finally:
        store.close()


def test_restart_with_a_non_empty_spool_replays_it(
    influxd_private: Server, v1_settings: Callable[..., InfluxSettings], tmp_path: Path
) -> None:
    settings = v1_settings(influxd_private)
    influxd_private.stop()
    first = _spooling(settings, tmp_path)
    first.upsert_devices([DeviceMeta("rig-0", "asic_miner", zone="hall-a")])
    for i in range(10):
        first.write(_batch(i))
    assert first.stats()["spool_samples"] == 100 and first.stats()["spool_pending_devices"] == 1
    first.close()  # the process stops with data in the spool

    influxd_private.start()
    second = _spooling(settings, tmp_path)
    try:
        second.start()
        _wait_drained(second)
        assert len(second.query(T0, T0 + 3600 * NS_PER_S)) == 100
        assert second.devices().set_index("device").loc["rig-0", "zone"] == "hall-a"
        assert second.stats()["replayed_total"] == 100
    finally:
        second.close()


def test_a_full_spool_refuses_the_write_and_says_so(tmp_path: Path) -> None:
    down = InfluxSettings(
        url=f"http://127.0.0.1:{free_port()}", api="v1", timeout_s=2
    )  # nothing listens there
    store = _spooling(down, tmp_path, max_bytes=4000)
    try:
        written = 0
        with pytest.raises(SpoolFull, match=r"spool .* is full"):
            for i in range(1000):
                store.write(_batch(i))
                written += 1
        st = store.stats()
        assert st["status"] == "spool_full" and not st["healthy"]
        assert st["spool_full_total"] == 1 and st["spool_refused_samples_total"] == 10
        assert st["spool_samples"] == written * 10 > 0  # what was accepted is still there
    finally:
        store.close()


def test_open_store_wraps_the_configured_backend_in_the_spool(tmp_path: Path) -> None:
    cfg_file = tmp_path / "facility.yaml"
    cfg_file.write_text(
        "facility: {id: site-1, name: Site}\nlicence: {number: L-1, capacity_kw: 1000}\n"
        "storage: {data_dir: data, spool_max_mb: 5}\n"
    )
    store = open_store(load_facility(cfg_file))
    try:
        assert isinstance(store.backend, SqliteStore)
        assert store.spool.path == tmp_path / "data" / "spool" / "spool.db"
        assert store.spool.max_bytes == 5 * 1024 * 1024
        store.write(_batch(0))
        assert store.stats()["status"] == "ok" and len(store.latest()) == 10
    finally:
        store.close()


def test_sqlite_disk_failure_spools_then_replays(tmp_path: Path) -> None:
    """The spool also covers the embedded backend: here its database file becomes unwritable."""
    db = tmp_path / "telemetry" / "t.db"
    store = SpoolingStore(
        SqliteStore(db), Spool(tmp_path / "spool.db", 10_000_000), retry_max_s=0.3
    )
    try:
        store.write(_batch(0))
        store.backend.close()
        db.parent.rename(tmp_path / "moved")  # the disk holding the database is gone
        (tmp_path / "telemetry").write_text("not a folder")
        store.write(_batch(1))
        assert store.stats()["spool_samples"] == 10
        (tmp_path / "telemetry").unlink()
        (tmp_path / "moved").rename(db.parent)  # and back
        _wait_drained(store)
        assert len(store.query(T0, T0 + 3600 * NS_PER_S)) == 20
    finally:
        store.close()


def test_a_corrupt_spooled_batch_is_quarantined_and_the_rest_replays(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", 10_000_000)
    for i in range(3):
        spool.append(_batch(i))
    with sqlite3.connect(tmp_path / "spool.db") as conn:  # a bad sector in the middle batch
        (payload,) = conn.execute("SELECT payload FROM batches WHERE id = 2").fetchone()
        conn.execute(
            "UPDATE batches SET payload = ? WHERE id = 2",
            (payload[:20] + b"\x00\xff" + payload[22:],),
        )
    store = SpoolingStore(SqliteStore(tmp_path / "t.db"), spool)
    try:
        assert store.replay_once() == 20
        st = store.stats()
        assert st["quarantined_batches"] == 1 and st["spool_batches"] == 0
        assert sorted(store.query(T0, T0 + 3600 * NS_PER_S)["ts"].unique()) == [
            T0,
            T0 + 2 * NS_PER_S,
        ]
    finally:
        store.close()


def test_non_finite_values_are_counted_and_never_block_the_batch(tmp_path: Path) -> None:
    store = SpoolingStore(SqliteStore(tmp_path / "t.db"), Spool(tmp_path / "spool.db", 10_000_000))
    try:
        store.write(
            [
                Sample(T0, "rig-1", "power_w", float("nan")),
                Sample(T0, "rig-1", "chip_temp_c", 60.0),
                Sample(T0, "rig-1", "hashrate_ths", float("inf")),
            ]
        )
        st = store.stats()
        assert st["rejected_total"] == {"non_finite_value": 2} and st["status"] == "ok"
        assert store.latest()["metric"].tolist() == ["chip_temp_c"]
    finally:
        store.close()
