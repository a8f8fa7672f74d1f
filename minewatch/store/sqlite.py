"""SQLite backend of the telemetry store: the embedded default, zero set-up, safe across
processes."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

import numpy as np
import pandas as pd

from minewatch.db import connect, disk_state, insert_rows
from minewatch.sample import DeviceMeta, SampleBatch
from minewatch.store import sqlite_write_log
from minewatch.store.base import (
    BUCKET_TOTAL_COLUMNS,
    COUNT_COLUMNS,
    DEVICE_COLUMNS,
    HOURLY_COLUMNS,
    ROLLUP_COLUMNS,
    SEEN_COLUMNS,
    TOP_COLUMNS,
    TOTAL_COLUMNS,
    WRITTEN_COLUMNS,
    Aggregate,
    StoreUnavailable,
    TelemetryStore,
    empty_hourly,
    empty_rollup,
    empty_samples,
)
from minewatch.store.sqlite_rollups import SUBS, HourlyRollups

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
-- A counter of the device table's changes other than first/last seen (a device added or removed,
-- its metadata changed), kept by triggers so every writer of the file keeps it, whatever its
-- code: a reader re-reads the whole table only when it moved (``devices_since``). The write path's
-- upsert sets only first/last seen, so the update trigger is not even compiled into it.
CREATE TABLE IF NOT EXISTS devices_version (
    id INTEGER PRIMARY KEY CHECK (id = 0),  -- one row, added on open (``SqliteStore.__init__``)
    n  INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS devices_added AFTER INSERT ON devices
BEGIN UPDATE devices_version SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS devices_removed AFTER DELETE ON devices
BEGIN UPDATE devices_version SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS devices_changed AFTER UPDATE OF device, kind, model, zone, rack, role
ON devices WHEN old.device IS NOT new.device OR old.kind IS NOT new.kind
    OR old.model IS NOT new.model OR old.zone IS NOT new.zone OR old.rack IS NOT new.rack
    OR old.role IS NOT new.role
BEGIN UPDATE devices_version SET n = n + 1; END;
"""

_INSERT_SAMPLES = "INSERT OR IGNORE INTO samples (series_id, ts, value) VALUES "
_INSERT_LATEST = "INSERT INTO latest (series_id, ts, value) VALUES "
# a late sample must not replace a newer one
_UPSERT_LATEST = (
    " ON CONFLICT (series_id) DO UPDATE SET ts = excluded.ts, value = excluded.value"
    " WHERE excluded.ts >= latest.ts"
)
_INSERT_SEEN = "INSERT INTO devices (device, first_seen, last_seen) VALUES "
_UPSERT_SEEN = (
    " ON CONFLICT (device) DO UPDATE SET"
    " first_seen = MIN(COALESCE(devices.first_seen, excluded.first_seen), excluded.first_seen),"
    " last_seen = MAX(COALESCE(devices.last_seen, excluded.last_seen), excluded.last_seen)"
)
WAL_AUTOCHECKPOINT_PAGES = 10_000
WRITE_CACHE_KIB = 16 * 1024

_SQL_AGG = {"mean": "AVG", "min": "MIN", "max": "MAX", "sum": "SUM", "count": "COUNT"}


