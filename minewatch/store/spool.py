"""The outage spool: batches the telemetry store could not take, on disk, oldest first.

A SQLite file (WAL, ``synchronous=NORMAL`` like every minewatch database) rather than home-made
segment files: a committed append survives a process crash, a torn write is rolled back, and several
processes can share it. Each batch is zlib-compressed JSON, so a corrupt payload is detected on read
(zlib's checksum) and quarantined rather than replayed.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from minewatch.db import connect, disk_state
from minewatch.errors import InvalidInput
from minewatch.sample import DeviceMeta, Sample, SampleBatch, now_ns
from minewatch.store.base import StoreUnavailable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    -- AUTOINCREMENT: ids are never reused, so their order is the batches' age
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    spooled_ns INTEGER NOT NULL,
    samples    INTEGER NOT NULL,
    bytes      INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    payload    BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (                 -- device metadata waiting for the store
    device TEXT PRIMARY KEY, kind TEXT, model TEXT, zone TEXT, rack TEXT, role TEXT
);
-- batches the store refused for a reason other than being down
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY, spooled_ns INTEGER, samples INTEGER, bytes INTEGER,
    error TEXT, payload BLOB
);
"""


class SpoolFull(StoreUnavailable):
    """The spool reached its size bound: the caller must not acknowledge the data (MQTT keeps
    it)."""


@dataclass(frozen=True)
class SpooledBatch:
    id: int
    samples: SampleBatch
    attempts: int


def encode(samples: Iterable[Sample] | SampleBatch) -> bytes:
    """Columns as JSON (orjson writes numpy arrays natively), zlib-compressed."""
    batch = SampleBatch.of(samples)
    return zlib.compress(
        orjson.dumps(
            {"keys": batch.keys, "key": batch.key, "ts": batch.ts, "value": batch.value},
            option=orjson.OPT_SERIALIZE_NUMPY,
        ),
        1,
    )


def decode(payload: bytes) -> SampleBatch:
    """Raises InvalidInput on a corrupt payload (zlib checksum, JSON or shape). Reads the row
    format of earlier versions too (a list of ``[ts, device, metric, value]``), so a spool left by
    an upgrade still replays."""
    try:
        doc = orjson.loads(zlib.decompress(payload))
        if isinstance(doc, list):
            return SampleBatch.of(
                Sample(int(ts), dev, met, float("nan") if val is None else float(val))
                for ts, dev, met, val in doc
            )
        keys = [(str(d), str(m)) for d, m in doc["keys"]]
        key = np.array(doc["key"], dtype=np.intp)
        ts = np.array(doc["ts"], dtype=np.int64)
        value = np.array([math.nan if v is None else v for v in doc["value"]], dtype=np.float64)
        if not len(key) == len(ts) == len(value) or (len(key) and int(key.max()) >= len(keys)):
            raise ValueError("columns of different lengths or a key out of range")
    except (zlib.error, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"corrupt spool payload: {exc}") from exc
    return SampleBatch(keys, key, ts, value)


