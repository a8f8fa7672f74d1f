"""SQLite connections set up the one way every minewatch database needs them."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from minewatch.errors import DataUnavailable

#: Most rows in one multi-row ``INSERT ... VALUES``: 3 columns x 2,048 stays far below SQLite's
#: 32,766 parameters, and larger statements measured no faster.
VALUES_ROWS = 2048


def connect(path: Path | str, *, timeout_s: float = 30.0) -> sqlite3.Connection:
    """Open a WAL-mode connection that tolerates other processes writing the same file.

    WAL lets the API read while the collector writes; synchronous=NORMAL keeps a committed batch
    across a process crash (only an OS crash can lose the last commits), which is the guarantee the
    MQTT ack-after-write relies on.
    """
    try:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(path), timeout=timeout_s, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
    except (sqlite3.Error, OSError) as exc:  # every process reports this as one line, not a trace
        reason = getattr(exc, "strerror", None) or exc
        raise DataUnavailable(f"{path}: cannot open: {reason} ({disk_state(Path(path))})") from exc
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
    conn.execute("PRAGMA foreign_keys=ON")
    # A 64 MiB page cache keeps the upper B-tree levels of a 30k-device telemetry file in memory;
    # the default 2 MiB made every batch insert a disk-bound random walk.
    conn.execute("PRAGMA cache_size=-65536")
    return conn


def disk_state(path: Path) -> str:
    """What the filesystem holding ``path`` says (read-only? free space?), for error messages: a
    full or read-only disk reads as "unable to open database file" in SQLite's own words."""
    folder = path if path.is_dir() else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        st = os.statvfs(folder)
    except OSError as exc:
        return f"{folder}: {exc.strerror or exc}"
    free_mb = st.f_bavail * st.f_frsize / 1e6
    total_mb = st.f_blocks * st.f_frsize / 1e6
    read_only = "read-only filesystem, " if st.f_flag & os.ST_RDONLY else ""
    return f"{folder}: {read_only}{free_mb:.1f} MB free of {total_mb:.1f} MB"


class PerThreadConnection:
    """One connection per thread to one database file (sqlite3 connections must not be shared by
    threads that write concurrently); subclasses call ``conn()``."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()

    def conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = connect(self.path)
            self._local.conn = c
        return c

    def close(self) -> None:
        """Close this thread's connection."""
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error: the write lock is taken up
    front, so a read-then-write (e.g. read the ledger head, append after it) cannot interleave with
    another writer."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def insert_rows(
    conn: sqlite3.Connection,
    head: str,
    tail: str,
    columns: Sequence[np.ndarray | list[str]],
) -> None:
    """``head`` + ``VALUES (?, ...), (?, ...), ...`` + ``tail`` for the rows of ``columns``, in
    statements of up to ``VALUES_ROWS`` rows.

    Why not ``executemany``: it binds and steps one row at a time and releases the GIL around each
    step, so under a busy decoder thread every row waits to get the GIL back. One statement of
    2,048 rows runs its whole insert in a single step without the GIL, and costs ~0.5 µs less per
    row besides (docs/benchmarks-store.md). Statement sizes are powers of two so that the few
    distinct texts stay in the connection's statement cache.
    """
    width = len(columns)
    n = len(columns[0])
    flat: list[object] = [None] * (width * n)
    for j, col in enumerate(columns):
        flat[j::width] = col.tolist() if isinstance(col, np.ndarray) else col
    row = "(" + ", ".join(["?"] * width) + ")"
    i = 0
    while i < n:
        k = VALUES_ROWS if n - i >= VALUES_ROWS else 1 << ((n - i).bit_length() - 1)
        conn.execute(head + ", ".join([row] * k) + tail, flat[width * i : width * (i + k)])
        i += k
