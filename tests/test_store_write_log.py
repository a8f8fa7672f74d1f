"""The SQLite store's write log (``minewatch/store/sqlite_write_log.py``) and the live cache that
finds late samples through it (``RawCache`` with ``TelemetryStore.written_since``): a late sample
written by another process between cycles is taken in by the next cycle exactly once, across a
prune, a trimmed log and a store file from before the log — on real SQLite files."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from minewatch.analyzer.context import RawCache
from minewatch.sample import Sample
from minewatch.store import SqliteStore
from minewatch.store.base import TelemetryStore

S = 10**9
T0 = 1_767_225_600 * S
WINDOW = 60 * S
METRICS = ["chip_temp_c", "fan_rpm_1"]
RIGS = [f"rig-{i}" for i in range(6)]


def _batch(t: int, rigs: list[str] = RIGS, value: float = 70.0) -> list[Sample]:
    return [Sample(t, r, m, value) for r in rigs for m in METRICS]


def _write_from_another_process(path: Path, samples: list[Sample]) -> None:
    """What a collector does: its own process and connection on the same file."""
    rows = [(s.ts, s.device, s.metric, s.value) for s in samples]
    code = (
        "import sys\n"
        "from minewatch.sample import Sample\n"
        "from minewatch.store import SqliteStore\n"
        f"store = SqliteStore({str(path)!r})\n"
        f"store.write([Sample(*r) for r in {rows!r}])\n"
        "store.close()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def _cycle(cache: RawCache, store: TelemetryStore, end: int) -> dict[str, pd.DataFrame]:
    return {
        m: df
        for m, (_, _, df) in cache.update(store, dict.fromkeys(METRICS, end - 120 * S), end).items()
    }


def _truth(store: TelemetryStore, start: int, end: int, metric: str) -> pd.DataFrame:
    df = store.query(start, end, metrics=[metric])[["ts", "device", "value"]]
    return df.assign(device=df["device"].astype(str)).reset_index(drop=True)


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    df = df.assign(device=df["device"].astype(str))
    return df.sort_values(["device", "ts"], kind="stable").reset_index(drop=True)


def _store(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "telemetry.db")
    for t in range(0, 120, 10):
        store.write(_batch(T0 + t * S))
    return store


def test_late_sample_from_another_process_is_taken_in_once(tmp_path: Path) -> None:
    store = _store(tmp_path)
    cache = RawCache(WINDOW)
    end = T0 + 120 * S
    _cycle(cache, store, end)
    store.write(_batch(end))  # the next 10 s, on time
    late = [Sample(end - 5 * S, "rig-3", "chip_temp_c", 99.0)]  # stamped before the read point
    _write_from_another_process(store.path, late)

    mark_before = cache._marks["chip_temp_c"]
    got = _cycle(cache, store, end + 10 * S)["chip_temp_c"]
    rows = got[(got["device"] == "rig-3") & (got["ts"] == end - 5 * S)]
    assert rows["value"].tolist() == [99.0]
    assert cache._marks["chip_temp_c"] == (mark_before or 0) + 2  # both writes, no more
    pd.testing.assert_frame_equal(
        _sorted(got), _truth(store, end - 110 * S, end + 10 * S, "chip_temp_c")
    )

    # the next cycle re-reads nothing of it again and still holds it once
    got = _cycle(cache, store, end + 20 * S)["chip_temp_c"]
    assert len(got[(got["device"] == "rig-3") & (got["ts"] == end - 5 * S)]) == 1


def test_the_log_lists_only_what_was_written_stamped_before_the_read_point(tmp_path: Path) -> None:
    store = _store(tmp_path)
    mark, listed = store.written_since(None, T0)
    assert isinstance(mark, int) and listed is None  # a first call only takes the mark
    store.write(_batch(T0 + 200 * S))  # on time: nothing before the read point
    store.write(
        [
            Sample(T0 + 50 * S, "rig-1", "fan_rpm_1", 1.0),
            Sample(T0 + 300 * S, "rig-2", "fan_rpm_1", 1.0),
        ]
    )
    store.write(
        [Sample(T0 + 40 * S, "rig-1", "fan_rpm_1", 2.0)]
    )  # a duplicate stamp: listed, not stored twice
    new_mark, listed = store.written_since(mark, T0 + 190 * S)
    assert new_mark == mark + 3
    assert listed is not None
    assert listed.to_dict("records") == [
        {"device": "rig-1", "metric": "fan_rpm_1", "ts": T0 + 40 * S}
    ]
    # asked again from the new mark: nothing
    again, listed = store.written_since(new_mark, T0 + 190 * S)
    assert again == new_mark and listed is not None and listed.empty


def test_prune_between_cycles(tmp_path: Path) -> None:
    store = _store(tmp_path)
    cache = RawCache(WINDOW)
    end = T0 + 120 * S
    _cycle(cache, store, end)
    assert store.prune(T0 + 30 * S) > 0  # retention, between two cycles
    store.write(_batch(end))
    _write_from_another_process(store.path, [Sample(end - 15 * S, "rig-0", "fan_rpm_1", 1.0)])
    got = _cycle(cache, store, end + 10 * S)["fan_rpm_1"]
    assert len(got[(got["device"] == "rig-0") & (got["ts"] == end - 15 * S)]) == 1


def test_a_log_trimmed_past_the_mark_falls_back_to_counting(tmp_path: Path) -> None:
    store = _store(tmp_path)
    cache = RawCache(WINDOW)
    end = T0 + 120 * S
    _cycle(cache, store, end)
    store.write(_batch(end))
    store.write([Sample(end - 5 * S, "rig-2", "chip_temp_c", 98.0)])
    # the oldest rows dropped (what the writer's trim does to a reader that fell behind)
    with sqlite3.connect(store.path) as conn:
        conn.execute("DELETE FROM writes WHERE seq <= (SELECT MAX(seq) - 1 FROM writes)")
    assert store.written_since(cache._marks["chip_temp_c"], end)[1] is None
    got = _cycle(cache, store, end + 10 * S)["chip_temp_c"]
    assert len(got[(got["device"] == "rig-2") & (got["ts"] == end - 5 * S)]) == 1
    # and the cycle after uses the log again
    store.write([Sample(end + 5 * S, "rig-4", "chip_temp_c", 97.0)])
    mark = cache._marks["chip_temp_c"]
    assert store.written_since(mark, end + 10 * S)[1] is not None
    got = _cycle(cache, store, end + 20 * S)["chip_temp_c"]
    assert len(got[(got["device"] == "rig-4") & (got["ts"] == end + 5 * S)]) == 1


def test_a_store_file_from_before_the_log_gets_it_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = SqliteStore(path)
    store.write(_batch(T0))
    store.close()
    with sqlite3.connect(path) as conn:  # the file as the previous version left it
        conn.execute("DROP TABLE writes")
        conn.execute("DELETE FROM sqlite_sequence WHERE name = 'writes'")
    store = SqliteStore(path)
    mark, _ = store.written_since(None, T0)
    assert mark == 0
    store.write([Sample(T0 - 5 * S, "rig-0", "chip_temp_c", 1.0)])
    assert store.written_since(mark, T0)[1] is not None
    assert store.written_since(mark, T0)[1]["device"].tolist() == ["rig-0"]  # type: ignore[index]


@pytest.mark.parametrize("seed", range(6))
def test_random_late_and_duplicate_writes_leave_the_cache_equal_to_the_store(
    tmp_path: Path, seed: int
) -> None:
    """Random late and duplicate writes through two connections: after every cycle the cache read
    through the log holds exactly the store's rows over its window."""
    rng = np.random.default_rng(seed)
    store = _store(tmp_path)
    other = SqliteStore(store.path)  # a second connection writing the same file
    cache = RawCache(WINDOW)
    end = T0 + 120 * S
    for c in range(8):
        got = _cycle(cache, store, end)
        for m in METRICS:
            truth = _truth(store, end - 120 * S, end, m)
            pd.testing.assert_frame_equal(_sorted(got[m]), truth, obj=f"cycle {c}, {m}")
        writer = other if c % 2 else store
        writer.write(_batch(end))
        for _ in range(int(rng.integers(0, 4))):  # late by up to the window, some duplicates
            ts = end - int(rng.integers(0, 60)) * S
            rig = RIGS[int(rng.integers(len(RIGS)))]
            writer.write([Sample(ts, rig, METRICS[int(rng.integers(2))], float(c))])
        end += 10 * S
    other.close()


def test_a_metric_skipped_for_some_cycles_keeps_its_own_mark(tmp_path: Path) -> None:
    """Rules every 60 s ask for their metrics every sixth cycle: the writes the other metrics'
    cycles consumed in between must still reach the skipped metric's frame."""
    store = _store(tmp_path)
    cache = RawCache(WINDOW)
    end = T0 + 120 * S
    _cycle(cache, store, end)
    store.write([Sample(end - 5 * S, "rig-5", "fan_rpm_1", 3.0)])  # late, for the skipped metric
    for _ in range(3):
        store.write(_batch(end))
        end += 10 * S
        cache.update(store, {"chip_temp_c": end - 120 * S}, end)  # fan_rpm_1 not asked for
    got = _cycle(cache, store, end)["fan_rpm_1"]
    assert len(got[(got["device"] == "rig-5") & (got["ts"] == T0 + 115 * S)]) == 1
    pd.testing.assert_frame_equal(_sorted(got), _truth(store, end - 120 * S, end, "fan_rpm_1"))