class Spool:
    """Append-only queue of sample batches with a size bound (bytes of payload, quarantine
    included)."""

    def __init__(self, path: Path | str, max_bytes: int) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        try:
            self._conn = connect(self.path)
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"spool {self.path}: {exc}") from exc

    def _used_bytes(self) -> int:
        return int(
            self._conn.execute(
                "SELECT (SELECT COALESCE(SUM(bytes), 0) FROM batches) + (SELECT "
                "COALESCE(SUM(bytes), 0) FROM quarantine)"
            ).fetchone()[0]
        )

    def append(self, samples: Iterable[Sample] | SampleBatch) -> int:
        """Durably add one batch; returns its size. Raises SpoolFull past the bound,
        StoreUnavailable when the disk refuses."""
        samples = SampleBatch.of(samples)
        payload = encode(samples)
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    used = self._used_bytes()
                    if used + len(payload) > self.max_bytes:
                        raise SpoolFull(
                            f"spool {self.path} is full ({used / 1e6:.1f} of "
                            f"{self.max_bytes / 1e6:.1f} "
                            f"MB): a batch of {len(samples)} samples was NOT stored"
                        )
                    self._conn.execute(
                        "INSERT INTO batches (spooled_ns, samples, bytes, payload) VALUES (?, ?, "
                        "?, ?)",
                        (now_ns(), len(samples), len(payload), payload),
                    )
                    self._conn.execute("COMMIT")
                finally:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
            except sqlite3.Error as exc:
                raise StoreUnavailable(
                    f"spool {self.path}: {exc} ({disk_state(self.path)})"
                ) from exc
        return len(payload)

    def oldest(self, max_samples: int) -> list[SpooledBatch]:
        """The oldest batches, up to ``max_samples`` in total (at least one batch). A batch whose
        payload fails its checksum is moved to quarantine instead."""
        picked: list[tuple[int, int]] = []
        total = 0
        with self._lock:
            for bid, n, attempts in self._conn.execute(
                "SELECT id, samples, attempts FROM batches ORDER BY id"
            ):
                if picked and total + n > max_samples:
                    break
                picked.append((bid, attempts))
                total += n
            out = []
            for bid, attempts in picked:
                (payload,) = self._conn.execute(
                    "SELECT payload FROM batches WHERE id = ?", (bid,)
                ).fetchone()
                try:
                    out.append(SpooledBatch(bid, decode(payload), attempts))
                except ValueError as exc:
                    self._quarantine_locked(bid, str(exc))
        return out

    def delete(self, ids: list[int]) -> None:
        with self._lock:
            self._conn.executemany("DELETE FROM batches WHERE id = ?", [(i,) for i in ids])

    def failed(self, ids: list[int]) -> None:
        with self._lock:
            self._conn.executemany(
                "UPDATE batches SET attempts = attempts + 1 WHERE id = ?", [(i,) for i in ids]
            )

    def quarantine(self, bid: int, error: str) -> None:
        with self._lock:
            self._quarantine_locked(bid, error)

    def _quarantine_locked(self, bid: int, error: str) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.execute(
            "INSERT INTO quarantine (id, spooled_ns, samples, bytes, error, payload) "
            "SELECT id, spooled_ns, samples, bytes, ?, payload FROM batches WHERE id = ?",
            (error, bid),
        )
        self._conn.execute("DELETE FROM batches WHERE id = ?", (bid,))
        self._conn.execute("COMMIT")

    def add_devices(self, metas: list[DeviceMeta]) -> None:
        with self._lock:
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO devices (device, kind, model, zone, rack, role) VALUES "
                    "(?, ?, ?, ?, ?, ?)",
                    [(m.device, m.kind, m.model, m.zone, m.rack, m.role) for m in metas],
                )
            except sqlite3.Error as exc:
                raise StoreUnavailable(
                    f"spool {self.path}: {exc} ({disk_state(self.path)})"
                ) from exc

    def devices(self) -> list[DeviceMeta]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT device, kind, model, zone, rack, role FROM devices"
            ).fetchall()
        return [DeviceMeta(*r) for r in rows]

    def remove_devices(self, metas: list[DeviceMeta]) -> None:
        """Forget metadata once stored, unless it was replaced meanwhile."""
        with self._lock:
            self._conn.executemany(
                "DELETE FROM devices WHERE device = ? AND kind = ? AND model = ? AND zone = ? AND "
                "rack = ? AND role = ?",
                [(m.device, m.kind, m.model, m.zone, m.rack, m.role) for m in metas],
            )

    def stats(self) -> dict[str, int]:
        with self._lock:
            batches, samples, size = self._conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(samples), 0), COALESCE(SUM(bytes), 0) FROM batches"
            ).fetchone()
            q_batches, q_samples = self._conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(samples), 0) FROM quarantine"
            ).fetchone()
            pending_devices = self._conn.execute("SELECT COUNT(*) FROM devices").fetchone()[0]
            used = self._used_bytes()
        return {
            "spool_batches": batches,
            "spool_samples": samples,
            "spool_bytes": size,
            "spool_used_bytes": used,
            "spool_max_bytes": self.max_bytes,
            "spool_pending_devices": pending_devices,
            "quarantined_batches": q_batches,
            "quarantined_samples": q_samples,
        }

    def close(self) -> None:
        with self._lock:
            self._conn.close()
