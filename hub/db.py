"""One small interface over the hub's two storage engines: PostgreSQL (psycopg 3) in production,
SQLite for the demo and for a bank trying the hub on one machine.

The hub's SQL is written once with ``?`` placeholders and portable types; the PostgreSQL connection
rewrites placeholders to ``%s``. Each thread has its own connection (FastAPI runs sync endpoints on
a thread pool); ``transaction()`` is the unit of work. PostgreSQL transactions run at READ COMMITTED
and take a row lock on the facility (``lock_facility``), so two messages of one facility are checked
against its sequence one after the other while other facilities proceed in parallel; SQLite
serialises writers with ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from minewatch.db import connect as sqlite_connect

Row = tuple[Any, ...]


class Database:
    """``url``: ``postgresql://...`` (or ``postgres://``) or a SQLite file path (``sqlite:///p`` or
    a bare path)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = "postgresql" if re.match(r"^postgres(ql)?://", url) else "sqlite"
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return Path(self.url.removeprefix("sqlite:///").removeprefix("sqlite://"))

    def conn(self) -> Any:
        c = getattr(self._local, "conn", None)
        if c is None or (self.dialect == "postgresql" and c.closed):
            c = self._open()
            self._local.conn = c
            with self._lock:
                self._all.append(c)
        return c

    def _open(self) -> Any:
        if self.dialect == "sqlite":
            return sqlite_connect(self.path)
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.dialect == "postgresql" else text

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        c = self.conn()
        if self.dialect == "sqlite":
            c.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self, c)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        else:
            with c.transaction():
                yield Tx(self, c)

    def query(self, text: str, args: Sequence[Any] = ()) -> list[Row]:
        """A read outside any transaction (autocommit)."""
        return [tuple(r) for r in self.conn().execute(self.sql(text), tuple(args)).fetchall()]

    def close(self) -> None:
        with self._lock:
            for c in self._all:
                c.close()
            self._all.clear()
        self._local = threading.local()


class Tx:
    """Statements inside one transaction."""

    def __init__(self, db: Database, conn: Any) -> None:
        self.db = db
        self.conn = conn

    def execute(self, text: str, args: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self.db.sql(text), tuple(args))

    def one(self, text: str, args: Sequence[Any] = ()) -> Row | None:
        r = self.execute(text, args).fetchone()
        return tuple(r) if r is not None else None

    def all(self, text: str, args: Sequence[Any] = ()) -> list[Row]:
        return [tuple(r) for r in self.execute(text, args).fetchall()]

    def insert_id(self, text: str, args: Sequence[Any] = ()) -> int:
        """Run an INSERT and return the new row's id (``RETURNING id`` works on both engines)."""
        row = self.execute(text + " RETURNING id", args).fetchone()
        return int(row[0])

    def lock_facility(self, facility_id: str) -> Row | None:
        """The facility's register row, locked until the transaction ends (PostgreSQL); SQLite's
        ``BEGIN IMMEDIATE`` already holds the one write lock."""
        tail = " FOR UPDATE" if self.db.dialect == "postgresql" else ""
        return self.one(
            "SELECT id, heartbeat_interval_s, last_sequence, last_body_sha256 FROM facilities "
            "WHERE id = ?" + tail,
            (facility_id,),
        )
