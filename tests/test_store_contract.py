"""The telemetry store contract, run against every backend (parametrised by ``store``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from minewatch.analyzer.context import RawCache
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


@pytest.mark.parametrize(
    ("agg", "expected"),
    [
        ("mean", [2.5, 8.5]),
        ("max", [5.0, 11.0]),
        ("min", [0.0, 6.0]),
        ("sum", [15.0, 51.0]),
        ("count", [6.0, 6.0]),
        ("last", [5.0, 11.0]),
    ],
)
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
    store.upsert_devices(
        [DeviceMeta("rig-1", "asic_miner", "antminer-s21", "hall-a", "r01", "rig")]
    )
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


def test_frames_sort_by_device_metric_ts_whatever_the_write_order(store: TelemetryStore) -> None:
    # Series created in reverse order (rig-b before rig-a, power_w before chip_temp_c), points out
    # of order.
    batch = (
        _series("rig-b", "power_w", 3)
        + _series("rig-a", "power_w", 3)
        + _series("rig-a", "chip_temp_c", 3)
    )
    store.write(batch[::-1])
    df = store.query(T0, T0 + 3600 * NS_PER_S)
    assert list(zip(df.device, df.metric, strict=True)) == (
        [("rig-a", "chip_temp_c")] * 3 + [("rig-a", "power_w")] * 3 + [("rig-b", "power_w")] * 3
    )
    assert df["ts"].tolist() == [T0 + i * 10 * NS_PER_S for i in range(3)] * 3
    latest = store.latest(devices=["rig-a", "rig-b"], metrics=["power_w"])
    assert latest["device"].tolist() == ["rig-a", "rig-b"] and latest["value"].tolist() == [
        2.0,
        2.0,
    ]
    last = store.query(
        T0, T0 + 3600 * NS_PER_S, devices=["rig-a"], step_ns=20 * NS_PER_S, agg="last"
    )
    assert list(zip(last.metric, last.ts, last.value, strict=True)) == [
        ("chip_temp_c", T0, 1.0),
        ("chip_temp_c", T0 + 20 * NS_PER_S, 2.0),
        ("power_w", T0, 1.0),
        ("power_w", T0 + 20 * NS_PER_S, 2.0),
    ]
    assert store.latest(devices=["rig-a"], metrics=["nope"]).empty


def test_sqlite_reader_sees_series_another_process_added(tmp_path: Path) -> None:
    """Each SqliteStore keeps series ids in memory; series added later through another handle on the
    same file (a collector process) must still come back with the right device and metric."""
    reader, writer = SqliteStore(tmp_path / "t.db"), SqliteStore(tmp_path / "t.db")
    reader.write(_series("rig-2", "power_w", 2))
    assert reader.latest()["device"].tolist() == ["rig-2"]  # the reader now holds its id index
    writer.write(
        _series("rig-1", "power_w", 2, base=50) + _series("rig-3", "fan_rpm_1", 2, base=70)
    )
    latest = reader.latest()
    assert list(zip(latest.device, latest.metric, latest.value, strict=True)) == [
        ("rig-1", "power_w", 51.0),
        ("rig-2", "power_w", 1.0),
        ("rig-3", "fan_rpm_1", 71.0),
    ]
    writer.write(_series("rig-4", "power_w", 1, base=9))
    assert reader.query(T0, T0 + 60 * NS_PER_S, devices=["rig-4"])["value"].tolist() == [9.0]
    assert pd.api.types.is_string_dtype(latest["device"]) and latest["ts"].dtype == "int64"
    reader.close()
    writer.close()


def test_rollup_holds_every_bucket_statistic(store: TelemetryStore) -> None:
    """The store-side aggregate a long report evaluates on: per device and bucket count, sum, min,
    max, last value and its time, equal to the same statistics of the raw samples (last_ts to within
    the bucket, the resolution InfluxDB can state)."""
    store.write(
        _series("rig-1", "power_w", 30)  # 0..29 every 10 s
        + _series("rig-2", "power_w", 12, step_s=25, base=100)
        + _series("rig-1", "chip_temp_c", 30)
    )
    step = 60 * NS_PER_S
    got = store.rollup(T0, T0 + 290 * NS_PER_S, "power_w", step)
    raw = store.query(T0, T0 + 290 * NS_PER_S, metrics=["power_w"])
    raw = raw.assign(b=raw["ts"] // step * step)
    want = raw.groupby(["device", "b"])["value"].agg(["count", "sum", "min", "max", "last"])
    want["last_ts"] = raw.groupby(["device", "b"])["ts"].max()
    assert list(got.columns) == ["ts", "device", "count", "sum", "min", "max", "last", "last_ts"]
    assert list(zip(got["device"], got["ts"], strict=True)) == list(want.index)
    for col in ("count", "sum", "min", "max", "last"):
        assert got[col].tolist() == pytest.approx(want[col].tolist())
    lag = got["last_ts"].to_numpy() - want["last_ts"].to_numpy()
    assert (lag >= 0).all() and (lag < step).all() and (got["last_ts"] < T0 + 290 * NS_PER_S).all()
    assert got["count"].dtype == "int64" and got["ts"].dtype == "int64"
    only = store.rollup(T0, T0 + 290 * NS_PER_S, "power_w", step, devices=["rig-2"])
    assert set(only["device"]) == {"rig-2"} and only["count"].sum() == 12
    assert store.rollup(T0, T0 + 290 * NS_PER_S, "power_w", step, devices=[]).empty
    assert store.rollup(T0, T0 + 290 * NS_PER_S, "nope", step).empty


def test_live_cache_takes_in_a_late_sample_once(store: TelemetryStore) -> None:
    """The analyzer's live cache finds samples written after it read past their time: through the
    write log where the store keeps one (SQLite), through per-series counts where it does not
    (InfluxDB: ``written_since`` says it cannot tell) — the same frames either way."""
    s, metrics = NS_PER_S, ["chip_temp_c", "fan_rpm_1"]
    rigs = [f"rig-{i}" for i in range(4)]
    for t in range(0, 120, 10):
        store.write([Sample(T0 + t * s, r, m, 70.0) for r in rigs for m in metrics])
    cache, end = RawCache(60 * s), T0 + 120 * s
    starts = dict.fromkeys(metrics, T0)
    cache.update(store, starts, end)
    store.write([Sample(end, r, m, 71.0) for r in rigs for m in metrics])  # on time
    store.write([Sample(end - 5 * s, "rig-2", "chip_temp_c", 99.0)])  # late: before the read
    frames = cache.update(store, starts, end + 10 * s)
    df = frames["chip_temp_c"][2]
    late = df[(df["device"] == "rig-2") & (df["ts"] == end - 5 * s)]
    assert late["value"].tolist() == [99.0]  # taken in, once
    truth = store.query(T0, end + 10 * s, metrics=["chip_temp_c"])
    assert len(df) == len(truth) == 13 * 4 + 1
    fans = frames["fan_rpm_1"][2]
    assert len(fans) == 13 * 4  # nothing late there, nothing added


def test_device_table_for_a_kept_copy(store: TelemetryStore) -> None:
    """``devices_since`` without a version is the whole table, as ``devices()`` gives it."""
    store.upsert_devices([DeviceMeta("rig-1", "asic_miner", "S21", "hall-a", "R1", "rig")])
    store.write(_series("rig-1", "power_w", 3))
    _version, table = store.devices_since(None)
    pd.testing.assert_frame_equal(table, store.devices())