@dataclass(frozen=True)
class _SeriesIndex:
    """Every series known to this process, indexed by series id: its device and metric as codes into
    sorted category lists, and its rank in (device, metric) order (-1 for ids not in use).
    Immutable, so a reader keeps a consistent copy while another thread refreshes. Series are only
    ever added (ids grow and never change meaning), so a refresh reads just the rows past
    ``max_id``."""

    max_id: int = 0
    device: np.ndarray = field(default_factory=lambda: np.empty(1, dtype=object))
    metric: np.ndarray = field(default_factory=lambda: np.empty(1, dtype=object))
    device_code: np.ndarray = field(default_factory=lambda: np.full(1, -1, dtype=np.int64))
    metric_code: np.ndarray = field(default_factory=lambda: np.full(1, -1, dtype=np.int64))
    devices: pd.Index = field(default_factory=lambda: pd.Index([], dtype="str"))
    metrics: pd.Index = field(default_factory=lambda: pd.Index([], dtype="str"))
    rank: np.ndarray = field(default_factory=lambda: np.full(1, -1, dtype=np.int64))

    def extended(self, rows: list[tuple[int, str, str]]) -> _SeriesIndex:
        """A new index with the ``(id, device, metric)`` rows added."""
        new_ids = np.fromiter(map(itemgetter(0), rows), np.int64, len(rows))
        max_id = max(self.max_id, int(new_ids.max()))
        names = []
        for col, old in ((1, self.device), (2, self.metric)):
            arr = np.empty(max_id + 1, dtype=object)
            arr[: len(old)] = old
            arr[new_ids] = list(map(itemgetter(col), rows))
            names.append(arr)
        used = np.concatenate([np.flatnonzero(self.rank >= 0), new_ids])
        codes, cats = [], []
        for arr in names:
            # Sorted categories: Python orders str by code point, which is SQLite's BINARY order of
            # UTF-8.
            used_codes, uniques = pd.factorize(arr[used], sort=True)
            code = np.full(max_id + 1, -1, dtype=np.int64)
            code[used] = used_codes
            codes.append(code)
            cats.append(pd.Index(uniques, dtype="str"))
        rank = np.full(max_id + 1, -1, dtype=np.int64)
        rank[used[np.lexsort((codes[1][used], codes[0][used]))]] = np.arange(
            len(used), dtype=np.int64
        )
        return _SeriesIndex(max_id, names[0], names[1], codes[0], codes[1], cats[0], cats[1], rank)

    def ids_for(self, devices: Sequence[str] | None, metrics: Sequence[str] | None) -> list[int]:
        """Sorted ids of the series matching both filters (``None`` = any)."""
        mask = self.rank >= 0
        for wanted, cats, code in (
            (devices, self.devices, self.device_code),
            (metrics, self.metrics, self.metric_code),
        ):
            if wanted is not None:
                mask &= np.isin(
                    code, cats.get_indexer(pd.Index(list(wanted)))
                )  # unknown names → -1, only unused ids have it
        return np.flatnonzero(mask).tolist()

    def frame(self, sid: np.ndarray, ts: np.ndarray, value: np.ndarray) -> pd.DataFrame:
        """A contract frame of rows already in (device, metric, ts) order."""
        return pd.DataFrame(
            {
                "ts": ts,
                "device": self.devices.array.take(self.device_code[sid]),
                "metric": self.metrics.array.take(self.metric_code[sid]),
                "value": value,
            }
        )


class _SeriesCatalog:
    """The ``series`` table mirrored in memory, refreshed when another writer (any process) adds
    series."""

    def __init__(self) -> None:
        self._index = _SeriesIndex()
        self._lock = threading.Lock()

    def current(self, conn: sqlite3.Connection, at_least: int = 0) -> _SeriesIndex:
        """The index including every series committed so far (and at least id ``at_least``)."""
        with self._lock:
            index = self._index
            rows = conn.execute(
                "SELECT id, device, metric FROM series WHERE id > ?", (index.max_id,)
            ).fetchall()
            if rows:
                index = self._index = index.extended(rows)
            if index.max_id < at_least:
                raise StoreUnavailable(
                    f"SQLite store: series id {at_least} read from samples is not in series"
                )
            return index


