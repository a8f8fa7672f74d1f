"""The telemetry store contract, run against every backend (parametrised by ``store``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from minewatch.sample import NS_PER_S, DeviceMeta, Sample
from minewatch.store import SqliteStore, TelemetryStore

T0 = 1_767_225_600 * NS_PER_S  # 2026-01-01T00:00:00Z


@pytest.fixture(params=["sqlite", "influx-v1"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TelemetryStore]:
    """Every backend, through the same interface: SQLite, and InfluxDB 1.x (Debian's influxd) via
    /write and InfluxQL."""
    s: TelemetryStore
    if request.param == "sqlite":
        s = SqliteStore(tmp_path / "t.db")
    else:
        s = request.getfixturevalue("influx_store")
    yield s
    s.close()


def _series(device: str, metric: str, n: int, step_s: int = 10, base: float = 0.0) -> list[Sample]:
    return [Sample(T0 + i * step_s * NS_PER_S, device, metric, base + i) for i in range(n)]


def test_write_then_query_returns_exactly_what_was_written(store: TelemetryStore) -> None:
    batch = _series("rig-1", "power_w", 30) + _series("rig-2", "power_w", 30, base=100)
    store.write(batch)
    df = store.query(T0, T0 + 3600 * NS_PER_S)
    assert list(df.columns) == ["ts", "device", "metric", "value"]
    assert len(df) == 60
    assert df[df.device == "rig-2"]["value"].tolist() == [100.0 + i for i in range(30)]
    assert df["ts"].dtype == "int64"


def test_duplicate_points_are_stored_once(store: TelemetryStore) -> None:
    batch = _series("rig-1", "chip_temp_c", 10)
    store.write(batch)
    store.write(batch[3:7])  # a redelivered message
    assert len(store.query(T0, T0 + 3600 * NS_PER_S)) == 10


def test_range_is_half_open_and_filters_apply(store: TelemetryStore) -> None:
    store.write(_series("rig-1", "power_w", 10) + _series("rig-1", "chip_temp_c", 10))
    df = store.query(T0 + 20 * NS_PER_S, T0 + 50 * NS_PER_S, metrics=["power_w"])
    assert df["value"].tolist() == [2.0, 3.0, 4.0]
    assert store.query(T0, T0 + 3600 * NS_PER_S, devices=["nope"]).empty


@pytest.mark.parametrize(("agg", "expected"), [("mean", [2.5, 8.5]), ("max", [5.0, 11.0]),
                                               ("min", [0.0, 6.0]), ("sum", [15.0, 51.0]),
                                               ("count", [6.0, 6.0]), ("last", [5.0, 11.0])])
def test_downsampling_by_step(store: TelemetryStore, agg: str, expected: list[float]) -> None:
    store.write(_series("rig-1", "power_w", 12))  # 12 points 10 s apart → two 60 s buckets
    df = store.query(T0, T0 + 3600 * NS_PER_S, step_ns=60 * NS_PER_S, agg=agg)  # type: ignore[arg-type]
    assert df["ts"].tolist() == [T0, T0 + 60 * NS_PER_S]
    assert df["value"].tolist() == pytest.approx(expected)


def test_latest_is_newest_value_even_when_written_out_of_order(store: TelemetryStore) -> None:
    s = _series("rig-1", "power_w", 5)
    store.write(s[3:])
    store.write(s[:3])
    latest = store.latest()
    assert latest.loc[0, "value"] == 4.0 and latest.loc[0, "ts"] == s[4].ts


def test_devices_carry_metadata_and_seen_times(store: TelemetryStore) -> None:
    store.upsert_devices([DeviceMeta("rig-1", "asic_miner", "antminer-s21", "hall-a", "r01", "rig")])
    store.write(_series("rig-1", "power_w", 3))
    d = store.devices().set_index("device").loc["rig-1"]
    assert (d.kind, d.zone, d.rack, d.role) == ("asic_miner", "hall-a", "r01", "rig")
    assert d.first_seen == T0 and d.last_seen == T0 + 20 * NS_PER_S


def test_bad_query_parameters_are_rejected(store: TelemetryStore) -> None:
    with pytest.raises(ValueError, match="aggregate"):
        store.query(T0, T0 + 1, agg="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="step"):
        store.query(T0, T0 + 1, step_ns=0)


def test_prune_drops_only_old_points(store: TelemetryStore) -> None:
    store.write(_series("rig-1", "power_w", 10))
    store.prune(T0 + 50 * NS_PER_S)
    df = store.query(T0, T0 + 3600 * NS_PER_S)
    assert df["ts"].min() == T0 + 50 * NS_PER_S and len(df) == 5
    assert isinstance(df, pd.DataFrame)
