"""The persistent outbox in state.db: every outbound message, its delivery state and a log of
attempts.

A message is queued in the same SQLite transaction as whatever caused it, so a crash can neither
lose it nor queue it twice (``UNIQUE (destination, idempotency_key)``). Each destination is
delivered in queue order, one message at a time (head of line), so the receiver sees facts in the
order they happened. A message leaves the queue only as ``delivered`` or, after its deadline,
``dead``; both stay in the table as the record of what was sent.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from minewatch.db import PerThreadConnection, immediate

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id              INTEGER PRIMARY KEY,
    destination     TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    message_id      TEXT    NOT NULL UNIQUE,
    idempotency_key TEXT    NOT NULL,
    body            BLOB    NOT NULL,
    meta            TEXT    NOT NULL DEFAULT '{}',
    created_ns      INTEGER NOT NULL,
    deadline_ns     INTEGER NOT NULL,
    next_attempt_ns INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    status          TEXT    NOT NULL DEFAULT 'pending',   -- pending | delivered | dead
    last_error      TEXT,
    done_ns         INTEGER,
    UNIQUE (destination, idempotency_key)
);
CREATE INDEX IF NOT EXISTS outbox_queue ON outbox (destination, status, id);
CREATE TABLE IF NOT EXISTS delivery_log (
    id          INTEGER PRIMARY KEY,
    outbox_id   INTEGER NOT NULL,
    destination TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    started_ns  INTEGER NOT NULL,
    duration_ms REAL    NOT NULL,
    outcome     TEXT    NOT NULL,   -- delivered | failed | dead
    status_code INTEGER,
    detail      TEXT
);
CREATE INDEX IF NOT EXISTS delivery_log_msg ON delivery_log (outbox_id);
"""


#: Columns added after the first release, so an existing state.db gains them on open.
MIGRATIONS = {
    # per-destination sequence number of a regulator message (null for operator channels)
    "seq": "ALTER TABLE outbox ADD COLUMN seq INTEGER",
    # a critical message pending makes its destination's worker probe on a short interval
    "critical": "ALTER TABLE outbox ADD COLUMN critical INTEGER NOT NULL DEFAULT 0",
}


def migrate(conn: sqlite3.Connection) -> None:
    """Create the tables, then add the columns an older state.db lacks."""
    conn.executescript(SCHEMA)
    have = {r[1] for r in conn.execute("PRAGMA table_info(outbox)")}
    for column, ddl in MIGRATIONS.items():
        if column not in have:
            conn.execute(ddl)
    conn.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS outbox_seq ON outbox (destination, seq) "
        "WHERE seq IS NOT NULL"
    )


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    destination: str
    kind: str
    message_id: str
    idempotency_key: str
    body: bytes
    meta: dict[str, Any]
    created_ns: int
    deadline_ns: int
    next_attempt_ns: int
    attempts: int
    status: str
    last_error: str | None
    seq: int | None = None
    critical: bool = False


_COLS = (
    "id, destination, kind, message_id, idempotency_key, body, meta, created_ns, deadline_ns, "
    "next_attempt_ns, attempts, status, last_error, seq, critical"
)


def _msg(row: tuple) -> Message:
    r = list(row)
    r[5] = bytes(r[5])
    r[6] = orjson.loads(r[6])
    r[14] = bool(r[14])
    return Message(*r)


def sql_filters(**equal: object) -> tuple[str, list[object]]:
    """``WHERE`` text and arguments for ``column = value`` on every value that is not None/empty."""
    used = {k: v for k, v in equal.items() if v not in (None, "")}
    return " AND ".join(f"{k} = ?" for k in used) or "1", list(used.values())


