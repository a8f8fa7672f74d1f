"""The columnar write path: ``SampleBatch`` from the collector's decoder to each store's ``_write``,
and what SQLite keeps per batch (samples once, newest value per series, first/last seen per device).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import orjson
import pytest

from minewatch.sample import NS_PER_S, BatchBuilder, Sample, SampleBatch
from minewatch.store import SqliteStore, StoreUnavailable
from minewatch.store.spool import Spool, decode, encode

T0 = 1_767_225_600 * NS_PER_S


def _rows(store: SqliteStore) -> list[tuple[str, str, int, float]]:
    return [
        tuple(r)
        for r in store._conn().execute(
            "SELECT device, metric, ts, value FROM samples JOIN series ON series.id = series_id "
            "ORDER BY device, metric, ts"
        )
    ]


def test_a_builder_batch_holds_what_was_added_in_order() -> None:
    b = BatchBuilder()
    b.add("rig-1", T0, ["power_w", "chip_temp_c"], [3200.0, 71.5])
    b.add("rig-2", T0 + 1, ["power_w"], [3100.0])
    b.add("rig-1", T0 + 10, ["power_w"], [3300.0])
    batch = b.build()
    assert batch.keys == [("rig-1", "power_w"), ("rig-1", "chip_temp_c"), ("rig-2", "power_w")]
    assert batch.samples() == [
        Sample(T0, "rig-1", "power_w", 3200.0),
        Sample(T0, "rig-1", "chip_temp_c", 71.5),
        Sample(T0 + 1, "rig-2", "power_w", 3100.0),
        Sample(T0 + 10, "rig-1", "power_w", 3300.0),
    ]
    devices, first, last = batch.device_spans()
    assert dict(zip(devices, zip(first.tolist(), last.tolist(), strict=True), strict=True)) == {
        "rig-1": (T0, T0 + 10),
        "rig-2": (T0 + 1, T0 + 1),
    }


def test_concat_merges_series_of_several_batches() -> None:
    a = SampleBatch.of([Sample(T0, "rig-1", "power_w", 1.0), Sample(T0, "rig-2", "up", 1.0)])
    b = SampleBatch.of([Sample(T0 + 1, "rig-2", "up", 0.0), Sample(T0 + 1, "rig-3", "up", 1.0)])
    both = SampleBatch.concat([a, b])
    assert len(both.keys) == 3 and both.samples() == a.samples() + b.samples()


def test_objects_and_a_batch_store_the_same_rows(tmp_path: Path) -> None:
    samples = [
        Sample(T0 + (i % 3) * NS_PER_S, f"rig-{i % 7}", f"m{i % 5}", float(i)) for i in range(200)
    ]
    by_objects, by_batch = SqliteStore(tmp_path / "a.db"), SqliteStore(tmp_path / "b.db")
    by_objects.write(samples)
    by_batch.write(SampleBatch.of(samples))
    assert _rows(by_objects) == _rows(by_batch) and len(_rows(by_batch)) == len(
        {(s.device, s.metric, s.ts) for s in samples}
    )


def test_series_ids_stay_right_as_devices_and_metrics_are_added(tmp_path: Path) -> None:
    """The writer's id table grows in rows (devices) and columns (metrics) over many batches."""
    store = SqliteStore(tmp_path / "t.db")
    expected = {}
    for round_ in range(6):
        devices = [f"rig-{d:03d}" for d in range(round_ * 40 + 10)]  # new devices every round
        metrics = [f"m{m}" for m in range(round_ + 1)]  # and a new metric
        batch = [
            Sample(T0 + round_ * NS_PER_S, d, m, float(round_ * 1000 + i))
            for i, (d, m) in enumerate((d, m) for d in devices for m in metrics)
        ]
        store.write(batch)
        expected.update({(s.device, s.metric): s.value for s in batch})
    latest = store.latest()
    got = dict(zip(zip(latest.device, latest.metric, strict=True), latest.value, strict=True))
    assert got == expected
    height, width = store._series.ids.shape  # grown where needed only (30,000 rigs: ~10 MB)
    assert 210 <= height < 2 * 210 and 6 <= width < 2 * 6


def test_latest_and_seen_times_take_the_newest_and_oldest_of_a_batch(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.db")
    store.write([Sample(T0 + 50, "rig-1", "power_w", 5.0), Sample(T0 + 20, "rig-1", "power_w", 2)])
    store.write([Sample(T0 + 30, "rig-1", "power_w", 3.0)])  # late: not the latest
    latest = store.latest()
    assert latest["value"].tolist() == [5.0] and latest["ts"].tolist() == [T0 + 50]
    seen = store.devices().set_index("device").loc["rig-1"]
    assert (seen["first_seen"], seen["last_seen"]) == (T0 + 20, T0 + 50)


def test_a_batch_larger_than_one_statement_is_stored_whole(tmp_path: Path) -> None:
    """5,000 rows: two statements of 2,048 rows and the rest in smaller ones."""
    store = SqliteStore(tmp_path / "t.db")
    store.write([Sample(T0 + i, f"rig-{i % 50}", "power_w", float(i)) for i in range(5000)])
    assert store._conn().execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 5000
    assert len(store.latest()) == 50


def test_a_failed_write_is_rolled_back_and_the_next_one_gets_fresh_ids(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.db")
    with pytest.raises(StoreUnavailable, match="NOT NULL"):  # SQLite stores NaN as NULL
        store.write([Sample(T0, "rig-1", "power_w", 1.0), Sample(T0, "rig-2", "up", np.nan)])
    assert store._conn().execute("SELECT COUNT(*) FROM series").fetchone()[0] == 0
    store.write([Sample(T0, "rig-2", "up", 1.0), Sample(T0, "rig-1", "power_w", 1.0)])
    assert _rows(store) == [("rig-1", "power_w", T0, 1.0), ("rig-2", "up", T0, 1.0)]


def test_the_spool_replays_batches_spooled_by_earlier_versions(tmp_path: Path) -> None:
    """Rows of ``[ts, device, metric, value]`` (before columns) still decode."""
    old = zlib.compress(orjson.dumps([[T0, "rig-1", "power_w", 1.5], [T0, "rig-1", "up", None]]))
    first = decode(old).samples()[0]
    assert (first.device, first.metric, first.value) == ("rig-1", "power_w", 1.5)
    assert np.isnan(decode(old).value[1])
    batch = SampleBatch.of([Sample(T0, "rig-1", "power_w", 1.5)])
    assert decode(encode(batch)).samples() == batch.samples()
    spool = Spool(tmp_path / "spool.db", 10**6)
    spool.append(batch)
    assert spool.oldest(100)[0].samples.samples() == batch.samples()


@pytest.mark.parametrize(
    "payload",
    [
        {"keys": [["rig-1", "up"]], "key": [0, 1], "ts": [T0, T0], "value": [1.0, 2.0]},
        {"keys": [["rig-1", "up"]], "key": [0], "ts": [T0, T0], "value": [1.0]},
        {"keys": [["rig-1", "up"]], "key": [0]},
    ],
)
def test_a_malformed_spooled_batch_is_refused_by_name(payload: dict) -> None:
    with pytest.raises(ValueError, match="corrupt spool payload"):
        decode(zlib.compress(orjson.dumps(payload)))
