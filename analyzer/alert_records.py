"""Alert state in ``state.db``: open alerts with their timers (so a restart resumes a half-elapsed
``for``), every transition with actor, reason, values and evidence, acknowledgements and silences.

Persistence only: telling others what changed is ``minewatch.analyzer.state.AlertStore``'s job.
Every read returns plain JSON-ready dicts (the API serves them as they are).
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from minewatch.alerting import (
    ALERT_FILTERS,
    LISTED_ACTIVE_STATES,
    MATCHER_LABELS,
    AlertState,
    AlertTransition,
    parse_matchers,
)
from minewatch.analyzer.lifecycle import SubjectState
from minewatch.db import connect
from minewatch.errors import Conflict, InvalidInput, NotFound
from minewatch.sample import now_ns

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id                   INTEGER PRIMARY KEY,
    rule_id              TEXT NOT NULL,
    subject              TEXT NOT NULL,
    rule_title           TEXT NOT NULL,
    family               TEXT NOT NULL,
    severity             TEXT NOT NULL,
    regulator_notifiable INTEGER NOT NULL,
    group_key            TEXT NOT NULL,
    state                TEXT NOT NULL,
    machine_state        TEXT NOT NULL,
    active_since_ns      INTEGER NOT NULL,
    fired_at_ns          INTEGER,
    clear_since_ns       INTEGER,
    resolved_at_ns       INTEGER,
    value                REAL,
    threshold            REAL,
    peak_max             REAL,
    peak_min             REAL,
    unit                 TEXT NOT NULL DEFAULT '',
    source               TEXT NOT NULL DEFAULT '',
    silenced             INTEGER NOT NULL DEFAULT 0,
    suppressed_by        TEXT,
    ack_by               TEXT,
    ack_comment          TEXT,
    ack_at_ns            INTEGER,
    ack_expires_at_ns    INTEGER,
    evidence             TEXT,
    updated_at_ns        INTEGER NOT NULL
);
-- de-duplication: at most one open alert per (rule, subject)
CREATE UNIQUE INDEX IF NOT EXISTS alerts_open ON alerts (rule_id, subject)
    WHERE resolved_at_ns IS NULL;
CREATE INDEX IF NOT EXISTS alerts_state ON alerts (state, id);
CREATE TABLE IF NOT EXISTS alert_transitions (
    id           INTEGER PRIMARY KEY,
    alert_id     INTEGER NOT NULL REFERENCES alerts (id),
    at_ns        INTEGER NOT NULL,
    from_state   TEXT NOT NULL,
    to_state     TEXT NOT NULL,
    actor        TEXT NOT NULL,
    reason       TEXT NOT NULL,
    value        REAL,
    threshold    REAL,
    silenced     INTEGER NOT NULL,
    acknowledged INTEGER NOT NULL,
    evidence     TEXT
);
CREATE INDEX IF NOT EXISTS alert_transitions_alert ON alert_transitions (alert_id, id);
CREATE TABLE IF NOT EXISTS alert_silences (
    id               INTEGER PRIMARY KEY,
    kind             TEXT NOT NULL,
    matchers         TEXT NOT NULL,
    starts_at_ns     INTEGER NOT NULL,
    ends_at_ns       INTEGER NOT NULL,
    author           TEXT NOT NULL,
    reason           TEXT NOT NULL,
    created_at_ns    INTEGER NOT NULL,
    expired_notified INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS analyzer_cursor (
    rule_id TEXT PRIMARY KEY,
    last_ns INTEGER NOT NULL
);
"""

#: The ``analyzer_cursor`` row holding when the analyzer last completed a cycle: the notifier's
#: heartbeat tells the central bank, so a stopped analyzer is visible there.
CYCLE_CURSOR = "~cycle"


def last_cycle_ns(conn: sqlite3.Connection) -> int | None:
    """When the analyzer writing to this state.db last completed a cycle (None: never)."""
    try:
        row = conn.execute(
            "SELECT last_ns FROM analyzer_cursor WHERE rule_id = ?", (CYCLE_CURSOR,)
        ).fetchone()
    except sqlite3.OperationalError:  # no analyzer has ever opened this state.db
        return None
    return int(row[0]) if row else None