class Outbox(PerThreadConnection):
    def __init__(self, path: Path | str) -> None:
        super().__init__(path)
        migrate(self.conn())

    def enqueue(
        self,
        destination: str,
        kind: str,
        body: bytes,
        *,
        message_id: str,
        idempotency_key: str,
        now_ns: int,
        deadline_ns: int,
        meta: dict[str, Any] | None = None,
        seq: int | None = None,
        critical: bool = False,
        conn: sqlite3.Connection | None = None,
    ) -> int | None:
        """Queue one message; returns its id, or None when this destination already has that key."""
        cur = (conn or self.conn()).execute(
            "INSERT OR IGNORE INTO outbox (destination, kind, message_id, idempotency_key, body, "
            "meta, created_ns, deadline_ns, next_attempt_ns, seq, critical) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                destination,
                kind,
                message_id,
                idempotency_key,
                body,
                orjson.dumps(meta or {}).decode(),
                now_ns,
                deadline_ns,
                now_ns,
                seq,
                int(critical),
            ),
        )
        return cur.lastrowid if cur.rowcount else None

    def critical_pending(self, destination: str) -> bool:
        """Whether a critical message waits in this destination's queue (at its head or behind)."""
        return (
            self.conn()
            .execute(
                "SELECT 1 FROM outbox WHERE destination = ? AND status = 'pending' "
                "AND critical = 1 "
                "LIMIT 1",
                (destination,),
            )
            .fetchone()
            is not None
        )

    def expedite(self, destination: str, now_ns: int, conn: sqlite3.Connection) -> None:
        """Bring a destination's next attempt forward to now (a critical message was queued
        behind a message waiting out a long backoff)."""
        conn.execute(
            "UPDATE outbox SET next_attempt_ns = ? WHERE destination = ? AND status = 'pending' "
            "AND next_attempt_ns > ?",
            (now_ns, destination, now_ns),
        )

    def replace(
        self,
        msg: Message,
        kind: str,
        body: bytes,
        *,
        message_id: str,
        key: str,
        now_ns: int,
        conn: sqlite3.Connection,
    ) -> None:
        """Put a stand-in in a refused message's place (same row, so the same place in the queue
        and the same sequence number); the refused body's hash is in the ledger."""
        conn.execute(
            "UPDATE outbox SET kind = ?, body = ?, message_id = ?, idempotency_key = ?, "
            "attempts = 0, next_attempt_ns = ?, last_error = NULL WHERE id = ?",
            (kind, body, message_id, key, now_ns, msg.id),
        )

    def sequenced(self, destination: str) -> dict[int, bytes]:
        """Every sequenced message of a destination, body by sequence number (for the audit)."""
        return {
            seq: bytes(body)
            for seq, body in self.conn().execute(
                "SELECT seq, body FROM outbox WHERE destination = ? AND seq IS NOT NULL",
                (destination,),
            )
        }

    def head(self, destination: str) -> Message | None:
        """The oldest undelivered message of a destination: the only one that may be attempted."""
        row = (
            self.conn()
            .execute(
                f"SELECT {_COLS} FROM outbox WHERE destination = ? AND status = 'pending' "
                "ORDER BY id LIMIT 1",
                (destination,),
            )
            .fetchone()
        )
        return _msg(row) if row else None

    def get(self, outbox_id: int) -> Message | None:
        row = (
            self.conn().execute(f"SELECT {_COLS} FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
        )
        return _msg(row) if row else None

    def last_of_kind(self, destination: str, kind: str) -> Message | None:
        row = (
            self.conn()
            .execute(
                f"SELECT {_COLS} FROM outbox WHERE destination = ? AND kind = ? "
                "ORDER BY id DESC LIMIT 1",
                (destination, kind),
            )
            .fetchone()
        )
        return _msg(row) if row else None

    def delivered_after(self, destination: str, outbox_id: int) -> bool:
        """Whether any message queued after ``outbox_id`` was delivered."""
        row = (
            self.conn()
            .execute(
                "SELECT 1 FROM outbox WHERE destination = ? AND id > ? AND status = 'delivered' "
                "LIMIT 1",
                (destination, outbox_id),
            )
            .fetchone()
        )
        return row is not None

    def has_pending(self, destination: str, kind: str) -> bool:
        return (
            self.conn()
            .execute(
                "SELECT 1 FROM outbox WHERE destination = ? AND kind = ? AND status = 'pending' "
                "LIMIT 1",
                (destination, kind),
            )
            .fetchone()
            is not None
        )

    def has_key(self, destination: str, key: str, conn: sqlite3.Connection | None = None) -> bool:
        return (conn or self.conn()).execute(
            "SELECT 1 FROM outbox WHERE destination = ? AND idempotency_key = ?", (destination, key)
        ).fetchone() is not None

    def record(
        self,
        msg: Message,
        *,
        outcome: str,
        started_ns: int,
        duration_ms: float,
        status_code: int | None,
        detail: str,
        next_attempt_ns: int | None = None,
        then: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        """Log one attempt and move the message on: delivered, dead, or failed (retry at
        ``next_attempt_ns``). ``then`` runs inside the same transaction (the ledger receipt
        commits with the status change)."""
        with immediate(self.conn()) as c:
            attempt = msg.attempts + (0 if outcome == "dead" else 1)
            c.execute(
                "INSERT INTO delivery_log (outbox_id, destination, attempt, started_ns, "
                "duration_ms, outcome, "
                "status_code, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    msg.id,
                    msg.destination,
                    attempt,
                    started_ns,
                    duration_ms,
                    outcome,
                    status_code,
                    detail[:2000],
                ),
            )
            if outcome == "failed":
                c.execute(
                    "UPDATE outbox SET attempts = ?, next_attempt_ns = ?, last_error = ? WHERE id "
                    "= ?",
                    (attempt, next_attempt_ns, detail[:2000], msg.id),
                )
            else:
                c.execute(
                    "UPDATE outbox SET attempts = ?, status = ?, done_ns = ?, last_error = ? WHERE "
                    "id = ?",
                    (
                        attempt,
                        outcome,
                        started_ns,
                        None if outcome == "delivered" else detail[:2000],
                        msg.id,
                    ),
                )
            if then is not None:
                then(c)

    def requeue_dead(self, now_ns: int, deadline_ns: int, ids: list[int] | None = None) -> int:
        """Give dead messages another life (operator decision, e.g. after fixing the receiver
        URL)."""
        where, args = "status = 'dead'", []
        if ids:
            where += f" AND id IN ({','.join('?' * len(ids))})"
            args = list(ids)
        cur = self.conn().execute(
            f"UPDATE outbox SET status = 'pending', next_attempt_ns = ?, deadline_ns = ?, "
            f"done_ns = NULL WHERE {where}",
            [now_ns, deadline_ns, *args],
        )
        return cur.rowcount

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for dest, status, n in self.conn().execute(
            "SELECT destination, status, COUNT(*) FROM outbox GROUP BY destination, status"
        ):
            out.setdefault(dest, {})[status] = n
        return out

    def messages(
        self, destination: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[Message]:
        where, args = sql_filters(destination=destination, status=status)
        rows = (
            self.conn()
            .execute(
                f"SELECT {_COLS} FROM outbox WHERE {where} ORDER BY id DESC LIMIT ?", [*args, limit]
            )
            .fetchall()
        )
        return [_msg(r) for r in rows]

    def log(self, outbox_id: int) -> list[dict[str, Any]]:
        cur = self.conn().execute(
            "SELECT attempt, started_ns, duration_ms, outcome, status_code, detail "
            "FROM delivery_log WHERE outbox_id = ? ORDER BY id",
            (outbox_id,),
        )
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur]