class _SeriesIds:
    """The writer's (device, metric) → series id map: a table of ids (0 = not known yet) with a
    row per device and a column per metric name. At 30,000 rigs x 12 metrics that is ~3 MB of ids
    where a dict per device held an int object and a dict slot per series (the collector's peak
    RSS fell by ~30 MB, docs/benchmarks-collector.md), and a batch looks its series up with one
    numpy index instead of a dict lookup per series."""

    def __init__(self) -> None:
        self._rows: dict[str, int] = {}
        self._cols: dict[str, int] = {}
        self.ids = np.zeros((0, 0), dtype=np.int64)

    def cells(self, keys: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of each key, giving new devices and metrics a row or column."""
        rows, cols, n = self._rows, self._cols, len(keys)
        r = np.fromiter((rows.setdefault(d, len(rows)) for d, _ in keys), np.intp, n)
        c = np.fromiter((cols.setdefault(m, len(cols)) for _, m in keys), np.intp, n)
        height, width = self.ids.shape
        if len(rows) > height or len(cols) > width:
            grown = np.zeros((_grown(height, len(rows)), _grown(width, len(cols))), np.int64)
            grown[:height, :width] = self.ids
            self.ids = grown
        return r, c

    def put(self, device: str, metric: str, sid: int) -> None:
        """Record an id read from the ``series`` table (its cell exists: ``cells`` made it)."""
        self.ids[self._rows[device], self._cols[metric]] = sid

    def forget(self) -> None:
        """Every id unknown again (after a rolled-back transaction that may have inserted some)."""
        self.ids[:] = 0


def _grown(size: int, needed: int) -> int:
    """``size`` if enough, else at least a quarter more (amortised O(1) growth)."""
    return size if needed <= size else max(needed, size + size // 4)


class SqliteStore(TelemetryStore):
    """Series are dictionary-encoded (device, metric → integer id) so a point costs ~20 bytes and a
    range query for one metric walks the primary key of each matching series."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._series = _SeriesIds()
        self._write_lock = threading.Lock()
        self._write_conn: sqlite3.Connection | None = None
        self._index = _SeriesCatalog()
        try:
            conn = self._conn()
            conn.executescript(_SCHEMA + sqlite_write_log.SCHEMA)
            # a new file or one from before the version: written only then, so opening a store
            # does not wait for the write lock
            if conn.execute("SELECT 1 FROM devices_version").fetchone() is None:
                conn.execute("INSERT OR IGNORE INTO devices_version (id, n) VALUES (0, 0)")
            self._rollups = HourlyRollups(self._conn())
        except sqlite3.Error as exc:
            raise StoreUnavailable(
                f"SQLite store {self.path}: {exc} ({disk_state(self.path)})"
            ) from exc

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open()
        return conn

    def _open(self) -> sqlite3.Connection:
        try:
            return connect(self.path)
        except (sqlite3.Error, OSError) as exc:  # the disk is gone: the spool takes the writes
            raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from exc

    def _writer(self) -> sqlite3.Connection:
        """The one connection every write goes through (callers hold ``_write_lock``), apart from
        the per-thread read connections, so it can be tuned for writing:

        - checkpoint every ~40 MB of WAL instead of every 4 MB: a telemetry batch dirties a page
          per series, so the default checkpointed (and fsynced) after nearly every batch; copying
          each page once per 10,000 halved the write's wall time under flood. Durability of a
          commit does not depend on it (docs/benchmarks-store.md);
        - a 16 MiB page cache instead of the readers' 64 MiB: inserts sorted by (series, ts) walk
          the primary key in order, and measured as fast with 16 as with 64 MiB at 30,000 rigs,
          while the collector's resident memory is 48 MB smaller.
        """
        conn = self._write_conn
        if conn is None:
            conn = self._open()
            try:
                conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
                conn.execute(f"PRAGMA cache_size=-{WRITE_CACHE_KIB}")
            except sqlite3.Error as exc:
                conn.close()
                raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from exc
            self._write_conn = conn
        return conn

    def _series_ids(self, conn: sqlite3.Connection, keys: list[tuple[str, str]]) -> np.ndarray:
        """The series id of each (device, metric) key, inserting the series not seen before."""
        cells = self._series.cells(keys)
        ids = self._series.ids[cells]
        unknown = np.flatnonzero(ids == 0).tolist()
        if unknown:
            missing = [keys[i] for i in unknown]
            conn.executemany("INSERT OR IGNORE INTO series (device, metric) VALUES (?, ?)", missing)
            for i in range(0, len(missing), 400):
                chunk = missing[i : i + 400]
                where = " OR ".join(["(device = ? AND metric = ?)"] * len(chunk))
                args = [x for k in chunk for x in k]
                for sid, dev, met in conn.execute(
                    f"SELECT id, device, metric FROM series WHERE {where}", args
                ):
                    self._series.put(dev, met, sid)
            ids = self._series.ids[cells]
        return ids

    def _write(self, batch: SampleBatch) -> None:
        """One transaction: series ids, then the samples sorted by (series, ts) so the inserts walk
        the primary key in order, then each series' newest value into ``latest`` and each device's
        first/last seen into ``devices`` — once per series and device, not per sample — and the
        series touched into the write log (``sqlite_write_log``)."""
        with self._write_lock:
            conn = self._writer()
            try:
                conn.execute("BEGIN IMMEDIATE")
                sid = self._series_ids(conn, batch.keys)[batch.key]
                order = np.lexsort((batch.ts, sid))
                sid, ts, value = sid[order], batch.ts[order], batch.value[order]
                insert_rows(conn, _INSERT_SAMPLES, "", (sid, ts, value))
                newest = np.flatnonzero(np.r_[sid[1:] != sid[:-1], True])
                insert_rows(
                    conn, _INSERT_LATEST, _UPSERT_LATEST, (sid[newest], ts[newest], value[newest])
                )
                devices, first, last = batch.device_spans()
                insert_rows(conn, _INSERT_SEEN, _UPSERT_SEEN, (devices, first, last))
                self._rollups.mark_dirty(conn, batch.ts)
                sqlite_write_log.record(conn, sid, ts)
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self._series.forget()  # ids inserted in the rolled-back transaction are gone
                raise StoreUnavailable(
                    f"SQLite store {self.path}: {exc} ({disk_state(self.path)})"
                ) from exc

    def upsert_devices(self, metas: Iterable[DeviceMeta]) -> None:
        rows = [(m.device, m.kind, m.model, m.zone, m.rack, m.role) for m in metas]
        if not rows:
            return
        with self._write_lock:
            try:
                self._writer().executemany(
                    "INSERT INTO devices (device, kind, model, zone, rack, role) VALUES (?, ?, ?, "
                    "?, ?, ?) "
                    "ON CONFLICT (device) DO UPDATE SET kind = excluded.kind, model = "
                    "excluded.model, zone = excluded.zone, rack = excluded.rack, role = "
                    "excluded.role",
                    rows,
                )
            except sqlite3.Error as exc:  # a full or read-only disk: the spool or caller retries
                raise StoreUnavailable(
                    f"SQLite store {self.path}: {exc} ({disk_state(self.path)})"
                ) from exc

    def devices(self) -> pd.DataFrame:
        return self._devices(self._conn())

    def _devices(self, conn: sqlite3.Connection) -> pd.DataFrame:
        cur = conn.execute(f"SELECT {', '.join(DEVICE_COLUMNS)} FROM devices ORDER BY device")
        return pd.DataFrame(cur.fetchall(), columns=DEVICE_COLUMNS)

    def devices_since(self, version: int | None) -> tuple[int | None, pd.DataFrame]:
        """The version (``devices_version``, kept by triggers) and the table or its two times,
        read in one transaction so the pair is consistent: 30,000 rows' two integers cost ~15 ms
        of CPU against ~57 ms for the whole table's eight columns."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            (current,) = conn.execute("SELECT n FROM devices_version").fetchone()
            if current != version:
                return current, self._devices(conn)
            rows = conn.execute(
                "SELECT first_seen, last_seen FROM devices ORDER BY device"
            ).fetchall()
        finally:
            conn.execute("COMMIT")
        cols = [np.array(c) for c in zip(*rows, strict=True)] or [np.empty(0, np.int64)] * 2
        if any(c.dtype == object for c in cols):  # NULLs: pandas' inference, as ``devices()``
            return current, pd.DataFrame(rows, columns=SEEN_COLUMNS)
        # integers straight into arrays: pandas' per-row inference cost as much as the read
        return current, pd.DataFrame(dict(zip(SEEN_COLUMNS, cols, strict=True)))

    def _scope(
        self, devices: Sequence[str] | None, metrics: Sequence[str] | None
    ) -> tuple[_SeriesIndex, str, list[object]] | None:
        """The series a read covers, as a SQL condition on ``series_id`` (pushed down, no join), or
        ``None`` when the filters match no series at all."""
        index = self._index.current(self._conn())
        if devices is None and metrics is None:
            return (
                index,
                "series_id IN (SELECT id FROM series)",
                [],
            )  # one primary-key range walk per series
        ids = index.ids_for(devices, metrics)
        if not ids:
            return None
        return index, "series_id IN (SELECT value FROM json_each(?))", [json.dumps(ids)]

    def latest(
        self, devices: Sequence[str] | None = None, metrics: Sequence[str] | None = None
    ) -> pd.DataFrame:
        scope = self._scope(devices, metrics)
        if scope is None:
            return empty_samples()
        index, where, args = scope
        if not args:
            where = "1"  # every row of ``latest``: a plain scan beats a search per series
        rows = (
            self._conn()
            .execute(f"SELECT series_id, ts, value FROM latest WHERE {where}", args)
            .fetchall()
        )
        return self._frame(index, rows)

    def _query(
        self,
        start_ns: int,
        end_ns: int,
        devices: Sequence[str] | None,
        metrics: Sequence[str] | None,
        step_ns: int | None,
        agg: Aggregate,
    ) -> pd.DataFrame:
        scope = self._scope(devices, metrics)
        if scope is None:
            return empty_samples()
        index, where, args = scope
        args = [*args, start_ns, end_ns]
        conn = self._conn()
        if step_ns is None or agg == "last":
            rows = conn.execute(
                f"SELECT series_id, ts, value FROM samples WHERE {where} AND ts >= ? AND ts < ? "
                f"ORDER BY series_id, ts",
                args,
            ).fetchall()
            return self._frame(index, rows, last_per_step=step_ns)
        bucket = f"(ts / {int(step_ns)}) * {int(step_ns)}"
        rows = conn.execute(
            f"SELECT series_id, {bucket} AS b, {_SQL_AGG[agg]}(value) FROM samples "
            f"WHERE {where} AND ts >= ? AND ts < ? GROUP BY series_id, b ORDER BY series_id, b",
            args,
        ).fetchall()
        return self._frame(index, rows)

    def counts_by_device(self, metrics: list[str], lo: int, hi: int) -> dict[str, pd.Series]:
        """One ``GROUP BY series_id`` with the series mapped through the in-memory catalogue."""
        if hi <= lo or not metrics:
            return {}

        scope = self._scope(None, metrics)
        if scope is None:
            return {}
        index, where, args = scope
        conn = self._conn()
        rows = conn.execute(
            f"SELECT series_id, count(*) FROM samples WHERE {where} AND ts >= ? AND ts < ? "
            "GROUP BY series_id",
            [*args, lo, hi],
        ).fetchall()
        if not rows:
            return {}
        sid = np.fromiter(map(itemgetter(0), rows), np.int64, len(rows))
        count = np.fromiter(map(itemgetter(1), rows), np.float64, len(rows))
        if int(sid.max()) > index.max_id:  # a series added since the catalogue was read
            index = self._index.current(conn, at_least=int(sid.max()))
        metric, device = index.metric_code[sid], index.device_code[sid]
        return {
            str(index.metrics[m]): pd.Series(
                count[metric == m], index=index.devices[device[metric == m]]
            )
            for m in np.unique(metric)
        }

    def written_since(
        self, mark: int | None, before_ns: int
    ) -> tuple[int | None, pd.DataFrame | None]:
        """From the write log (``sqlite_write_log``): one statement over the writes after
        ``mark``, series mapped through the in-memory catalogue."""
        conn = self._conn()
        new_mark, written = sqlite_write_log.since(conn, mark, before_ns)
        if written is None:
            return new_mark, None
        sid = written.series
        index = self._index.current(conn, at_least=int(sid.max(initial=0)))
        frame = pd.DataFrame(
            {
                "device": index.devices.array.take(index.device_code[sid]),
                "metric": index.metrics.array.take(index.metric_code[sid]),
                "ts": written.first_ts,
            }
        )
        return new_mark, frame[WRITTEN_COLUMNS]

    def _rollup(
        self,
        start_ns: int,
        end_ns: int,
        metric: str,
        step_ns: int,
        devices: Sequence[str] | None,
    ) -> pd.DataFrame:
        """The rows in primary-key order, folded per series and bucket with ``reduceat``: a SQL
        ``GROUP BY series_id, ts / step`` cannot use that order (SQLite sorts through a temporary
        B-tree) and measured 1.8 s against 1.45 s for this on a day of 1,000 rigs at 60 s
        (docs/benchmarks-analyzer.md)."""
        scope = self._scope(devices, [metric])
        if scope is None:
            return empty_rollup()
        index, where, args = scope
        rows = (
            self._conn()
            .execute(
                f"SELECT series_id, ts, value FROM samples WHERE {where} AND ts >= ? AND ts < ? "
                "ORDER BY series_id, ts",
                [*args, start_ns, end_ns],
            )
            .fetchall()
        )
        if not rows:
            return empty_rollup()
        index, sid, ts, value = self._columns(index, rows)
        n = len(rows)
        del rows
        bucket = ts // step_ns * step_ns
        first = np.flatnonzero(np.r_[True, (sid[1:] != sid[:-1]) | (bucket[1:] != bucket[:-1])])
        last = np.r_[first[1:], n] - 1
        order = np.argsort(index.rank[sid[first]], kind="stable")  # series id → device, metric
        frame = index.frame(sid[first][order], bucket[first][order], value[last][order])
        return frame[["ts", "device"]].assign(
            count=(last - first + 1)[order],
            sum=np.add.reduceat(value, first)[order],
            min=np.minimum.reduceat(value, first)[order],
            max=np.maximum.reduceat(value, first)[order],
            last=value[last][order],
            last_ts=ts[last][order],
        )[ROLLUP_COLUMNS]

    def _columns(
        self, index: _SeriesIndex, rows: list[tuple[int, int, float]]
    ) -> tuple[_SeriesIndex, np.ndarray, np.ndarray, np.ndarray]:
        """``(series_id, ts, value)`` rows → three arrays, and an index that knows every id read."""
        n = len(rows)
        sid = np.fromiter(map(itemgetter(0), rows), np.int64, n)
        ts = np.fromiter(map(itemgetter(1), rows), np.int64, n)
        value = np.fromiter(map(itemgetter(2), rows), np.float64, n)
        if int(sid.max()) > index.max_id:  # another process added a series since the index was read
            index = self._index.current(self._conn(), at_least=int(sid.max()))
        return index, sid, ts, value

    def _frame(
        self,
        index: _SeriesIndex,
        rows: list[tuple[int, int, float]],
        last_per_step: int | None = None,
    ) -> pd.DataFrame:
        """``(series_id, ts, value)`` rows ordered by series id and ts → a contract frame, built
        column-wise.

        A stable sort on each series' (device, metric) rank turns series-id order into the
        contract's device, metric, ts order without comparing strings per row."""
        if not rows:
            return empty_samples()
        n = len(rows)
        index, sid, ts, value = self._columns(index, rows)
        order = np.argsort(index.rank[sid], kind="stable")
        sid, ts, value = sid[order], ts[order], value[order]
        if (
            last_per_step is not None
        ):  # last value per bucket; rows of a bucket are adjacent and in ts order
            ts = (ts // last_per_step) * last_per_step
            keep = np.ones(n, dtype=bool)
            keep[:-1] = (sid[1:] != sid[:-1]) | (ts[1:] != ts[:-1])
            sid, ts, value = sid[keep], ts[keep], value[keep]
        return index.frame(sid, ts, value)

    def prune(self, older_than_ns: int) -> int:
        with self._write_lock:
            conn = self._writer()
            cur = conn.execute("DELETE FROM samples WHERE ts < ?", (older_than_ns,))
            self._rollups.prune(conn, older_than_ns)
            return cur.rowcount

    def close(self) -> None:
        """This thread's read connection, and the write connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        with self._write_lock:
            if self._write_conn is not None:
                self._write_conn.close()
                self._write_conn = None

    # -- aggregate reads for the live page, inside SQLite: a few rows cross into Python --------

    def device_counts(self, online_since_ns: int) -> pd.DataFrame:
        rows = self._conn().execute(
            "SELECT role, kind, COUNT(*), "
            f"COALESCE(SUM(last_seen >= ? AND device NOT IN ({_REPORTED_DOWN})), 0) "
            "FROM devices GROUP BY role, kind ORDER BY role, kind",
            (online_since_ns,),
        )
        return _typed(rows.fetchall(), COUNT_COLUMNS, {"devices": "int64", "online": "int64"})

    def latest_totals(self, metric: str, fresh_since_ns: int) -> pd.DataFrame:
        # devices first, each to its series by the (device, metric) key: two searches per device
        # instead of three (30 against 43 ms CPU at 30,000 rigs)
        rows = self._conn().execute(
            "SELECT d.role, d.kind, SUM(l.value), COUNT(*), MIN(l.ts) FROM devices d "
            "CROSS JOIN series s ON s.device = d.device AND s.metric = ? "
            "CROSS JOIN latest l ON l.series_id = s.id "
            "WHERE l.ts >= ? GROUP BY d.role, d.kind ORDER BY d.role, d.kind",
            (metric, fresh_since_ns),
        )
        return _typed(
            rows.fetchall(),
            TOTAL_COLUMNS,
            {"sum": "float64", "count": "int64", "oldest_ts": "int64"},
        )

    def latest_top(self, metric: str, n: int, online_since_ns: int) -> pd.DataFrame:
        """The highest newest values alone first (one search per series, no join: 10 against 37 ms
        CPU at 30,000 rigs), then whether each candidate's device is online. Candidates above the
        lowest one are certain (every higher value is among them). Too few online ones among them
        (an outage: the hottest rigs are the ones that stopped reporting) and the ranking is done
        with the online test on every device, as one statement."""
        conn = self._conn()
        wanted = max(4 * int(n), 256)  # the cost is the walk over every series, not the heap
        rows = conn.execute(
            "SELECT s.device, c.ts, c.value, d.role, d.kind, d.model, d.zone, "
            f"d.last_seen >= ? AND NOT EXISTS ({_DOWN_DEVICE}) FROM ("
            "SELECT series_id, ts, value FROM latest "
            "WHERE series_id IN (SELECT id FROM series WHERE metric = ?) "
            "ORDER BY value DESC LIMIT ?) AS c "
            "JOIN series s ON s.id = c.series_id LEFT JOIN devices d ON d.device = s.device",
            (online_since_ns, metric, wanted),
        ).fetchall()
        every = len(rows) < wanted
        lowest = min((r[2] for r in rows), default=0.0)
        top = [r[:7] for r in rows if r[7] and (every or r[2] > lowest)]
        if not every and len(top) < n:
            top = conn.execute(
                "SELECT s.device, l.ts, l.value, d.role, d.kind, d.model, d.zone FROM series s "
                "JOIN latest l ON l.series_id = s.id JOIN devices d ON d.device = s.device "
                f"WHERE s.metric = ? AND d.last_seen >= ? AND s.device NOT IN ({_REPORTED_DOWN}) "
                "ORDER BY l.value DESC, s.device LIMIT ?",
                (metric, online_since_ns, int(n)),
            ).fetchall()
        top.sort(key=lambda r: (-r[2], r[0]))
        return _typed(top[:n], TOP_COLUMNS, {"ts": "int64", "value": "float64"})

    def _bucket_totals(self, metric: str, start_ns: int, end_ns: int, step_ns: int) -> pd.DataFrame:
        """Means per series and bucket, then their sums per bucket and (role, kind), in one
        statement: 30,000 rigs' minute of samples never leaves SQLite."""
        step = int(step_ns)
        rows = self._conn().execute(
            "SELECT x.b, d.role, d.kind, SUM(x.m) FROM ("
            f"SELECT series_id, (ts / {step}) * {step} AS b, AVG(value) AS m FROM samples "
            "WHERE series_id IN (SELECT id FROM series WHERE metric = ?) AND ts >= ? AND ts < ? "
            "GROUP BY series_id, b) AS x "
            "JOIN series s ON s.id = x.series_id JOIN devices d ON d.device = s.device "
            "GROUP BY x.b, d.role, d.kind ORDER BY x.b, d.role, d.kind",
            (metric, start_ns, end_ns),
        )
        return _typed(rows.fetchall(), BUCKET_TOTAL_COLUMNS, {"ts": "int64", "value": "float64"})

    def devices_with_roles(self, roles: Sequence[str]) -> pd.DataFrame:
        cur = self._conn().execute(
            f"SELECT {', '.join(DEVICE_COLUMNS)} FROM devices "
            "WHERE role IN (SELECT value FROM json_each(?)) ORDER BY device",
            (json.dumps(list(roles)),),
        )
        return pd.DataFrame(cur.fetchall(), columns=DEVICE_COLUMNS)

    # -- hourly roll-ups (issue #11: long reports; sqlite_rollups.py) ------------------------------
    def materialise_rollups(self, before_ns: int | None = None) -> int:
        """Recompute the dirty hours that start before ``before_ns`` (all of them: ``None``);
        returns the samples read. Cheap when called often (the hours written since the last call);
        a report calls it for its own range, so nothing is ever read stale."""
        with self._write_lock:
            conn = self._writer()
            hours = self._rollups.dirty(conn, 0, before_ns if before_ns is not None else 2**62)
            try:
                return self._rollups.materialise(conn, hours)
            except sqlite3.Error as exc:
                raise StoreUnavailable(
                    f"SQLite store {self.path}: {exc} ({disk_state(self.path)})"
                ) from exc

    def _hourly(
        self, start_ns: int, end_ns: int, metric: str, devices: Sequence[str] | None
    ) -> pd.DataFrame:
        """The dirty hours of the range are recomputed (and kept) first, then read."""
        with self._write_lock:
            conn = self._writer()
            dirty = self._rollups.dirty(conn, start_ns, end_ns)
            if dirty:
                self._rollups.materialise(conn, dirty)
        scope = self._scope(devices, [metric])
        if scope is None:
            return empty_hourly()
        index, where, args = scope
        st = self._rollups.read(self._conn(), where, args, start_ns, end_ns)
        if not len(st):
            return empty_hourly()
        sid = st["series_id"]
        if int(sid.max()) > index.max_id:
            index = self._index.current(self._conn(), at_least=int(sid.max()))
        st = st[np.lexsort((st["hour"], index.rank[sid]))]  # device, hour
        cols: dict[str, object] = {
            "ts": st["hour"],
            # categorical: a week of 1,000 rigs is 168,000 rows of a thousand names
            "device": pd.Categorical.from_codes(
                index.device_code[st["series_id"]], categories=index.devices
            ),
        }
        for c in ("count", "sum", "min", "max", "first_ts", "last_ts", "last"):
            cols[c] = st[c]
        for c in ("max_gap", "min_gap"):  # -1: none
            cols[c] = np.where(st[c] < 0, np.nan, st[c].astype(np.float64))
        for j in range(SUBS):
            cols[f"n{j}"] = st["sub"][:, j].astype(np.int64)
        return pd.DataFrame(cols)[HOURLY_COLUMNS]


#: Whether the device ``s.device`` has a newest ``up`` of 0 (see ``_REPORTED_DOWN``).
_DOWN_DEVICE = (
    "SELECT 1 FROM series u JOIN latest lu ON lu.series_id = u.id "
    "WHERE u.device = s.device AND u.metric = 'up' AND lu.value = 0"
)
#: Devices whose newest ``up`` is 0: a poller reached them and they did not answer.
_REPORTED_DOWN = (
    "SELECT s.device FROM series s JOIN latest l ON l.series_id = s.id "
    "WHERE s.metric = 'up' AND l.value = 0"
)


def _typed(rows: list[tuple], columns: Sequence[str], dtypes: dict[str, str]) -> pd.DataFrame:
    """A small aggregate result as a frame with the same dtypes as the generic default's."""
    return pd.DataFrame(rows, columns=list(columns)).astype(dtypes)
