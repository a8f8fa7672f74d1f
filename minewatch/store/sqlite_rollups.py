"""Hourly roll-ups of the SQLite store, kept at write time so a long report never aggregates a year
of raw rows on the fly (issue #11).

Exactly once without trusting the insert: ``samples`` takes a redelivered point as a no-op (``INSERT
OR IGNORE``), so adding to running totals at insert time would count it twice. Instead a write only
marks the hours its batch touched as dirty (in the batch's own transaction, so no committed sample
can be missed), and the materialiser recomputes each dirty hour from the de-duplicated rows in
``samples`` and clears the mark in one transaction. A reader materialises the dirty hours of its
range before reading (persisting them), so a roll-up read always equals an aggregation of the raw
rows that are committed at that moment; late or imported data only re-dirties its hours.

Per (series, hour): count, sum, min, max, first and last sample time, last value, the longest and
the shortest positive gap between consecutive samples inside the hour, and the sample count of each
``SUB_S`` sub-bucket — the statistics the report's screens need (``analyzer/screen.py``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from itertools import groupby

import numpy as np

HOUR_NS = 3600 * 10**9
#: Sub-bucket of the per-hour counts: the default report step, so coverage (samples per device and
#: step) is exact from the hourly rows.
SUB_S = 300
SUBS = 3600 // SUB_S
#: Most hours recomputed per transaction: bounds the time the write lock is held and the rows in
#: memory (a day of 1,000 rigs at 60 s is 1.4 M rows).
MAX_SPAN_HOURS = 24

#: One roll-up row, key included, packed little-endian into ``rollup_hourly.stats`` (gaps: -1 =
#: fewer than two samples, or no positive gap). A year of 1,000 rigs is 8.8 M rows: handing each
#: to Python as a tuple costs ~2 us, so a read concatenates the records inside SQLite and hands
#: over one string (measured 0.08 s against 0.35 s of CPU for a week of 1,000 rigs).
STATS = np.dtype(
    [
        ("series_id", "<i8"),
        ("hour", "<i8"),
        ("count", "<i8"),
        ("sum", "<f8"),
        ("min", "<f8"),
        ("max", "<f8"),
        ("first_ts", "<i8"),
        ("last_ts", "<i8"),
        ("last", "<f8"),
        ("max_gap", "<i8"),
        ("min_gap", "<i8"),
        ("sub", "<u4", (SUBS,)),
    ]
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS rollup_hourly (
    series_id INTEGER NOT NULL,
    hour      INTEGER NOT NULL,
    stats     BLOB    NOT NULL,  -- STATS in sqlite_rollups.py
    PRIMARY KEY (series_id, hour)
) WITHOUT ROWID;
-- hours whose roll-ups may differ from the samples (written since last materialised)
CREATE TABLE IF NOT EXISTS rollup_dirty (hour INTEGER PRIMARY KEY) WITHOUT ROWID;
"""


