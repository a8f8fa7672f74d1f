"""SQLite backend of the telemetry store: the embedded default, zero set-up, safe across processes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from minewatch.db import connect
from minewatch.sample import DeviceMeta, Sample
from minewatch.store.base import (
    DEVICE_COLUMNS, SAMPLE_COLUMNS, Aggregate, StoreUnavailable, TelemetryStore, empty_samples,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id     INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    metric TEXT NOT NULL,
    UNIQUE (device, metric)
);
CREATE INDEX IF NOT EXISTS series_metric ON series (metric);
-- One row per point; the primary key makes a redelivered point a no-op (exactly once).
CREATE TABLE IF NOT EXISTS samples (
    series_id INTEGER NOT NULL,
    ts        INTEGER NOT NULL,
    value     REAL    NOT NULL,
    PRIMARY KEY (series_id, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS latest (
    series_id INTEGER PRIMARY KEY,
    ts        INTEGER NOT NULL,
    value     REAL    NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    device     TEXT PRIMARY KEY,
    kind       TEXT NOT NULL DEFAULT '',
    model      TEXT NOT NULL DEFAULT '',
    zone       TEXT NOT NULL DEFAULT '',
    rack       TEXT NOT NULL DEFAULT '',
    role       TEXT NOT NULL DEFAULT '',
    first_seen INTEGER,
    last_seen  INTEGER
);
"""

_SQL_AGG = {"mean": "AVG", "min": "MIN", "max": "MAX", "sum": "SUM", "count": "COUNT"}


class SqliteStore(TelemetryStore):
    """Series are dictionary-encoded (device, metric → integer id) so a point costs ~20 bytes and a
    range query for one metric walks the primary key of each matching series."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._series: dict[tuple[str, str], int] = {}
        self._write_lock = threading.Lock()
        try:
            self._conn().executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from exc

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = connect(self.path)
            except (sqlite3.Error, OSError) as exc:  # the disk is gone: the spool takes the writes
                raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from exc
            self._local.conn = conn
        return conn

    def _series_ids(self, conn: sqlite3.Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        missing = [k for k in keys if k not in self._series]
        if missing:
            conn.executemany("INSERT OR IGNORE INTO series (device, metric) VALUES (?, ?)", missing)
            for i in range(0, len(missing), 400):
                chunk = missing[i:i + 400]
                where = " OR ".join(["(device = ? AND metric = ?)"] * len(chunk))
                args = [x for k in chunk for x in k]
                for sid, dev, met in conn.execute(f"SELECT id, device, metric FROM series WHERE {where}", args):
                    self._series[(dev, met)] = sid
        return self._series

    def write(self, samples: Sequence[Sample]) -> None:
        if not samples:
            return
        with self._write_lock:
            conn = self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
                ids = self._series_ids(conn, {(s.device, s.metric) for s in samples})
                rows = [(ids[(s.device, s.metric)], s.ts, s.value) for s in samples]
                conn.executemany("INSERT OR IGNORE INTO samples (series_id, ts, value) VALUES (?, ?, ?)", rows)
                conn.executemany(
                    "INSERT INTO latest (series_id, ts, value) VALUES (?, ?, ?) "
                    "ON CONFLICT (series_id) DO UPDATE SET ts = excluded.ts, value = excluded.value "
                    "WHERE excluded.ts >= latest.ts",
                    rows,
                )
                seen: dict[str, tuple[int, int]] = {}
                for s in samples:
                    lo, hi = seen.get(s.device, (s.ts, s.ts))
                    seen[s.device] = (min(lo, s.ts), max(hi, s.ts))
                conn.executemany(
                    "INSERT INTO devices (device, first_seen, last_seen) VALUES (?, ?, ?) "
                    "ON CONFLICT (device) DO UPDATE SET "
                    "first_seen = MIN(COALESCE(devices.first_seen, excluded.first_seen), excluded.first_seen), "
                    "last_seen = MAX(COALESCE(devices.last_seen, excluded.last_seen), excluded.last_seen)",
                    [(d, lo, hi) for d, (lo, hi) in seen.items()],
                )
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self._series.clear()  # ids inserted in the rolled-back transaction are gone
                raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from exc

    def upsert_devices(self, metas: Iterable[DeviceMeta]) -> None:
        rows = [(m.device, m.kind, m.model, m.zone, m.rack, m.role) for m in metas]
        if not rows:
            return
        with self._write_lock:
            self._conn().executemany(
                "INSERT INTO devices (device, kind, model, zone, rack, role) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (device) DO UPDATE SET kind = excluded.kind, model = excluded.model, "
                "zone = excluded.zone, rack = excluded.rack, role = excluded.role",
                rows,
            )

    def devices(self) -> pd.DataFrame:
        cur = self._conn().execute(f"SELECT {', '.join(DEVICE_COLUMNS)} FROM devices ORDER BY device")
        return pd.DataFrame(cur.fetchall(), columns=DEVICE_COLUMNS)

    @staticmethod
    def _filters(devices: Sequence[str] | None, metrics: Sequence[str] | None) -> tuple[str, list[object]]:
        clauses, args = [], []
        if devices is not None:
            clauses.append(f"s.device IN ({','.join('?' * len(devices))})")
            args.extend(devices)
        if metrics is not None:
            clauses.append(f"s.metric IN ({','.join('?' * len(metrics))})")
            args.extend(metrics)
        return (" AND ".join(clauses) or "1"), args

    def latest(self, devices: Sequence[str] | None = None, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        where, args = self._filters(devices, metrics)
        cur = self._conn().execute(
            f"SELECT l.ts, s.device, s.metric, l.value FROM latest l JOIN series s ON s.id = l.series_id "
            f"WHERE {where} ORDER BY s.device, s.metric",
            args,
        )
        return _frame(cur.fetchall())

    def _query(self, start_ns: int, end_ns: int, devices: Sequence[str] | None, metrics: Sequence[str] | None,
               step_ns: int | None, agg: Aggregate) -> pd.DataFrame:
        where, args = self._filters(devices, metrics)
        base = (f"FROM samples x JOIN series s ON s.id = x.series_id "
                f"WHERE {where} AND x.ts >= ? AND x.ts < ?")
        args = [*args, start_ns, end_ns]
        conn = self._conn()
        if step_ns is None or agg == "last":
            rows = conn.execute(f"SELECT x.ts, s.device, s.metric, x.value {base} "
                                f"ORDER BY s.device, s.metric, x.ts", args).fetchall()
            df = _frame(rows)
            if step_ns is not None:  # last value per bucket
                df["ts"] = (df["ts"] // step_ns) * step_ns
                df = df.groupby(["device", "metric", "ts"], sort=True, as_index=False).last()[SAMPLE_COLUMNS]
            return df
        bucket = f"(x.ts / {int(step_ns)}) * {int(step_ns)}"
        rows = conn.execute(
            f"SELECT {bucket} AS b, s.device, s.metric, {_SQL_AGG[agg]}(x.value) {base} "
            f"GROUP BY x.series_id, b ORDER BY s.device, s.metric, b",
            args,
        ).fetchall()
        return _frame(rows)

    def prune(self, older_than_ns: int) -> int:
        with self._write_lock:
            cur = self._conn().execute("DELETE FROM samples WHERE ts < ?", (older_than_ns,))
            return cur.rowcount

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _frame(rows: list[tuple]) -> pd.DataFrame:
    if not rows:
        return empty_samples()
    df = pd.DataFrame(rows, columns=SAMPLE_COLUMNS)
    df["ts"] = df["ts"].astype("int64")
    df["value"] = df["value"].astype("float64")
    return df