#: Bounds on operator text: it is ledgered and quoted to the central bank, so an oversized comment
#: must be refused here (a clear 4xx), never discovered later as a message the bank refuses.
MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 4000


def _bounded(problems: list[str], what: str, value: str | None, limit: int) -> None:
    """Append a problem when ``value`` is longer than ``limit`` characters."""
    if value is not None and len(value) > limit:
        problems.append(f"{what} is {len(value)} characters; at most {limit} are accepted")


#: Columns a new alert row leaves at their defaults (the operator fills the ack fields later).
_ROW_DEFAULTS = {"ack_by": None, "ack_comment": None, "ack_at_ns": None, "ack_expires_at_ns": None}

#: States an alert row can be listed by (``inactive`` is only ever a ``from_state``).
STATES = tuple(s.value for s in AlertState if s != AlertState.INACTIVE)


def _num(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _nan(v: float | None) -> float:
    return float("nan") if v is None else float(v)


class AlertRecords:
    """Alerts, transitions, acknowledgements and silences in SQLite (WAL; safe for the API process
    too)."""

    def __init__(self, path: Path | str, clock: Callable[[], int] = now_ns) -> None:
        self.path = Path(path)
        self.clock = clock
        self._conn = connect(self.path)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._in_batch = False
        self._batch_owner: int | None = None
        self._local = threading.local()
        self._conn.executescript(_SCHEMA)

    # ------------------------------------------------------------------ reads for the API
    def list_alerts(
        self,
        state: str | None = None,
        limit: int = 100,
        rule_id: str | None = None,
        subject: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first. ``state``: one of ``ALERT_FILTERS`` (a stored state, or ``active``), or
        ``unresolved`` (anything not resolved, suppressed included: what the recorder resumes)."""
        if state is not None and state not in (*ALERT_FILTERS, "unresolved"):
            raise InvalidInput(f"state must be one of {', '.join(ALERT_FILTERS)}, got {state!r}")
        where: list[str] = []
        args: list[Any] = []
        if state == "unresolved":
            where.append("resolved_at_ns IS NULL")
        elif state == "active":
            where.append(f"state IN ({', '.join('?' * len(LISTED_ACTIVE_STATES))})")
            args.extend(s.value for s in LISTED_ACTIVE_STATES)
        elif state is not None:
            where.append("state = ?")
            args.append(state)
        for col, v in (("rule_id", rule_id), ("subject", subject)):
            if v is not None:
                where.append(f"{col} = ?")
                args.append(v)
        cond = f"WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT * FROM alerts {cond} ORDER BY id DESC LIMIT ?"
        return [self._alert_dict(r) for r in self._rows(sql, [*args, int(limit)])]

    def get_alert(self, alert_id: int) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM alerts WHERE id = ?", [alert_id])
        return self._alert_dict(rows[0]) if rows else None

    def transitions(self, alert_id: int) -> list[dict[str, Any]]:
        out = []
        for r in self._rows(
            "SELECT * FROM alert_transitions WHERE alert_id = ? ORDER BY id", [alert_id]
        ):
            d = dict(r)
            d["silenced"], d["acknowledged"] = bool(d["silenced"]), bool(d["acknowledged"])
            d["evidence"] = json.loads(d["evidence"]) if d["evidence"] else None
            out.append(d)
        return out

    def groups(self) -> list[dict[str, Any]]:
        """Open alerts grouped by facility and rule family (what an operator's overview shows)."""
        rows = self._rows(
            "SELECT group_key, family, severity, COUNT(*) AS n FROM alerts WHERE resolved_at_ns "
            "IS NULL GROUP BY group_key, family, severity ORDER BY group_key, severity",
            [],
        )
        return [dict(r) for r in rows]

    # ------------------------------------------------------------------ operator actions
    def acknowledge(
        self, alert_id: int, actor: str, comment: str, expires_at_ns: int | None
    ) -> dict[str, Any]:
        """Annotate an open alert; an ack never stops regulator delivery. ``expires_at_ns``
        re-notifies if the alert is still firing then (a forgotten ack must not hide a live
        problem)."""
        if not actor.strip():
            raise InvalidInput("acknowledgement needs an actor")
        problems: list[str] = []
        _bounded(problems, "actor", actor, MAX_NAME_CHARS)
        _bounded(problems, "comment", comment, MAX_TEXT_CHARS)
        if problems:
            raise InvalidInput("acknowledgement: " + "; ".join(problems))
        at = self.clock()
        if expires_at_ns is not None and expires_at_ns <= at:
            raise InvalidInput("expires_at must be in the future")
        with self._lock:
            alert = self.get_alert(alert_id)
            if alert is None:
                raise NotFound(f"alert {alert_id} not found")
            if alert["resolved_at_ns"] is not None:
                raise Conflict(f"alert {alert_id} is resolved; nothing to acknowledge")
            self._conn.execute(
                "UPDATE alerts SET ack_by = ?, ack_comment = ?, ack_at_ns = ?, ack_expires_at_ns "
                "= ?, updated_at_ns = ? WHERE id = ?",
                (actor, comment, at, expires_at_ns, at, alert_id),
            )
        acked = self.get_alert(alert_id)
        assert acked is not None  # updated above, under the lock
        return acked

    def add_silence(
        self,
        matchers: dict[str, str] | list[dict[str, str]],
        starts_at_ns: int,
        ends_at_ns: int,
        author: str,
        reason: str,
        kind: str = "silence",
    ) -> dict[str, Any]:
        """A silence or maintenance window: mandatory end, author and reason; it mutes operator
        channels only. ``matchers`` in either shape ``minewatch.alerting.parse_matchers`` reads."""
        problems = []
        if kind not in ("silence", "maintenance"):
            problems.append(f"kind must be silence or maintenance, got {kind!r}")
        try:
            parsed = parse_matchers(matchers)
        except ValueError as exc:
            problems.append(f"matchers: {exc}")
            parsed = ()
        if not matchers:
            problems.append(f"matchers must name at least one of {', '.join(MATCHER_LABELS)}")
        bad = [m.name for m in parsed if m.name not in MATCHER_LABELS]
        if bad:
            problems.append(
                f"unknown matcher label(s) {', '.join(bad)}; allowed: {', '.join(MATCHER_LABELS)}"
            )
        if ends_at_ns is None or ends_at_ns <= starts_at_ns:
            problems.append("ends_at must be after starts_at (a silence always ends)")
        if not (author or "").strip():
            problems.append("author is required")
        if not (reason or "").strip():
            problems.append("reason is required")
        _bounded(problems, "author", author, MAX_NAME_CHARS)
        _bounded(problems, "reason", reason, MAX_TEXT_CHARS)
        if problems:
            raise InvalidInput("; ".join(problems))
        at = self.clock()
        with self._lock:
            cur = self._conn.execute(
                "INSERT INTO alert_silences (kind, matchers, starts_at_ns, ends_at_ns, author, "
                "reason, created_at_ns) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    kind,
                    json.dumps(matchers, sort_keys=True),
                    starts_at_ns,
                    ends_at_ns,
                    author,
                    reason,
                    at,
                ),
            )
            sid = cur.lastrowid
        assert sid is not None  # an INSERT always has a row id
        return self._silence(sid)

    def end_silence(self, silence_id: int, actor: str) -> dict[str, Any]:
        """End a silence early (silences are never deleted; the record stays)."""
        at = self.clock()
        with self._lock:
            sil = self._silence(silence_id)
            if sil["ends_at_ns"] > at:
                self._conn.execute(
                    "UPDATE alert_silences SET ends_at_ns = ?, reason = reason || ? WHERE id = ?",
                    (at, f" [ended early by {actor}]", silence_id),
                )
        return self._silence(silence_id)

    def silences(self, active_at_ns: int | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM alert_silences", []
        if active_at_ns is not None:
            sql += " WHERE starts_at_ns <= ? AND ends_at_ns > ?"
            args = [active_at_ns, active_at_ns]
        return [self._silence_dict(r) for r in self._rows(sql + " ORDER BY id", args)]

    # ------------------------------------------------------------------ engine side
    def open_states(self) -> dict[str, dict[str, SubjectState]]:
        """Open alerts by rule id and subject, as lifecycle states (timers included)."""
        out: dict[str, dict[str, SubjectState]] = {}
        for r in self._rows("SELECT * FROM alerts WHERE resolved_at_ns IS NULL", []):
            st = SubjectState(
                r["rule_id"],
                r["subject"],
                AlertState(r["machine_state"]),
                r["active_since_ns"],
                r["fired_at_ns"],
                r["clear_since_ns"],
                _nan(r["value"]),
                _nan(r["threshold"]),
                _nan(r["peak_max"]),
                _nan(r["peak_min"]),
                r["id"],
            )
            out.setdefault(r["rule_id"], {})[r["subject"]] = st
        return out

    def record(
        self, st: SubjectState, tr: AlertTransition, actor: str, suppressed_by: str | None
    ) -> dict[str, Any]:
        """Create or update the alert row of ``st`` and append the transition ``tr`` to it,
        atomically; returns the alert row (``tr.alert_id`` is not read: a new alert gets its id
        here)."""
        resolved = tr.to_state == AlertState.RESOLVED
        ev = json.dumps(tr.evidence.model_dump(mode="json"))
        with self._lock, self.batch():
            c = self._conn
            fields: dict[str, Any] = dict(
                state=tr.to_state.value,
                machine_state=st.state.value,
                active_since_ns=st.active_since,
                fired_at_ns=st.fired_at,
                clear_since_ns=st.clear_since,
                resolved_at_ns=tr.at_ns if resolved else None,
                value=_num(st.value),
                threshold=_num(st.threshold),
                peak_max=_num(st.peak_max),
                peak_min=_num(st.peak_min),
                silenced=int(tr.silenced),
                suppressed_by=suppressed_by,
                updated_at_ns=tr.at_ns,
            )
            if st.alert_id is None:
                fields.update(
                    rule_id=st.rule_id,
                    subject=st.subject,
                    rule_title=tr.rule_title,
                    family=tr.family,
                    severity=tr.severity,
                    regulator_notifiable=int(tr.regulator_notifiable),
                    group_key=tr.group_key,
                    unit=tr.unit,
                    source=tr.source,
                    evidence=ev,
                )
                cur = c.execute(
                    f"INSERT INTO alerts ({', '.join(fields)}) "
                    f"VALUES ({', '.join('?' * len(fields))})",
                    list(fields.values()),
                )
                st.alert_id = cur.lastrowid
                row = {**_ROW_DEFAULTS, **fields, "id": st.alert_id}  # what SELECT * would return
            else:
                onset = tr.to_state in (AlertState.FIRING, AlertState.SUPPRESSED)
                if onset and tr.from_state == AlertState.PENDING:
                    fields["evidence"] = ev  # the evidence of the moment it fired
                c.execute(
                    f"UPDATE alerts SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                    [*fields.values(), st.alert_id],
                )
                row = dict(
                    c.execute("SELECT * FROM alerts WHERE id = ?", (st.alert_id,)).fetchone()
                )
            c.execute(
                "INSERT INTO alert_transitions (alert_id, at_ns, from_state, to_state, actor, "
                "reason, value, threshold, silenced, acknowledged, evidence) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    st.alert_id,
                    tr.at_ns,
                    tr.from_state.value,
                    tr.to_state.value,
                    actor,
                    tr.reason,
                    tr.value,
                    tr.threshold,
                    int(tr.silenced),
                    int(row["ack_by"] is not None),
                    ev,
                ),
            )
        return row

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One write transaction around everything inside (nested uses join the outer one): a cycle
        that records 30,000 transitions commits once."""
        with self._lock:
            if self._in_batch:
                yield
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._in_batch, self._batch_owner = True, threading.get_ident()
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            finally:
                self._in_batch, self._batch_owner = False, None

    def update_values(self, states: Iterable[SubjectState], at_ns: int) -> None:
        rows = [
            (
                _num(s.value),
                _num(s.threshold),
                _num(s.peak_max),
                _num(s.peak_min),
                s.clear_since,
                at_ns,
                s.alert_id,
            )
            for s in states
            if s.alert_id is not None
        ]
        if rows:
            with self._lock:
                self._conn.executemany(
                    "UPDATE alerts SET value = ?, threshold = ?, peak_max = ?, peak_min = ?, "
                    "clear_since_ns = ?, updated_at_ns = ? WHERE id = ?",
                    rows,
                )

    def expire_ack(self, alert_id: int) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE alerts SET ack_by = NULL, ack_comment = NULL, ack_at_ns = NULL, "
                "ack_expires_at_ns = NULL WHERE id = ?",
                (alert_id,),
            )

    def expired_acks(self, now: int) -> list[dict[str, Any]]:
        return [
            dict(r)
            for r in self._rows(
                "SELECT * FROM alerts WHERE resolved_at_ns IS NULL AND "
                "ack_expires_at_ns IS NOT NULL AND ack_expires_at_ns <= ?",
                [now],
            )
        ]

    def newly_expired_silences(self, now: int) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._rows(
                "SELECT * FROM alert_silences WHERE ends_at_ns <= ? AND expired_notified = 0", [now]
            )
            self._conn.execute(
                "UPDATE alert_silences SET expired_notified = 1 WHERE ends_at_ns <= ?", (now,)
            )
        return [self._silence_dict(r) for r in rows]

    def cursor(self, rule_id: str) -> int | None:
        rows = self._rows("SELECT last_ns FROM analyzer_cursor WHERE rule_id = ?", [rule_id])
        return rows[0]["last_ns"] if rows else None

    def set_cursor(self, rule_id: str, last_ns: int) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO analyzer_cursor (rule_id, last_ns) VALUES (?, ?) ON CONFLICT "
                "(rule_id) DO UPDATE SET last_ns = excluded.last_ns",
                (rule_id, last_ns),
            )

    def connection(self) -> sqlite3.Connection:
        """The state.db connection, for sibling tables of the analyzer (curtailment orders)."""
        return self._conn

    def close(self) -> None:
        self._conn.close()

    # ------------------------------------------------------------------ helpers
    def _rows(self, sql: str, args: list[Any]) -> list[dict[str, Any]]:
        """Reads. The thread inside a write batch (the analyzer's cycle) reads its own uncommitted
        rows on the shared connection; every other thread (the API) reads committed rows on its own
        connection without waiting for the cycle to finish."""
        if self._batch_owner == threading.get_ident():
            return [dict(r) for r in self._conn.execute(sql, args).fetchall()]
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path)
            conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql, args).fetchall()]

    def _silence(self, sid: int) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM alert_silences WHERE id = ?", [sid])
        if not rows:
            raise NotFound(f"silence {sid} not found")
        return self._silence_dict(rows[0])

    @staticmethod
    def _silence_dict(r: Any) -> dict[str, Any]:
        d = dict(r)
        d["matchers"] = json.loads(d["matchers"])
        d.pop("expired_notified", None)
        return d

    @staticmethod
    def _alert_dict(r: Any) -> dict[str, Any]:
        d = dict(r)
        d["regulator_notifiable"] = bool(d["regulator_notifiable"])
        d["silenced"] = bool(d["silenced"])
        d["acknowledged"] = d["ack_by"] is not None
        d["evidence"] = json.loads(d["evidence"]) if d["evidence"] else None
        d.pop("machine_state", None)
        return d
