"""What the notifier remembers about each alert and silence, in state.db, so that a restart neither
re-notifies nor forgets a repeat, an escalation, an acknowledgement or an open regulator breach."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, fields
from typing import Any

import orjson

from minewatch.alerting import ACTIVE_STATES, AlertState, AlertTransition

SCHEMA = """
CREATE TABLE IF NOT EXISTS notify_alerts (
    alert_id         INTEGER PRIMARY KEY,
    payload          TEXT    NOT NULL,            -- latest alert.transition payload
    state            TEXT    NOT NULL,
    firing_since_ns  INTEGER,
    regulator_open   INTEGER NOT NULL DEFAULT 0,  -- a breach_opened was queued and not yet resolved
    ack_by           TEXT,
    ack_comment      TEXT,
    ack_until_ns     INTEGER,                     -- acknowledged until (NULL: not acknowledged)
    last_notified_ns INTEGER,
    escalated        INTEGER NOT NULL DEFAULT 0,
    pending_change   TEXT,          -- firing | resolved | repeat: news for the next notification
    pending_since_ns INTEGER        -- when that news happened (group_wait counts from here)
);
CREATE TABLE IF NOT EXISTS notify_silences (
    silence_id  TEXT PRIMARY KEY,
    matchers    TEXT    NOT NULL,
    starts_ns   INTEGER NOT NULL,
    ends_ns     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS notify_cursor (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
);
"""

log = logging.getLogger(__name__)

_ACTIVE = sorted(s.value for s in ACTIVE_STATES)
#: An acknowledgement without an expiry lasts until the alert ends.
ACK_FOREVER_NS = 2**62


@dataclass
class NotificationState:
    """What the notifier knows of one alert: its latest transition (``payload``) and where telling
    the operator and the regulator about it stands. Leaving an active state after a notification is
    news too; ``suppressed`` is still a breach, muted for the operator: no news, no reset."""

    alert_id: int
    payload: AlertTransition
    state: AlertState
    firing_since_ns: int | None = None
    regulator_open: int = 0
    ack_by: str | None = None
    ack_comment: str | None = None
    ack_until_ns: int | None = None
    last_notified_ns: int | None = None
    escalated: int = 0
    pending_change: str | None = None
    pending_since_ns: int | None = None

    def news(self, change: str | None, at_ns: int) -> None:
        """Set (or clear, with None) what the operator has to be told about this alert."""
        self.pending_change = change
        self.pending_since_ns = at_ns if change else None

    def acknowledged(self, now_ns: int) -> bool:
        return self.ack_until_ns is not None and now_ns < self.ack_until_ns

    @property
    def severity(self) -> str:
        return self.payload.severity or "warning"

    @property
    def family(self) -> str:
        return self.payload.family or "other"

    @property
    def hints(self) -> list[str]:
        return list(self.payload.notify)

    @property
    def regulator_notifiable(self) -> bool:
        return self.payload.regulator_notifiable


_FIELDS = [f.name for f in fields(NotificationState)]


class AlertTable:
    """Reads and writes ``notify_alerts`` / ``notify_silences`` / ``notify_cursor`` on a connection
    the caller owns (so updates commit with the outbox rows they cause)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        conn.executescript(SCHEMA)

    def get(self, alert_id: int) -> NotificationState | None:
        row = self.conn.execute(
            f"SELECT {', '.join(_FIELDS)} FROM notify_alerts WHERE alert_id = ?", (alert_id,)
        ).fetchone()
        return self._state(row) if row else None

    @staticmethod
    def _state(row: tuple[Any, ...]) -> NotificationState:
        d = dict(zip(_FIELDS, row, strict=True))
        d["payload"] = AlertTransition.parse(orjson.loads(d["payload"]))
        d["state"] = AlertState(d["state"])
        return NotificationState(**d)

    def put(self, st: NotificationState) -> None:
        vals = [getattr(st, f) for f in _FIELDS]
        vals[1] = st.payload.model_dump_json()
        vals[2] = st.state.value
        self.conn.execute(
            f"INSERT OR REPLACE INTO notify_alerts ({', '.join(_FIELDS)}) "
            f"VALUES ({', '.join('?' * len(_FIELDS))})",
            vals,
        )

    def active(self) -> list[NotificationState]:
        """Alerts the operator side still has business with: active ones and those with news to
        send. A row whose stored transition no longer parses is logged and left out, so one bad row
        cannot stop every timer."""
        rows = self.conn.execute(
            f"SELECT {', '.join(_FIELDS)} FROM notify_alerts WHERE state IN "
            f"({', '.join('?' * len(ACTIVE_STATES))}) OR pending_change IS NOT NULL "
            "ORDER BY alert_id",
            _ACTIVE,
        ).fetchall()
        out = []
        for r in rows:
            try:
                out.append(self._state(r))
            except ValueError as exc:
                log.error("notify_alerts row for alert %s skipped: %s", r[0], exc)
        return out

    def count_active(self) -> int:
        return self.conn.execute(
            f"SELECT COUNT(*) FROM notify_alerts WHERE state IN "
            f"({', '.join('?' * len(ACTIVE_STATES))})",
            _ACTIVE,
        ).fetchone()[0]

    # silences ---------------------------------------------------------------------------------
    def add_silence(self, silence_id: str, matchers: Any, starts_ns: int, ends_ns: int) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO notify_silences VALUES (?, ?, ?, ?)",
            (silence_id, orjson.dumps(matchers).decode(), starts_ns, ends_ns),
        )

    def remove_silence(self, silence_id: str) -> Any:
        """Forget a silence; returns its matchers (None if it was never seen)."""
        row = self.conn.execute(
            "SELECT matchers FROM notify_silences WHERE silence_id = ?", (silence_id,)
        ).fetchone()
        self.conn.execute("DELETE FROM notify_silences WHERE silence_id = ?", (silence_id,))
        return orjson.loads(row[0]) if row else None

    def silences(self, now_ns: int) -> list[Any]:
        rows = self.conn.execute(
            "SELECT matchers FROM notify_silences WHERE starts_ns <= ? AND ends_ns > ?",
            (now_ns, now_ns),
        ).fetchall()
        return [orjson.loads(r[0]) for r in rows]

    # cursor -----------------------------------------------------------------------------------
    def cursor(self, name: str) -> int | None:
        row = self.conn.execute("SELECT seq FROM notify_cursor WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def set_cursor(self, name: str, seq: int) -> None:
        self.conn.execute("INSERT OR REPLACE INTO notify_cursor VALUES (?, ?)", (name, seq))
