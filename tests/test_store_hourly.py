"""The SQLite store's hourly roll-ups equal an aggregation of its raw rows, exactly once: after
late data into an hour already rolled up, redelivered batches, pruning, and on a store created
before roll-ups existed."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd

from minewatch.sample import Sample
from minewatch.store import SqliteStore
from minewatch.store.base import HOURLY_COLUMNS, HOURLY_SUB_S

T0 = 1_767_225_600 * 10**9
S, H = 10**9, 3600 * 10**9


def _expected(store: SqliteStore, start: int, end: int, metric: str) -> pd.DataFrame:
    """The roll-up computed from a raw read, in pandas."""
    df = store.query(start, end, metrics=[metric])
    ts = df["ts"].to_numpy(np.int64)
    gap = np.r_[0, np.diff(ts)].astype(object)  # int64 differences: float64 would lose 1 ns
    hour = ts // H * H
    dev = df["device"].to_numpy()
    gap[np.r_[True, (dev[1:] != dev[:-1]) | (hour[1:] != hour[:-1])]] = np.nan
    df = df.assign(hour=hour, gap=gap)
    df["sub"] = (df["ts"] - df["hour"]) // (HOURLY_SUB_S * S)
    g = df.groupby(["device", "hour"], sort=True)
    out = pd.DataFrame(
        {
            "count": g.size(),
            "sum": g["value"].sum(),
            "min": g["value"].min(),
            "max": g["value"].max(),
            "first_ts": g["ts"].min(),
            "last_ts": g["ts"].max(),
            "last": g["value"].last(),
            "max_gap": g["gap"].max(),
            "min_gap": df[df["gap"] > 0].groupby(["device", "hour"])["gap"].min(),
        }
    )
    subs = df.groupby(["device", "hour", "sub"]).size().unstack(fill_value=0)
    for j in range(3600 // HOURLY_SUB_S):
        out[f"n{j}"] = subs.get(j, 0)
    out = out.reset_index().rename(columns={"hour": "ts"})
    return out[HOURLY_COLUMNS]


def _same(store: SqliteStore, start: int, end: int, metric: str = "t") -> None:
    got = store.hourly(start, end, metric)
    assert got is not None
    want = _expected(store, start, end, metric)
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True).astype(float, errors="ignore").drop(columns="device"),
        want.reset_index(drop=True).astype(float, errors="ignore").drop(columns="device"),
        check_dtype=False,
    )
    assert list(got["device"]) == list(want["device"])


def _batch(rng: np.random.Generator, hours: int) -> list[Sample]:
    return [
        Sample(T0 + t * S, dev, "t", float(rng.normal(70, 2)))
        for t in range(0, hours * 3600, 45)
        for dev in ("a", "b", "c")
        if not (dev == "b" and 4000 <= t < 6000)  # a gap across an hour boundary
    ]


def test_hourly_equals_raw_and_is_exactly_once(tmp_path):
    store = SqliteStore(tmp_path / "t.db")
    rng = np.random.default_rng(1)
    batch = _batch(rng, 4)
    store.write(batch)
    _same(store, T0, T0 + 4 * H)
    assert store.materialise_rollups() == 0  # the read materialised every dirty hour
    first = store.hourly(T0, T0 + 4 * H, "t")

    store.write(batch[:500])  # redelivered: the same points, stored once
    pd.testing.assert_frame_equal(store.hourly(T0, T0 + 4 * H, "t"), first)

    # late samples into hours already rolled up, one beyond every value so far
    store.write([Sample(T0 + H + 7 * S, "a", "t", 500.0), Sample(T0 + 2 * H + 1, "c", "t", -5.0)])
    _same(store, T0, T0 + 4 * H)
    got = store.hourly(T0 + H, T0 + 3 * H, "t")
    assert got["max"].max() == 500.0 and got["min"].min() == -5.0
    assert list(got["ts"].unique()) == [T0 + H, T0 + 2 * H]  # whole hours overlapping the span

    # a device filter, and a metric nobody reports
    assert set(store.hourly(T0, T0 + 4 * H, "t", devices=["b"])["device"]) == {"b"}
    assert store.hourly(T0, T0 + 4 * H, "nothing").empty


def test_materialise_recomputes_only_dirty_hours(tmp_path):
    store = SqliteStore(tmp_path / "t.db")
    store.write(_batch(np.random.default_rng(2), 3))
    assert store.materialise_rollups(before_ns=T0 + H) > 0  # the first hour only
    conn = sqlite3.connect(tmp_path / "t.db")
    assert [h for (h,) in conn.execute("SELECT hour FROM rollup_dirty ORDER BY hour")] == [
        T0 + H,
        T0 + 2 * H,
    ]
    store.materialise_rollups()
    assert conn.execute("SELECT count(*) FROM rollup_dirty").fetchone() == (0,)
    store.write([Sample(T0 + H + 1, "a", "t", 1.0)])
    assert [h for (h,) in conn.execute("SELECT hour FROM rollup_dirty")] == [T0 + H]
    # only the dirty hour's rows are read again
    assert store.materialise_rollups() == len(store.query(T0 + H, T0 + 2 * H, metrics=["t"]))
    _same(store, T0, T0 + 3 * H)


def test_prune_drops_roll_ups_and_a_store_without_them_gets_them(tmp_path):
    store = SqliteStore(tmp_path / "t.db")
    store.write(_batch(np.random.default_rng(3), 3))
    store.prune(T0 + H + 30 * 60 * S)
    _same(store, T0, T0 + 3 * H)
    assert store.hourly(T0, T0 + 3 * H, "t")["ts"].min() == T0 + H
    # a store written before roll-ups existed: every hour it holds is dirty on opening
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.executescript("DROP TABLE rollup_hourly; DROP TABLE rollup_dirty;")
    conn.close()
    _same(SqliteStore(tmp_path / "t.db"), T0, T0 + 3 * H)