def hours_of(ts: Iterable[int]) -> list[int]:
    """The distinct hour starts (ns) of some sample times."""
    # the write path passes its batch's array: no per-sample iteration there
    arr = ts if isinstance(ts, np.ndarray) else np.fromiter(ts, np.int64)
    return (np.unique(arr // HOUR_NS) * HOUR_NS).tolist()


class HourlyRollups:
    """The roll-up tables of one SQLite store; every method takes the caller's connection (and runs
    inside the caller's transaction where it says so)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        existed = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rollup_hourly'"
        ).fetchone()
        conn.executescript(SCHEMA)
        if not existed:
            self._dirty_all(conn)

    @staticmethod
    def _dirty_all(conn: sqlite3.Connection) -> None:
        """A store created before roll-ups existed: every hour it holds is dirty (one primary-key
        seek per series for its first and last sample, no scan)."""
        lo, hi = conn.execute(
            "SELECT min(lo), max(hi) FROM (SELECT "
            "(SELECT min(ts) FROM samples WHERE series_id = s.id) AS lo, "
            "(SELECT max(ts) FROM samples WHERE series_id = s.id) AS hi FROM series s)"
        ).fetchone()
        if lo is not None:
            hours = range(lo // HOUR_NS * HOUR_NS, hi + 1, HOUR_NS)
            conn.executemany(
                "INSERT OR IGNORE INTO rollup_dirty (hour) VALUES (?)", ((h,) for h in hours)
            )

    @staticmethod
    def mark_dirty(conn: sqlite3.Connection, ts: Iterable[int]) -> None:
        """Inside a write's transaction: the hours of the batch's samples need recomputing."""
        conn.executemany(
            "INSERT OR IGNORE INTO rollup_dirty (hour) VALUES (?)", ((h,) for h in hours_of(ts))
        )

    @staticmethod
    def dirty(conn: sqlite3.Connection, start_ns: int, end_ns: int) -> list[int]:
        """Dirty hours overlapping ``[start_ns, end_ns)``."""
        rows = conn.execute(
            "SELECT hour FROM rollup_dirty WHERE hour >= ? AND hour < ? ORDER BY hour",
            (start_ns // HOUR_NS * HOUR_NS, end_ns),
        ).fetchall()
        return [h for (h,) in rows]

    def materialise(self, conn: sqlite3.Connection, hours: list[int]) -> int:
        """Recompute the given hours from ``samples`` (runs of consecutive hours read together, each
        run in its own transaction); returns the samples read."""
        n = 0
        runs = groupby(enumerate(sorted(hours)), key=lambda p: p[1] - p[0] * HOUR_NS)
        for _, run in runs:
            span = [h for _, h in run]
            for i in range(0, len(span), MAX_SPAN_HOURS):
                part = span[i : i + MAX_SPAN_HOURS]
                n += self._recompute(conn, part[0], part[-1] + HOUR_NS)
        return n

    @staticmethod
    def _recompute(conn: sqlite3.Connection, lo: int, hi: int) -> int:
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = conn.execute(
                "SELECT series_id, ts, value FROM samples WHERE series_id IN "
                "(SELECT id FROM series) AND ts >= ? AND ts < ? ORDER BY series_id, ts",
                (lo, hi),
            ).fetchall()
            conn.execute(
                "DELETE FROM rollup_hourly WHERE series_id IN (SELECT id FROM series) "
                "AND hour >= ? AND hour < ?",
                (lo, hi),
            )
            if rows:
                conn.executemany(
                    "INSERT INTO rollup_hourly (series_id, hour, stats) VALUES (?, ?, ?)",
                    _fold(rows),
                )
            conn.execute("DELETE FROM rollup_dirty WHERE hour >= ? AND hour < ?", (lo, hi))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return len(rows)

    @staticmethod
    def prune(conn: sqlite3.Connection, older_than_ns: int) -> None:
        """After samples before the cut-off were deleted: their hours' roll-ups go, and the hour
        the cut-off falls in is recomputed."""
        cut = older_than_ns // HOUR_NS * HOUR_NS
        conn.execute("DELETE FROM rollup_hourly WHERE hour < ?", (cut,))
        conn.execute("DELETE FROM rollup_dirty WHERE hour < ?", (cut,))
        if older_than_ns > cut:
            conn.execute("INSERT OR IGNORE INTO rollup_dirty (hour) VALUES (?)", (cut,))

    @staticmethod
    def read(
        conn: sqlite3.Connection, where: str, args: list[object], start_ns: int, end_ns: int
    ) -> np.ndarray:
        """``STATS`` records of the series in ``where`` (a condition on ``series_id``) for the
        hours overlapping ``[start_ns, end_ns)``, in no particular order."""
        (packed,) = conn.execute(
            f"SELECT CAST(group_concat(stats, '') AS BLOB) FROM rollup_hourly "
            f"WHERE {where} AND hour >= ? AND hour < ?",
            [*args, start_ns // HOUR_NS * HOUR_NS, end_ns],
        ).fetchone()
        return np.frombuffer(packed or b"", STATS)


def _fold(rows: list[tuple[int, int, float]]) -> list[tuple[int, int, bytes]]:
    """``(series_id, ts, value)`` rows in key order → one roll-up row per series and hour."""
    n = len(rows)
    sid = np.fromiter((r[0] for r in rows), np.int64, n)
    ts = np.fromiter((r[1] for r in rows), np.int64, n)
    value = np.fromiter((r[2] for r in rows), np.float64, n)
    hour = ts // HOUR_NS * HOUR_NS
    first = np.flatnonzero(np.r_[True, (sid[1:] != sid[:-1]) | (hour[1:] != hour[:-1])])
    last = np.r_[first[1:], n] - 1
    group = np.repeat(np.arange(len(first)), np.diff(np.r_[first, n]))
    gap = np.r_[0, np.diff(ts)]
    inner = np.ones(n, bool)
    inner[first] = False  # a group's first sample has no predecessor inside the hour
    st = np.zeros(len(first), STATS)
    st["series_id"], st["hour"] = sid[first], hour[first]
    st["count"] = last - first + 1
    st["sum"] = np.add.reduceat(value, first)
    st["min"] = np.minimum.reduceat(value, first)
    st["max"] = np.maximum.reduceat(value, first)
    st["first_ts"], st["last_ts"], st["last"] = ts[first], ts[last], value[last]
    st["max_gap"] = -1
    np.maximum.at(st["max_gap"], group[inner], gap[inner])
    pos = inner & (gap > 0)
    min_gap = np.full(len(first), np.iinfo(np.int64).max, np.int64)
    np.minimum.at(min_gap, group[pos], gap[pos])
    st["min_gap"] = np.where(min_gap == np.iinfo(np.int64).max, -1, min_gap)
    np.add.at(st["sub"], (group, (ts - hour) // (SUB_S * 10**9)), 1)
    packed = st.tobytes()
    size = STATS.itemsize
    return list(
        zip(
            sid[first].tolist(),
            hour[first].tolist(),
            (packed[i * size : (i + 1) * size] for i in range(len(first))),
            strict=True,
        )
    )
