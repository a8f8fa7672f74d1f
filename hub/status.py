"""What the bank's staff read: each facility's status, its timeline, and exports.

Status, worst first: ``fork`` (two ledger heads for one position, or a ledger gone backwards),
``gap`` (a sequence number never arrived, or a message did not link to the one before), ``silent``
(no heartbeat within twice the interval the licence sets — one interval may be lost in transit),
``breach_open``, ``compliant``. Silence is judged against the regulator's interval from the
register, never the one the facility declares.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from minewatch.errors import NotFound
from minewatch.hub.db import Database
from minewatch.hub.findings import findings, raise_finding
from minewatch.hub.register import NS

#: A facility is silent after this many of the regulator's heartbeat intervals without one.
SILENT_AFTER_INTERVALS = 2.0

_FACILITY_SQL = """
SELECT f.id, f.licence_number, f.holder, f.capacity_kw, f.heartbeat_interval_s, f.last_sequence,
       f.last_heartbeat_ns,
       (SELECT COUNT(*) FROM breaches b WHERE b.facility_id = f.id AND b.resolved = 0),
       (SELECT COUNT(*) FROM findings x WHERE x.facility_id = f.id AND x.closed_ns IS NULL
          AND x.kind = 'fork'),
       (SELECT COUNT(*) FROM findings x WHERE x.facility_id = f.id AND x.closed_ns IS NULL
          AND x.kind IN ('gap', 'rewrite', 'reorder'))
FROM facilities f
"""


def _status(row: tuple[Any, ...], now_ns: int) -> dict[str, Any]:
    fid, lic, holder, cap, interval, last_seq, last_hb, open_breaches, forks, gaps = row
    silent = last_hb is None or now_ns - int(last_hb) > SILENT_AFTER_INTERVALS * interval * NS
    status = (
        "fork"
        if forks
        else "gap"
        if gaps
        else "silent"
        if silent
        else "breach_open"
        if open_breaches
        else "compliant"
    )
    return {
        "facility_id": fid,
        "licence_number": lic,
        "holder": holder,
        "capacity_kw": cap,
        "heartbeat_interval_s": interval,
        "last_sequence": int(last_seq),
        "last_heartbeat_ns": last_hb,
        "open_breaches": int(open_breaches),
        "open_forks": int(forks),
        "open_gaps": int(gaps),
        "silent": silent,
        "status": status,
    }


def facilities(db: Database, now_ns: int) -> list[dict[str, Any]]:
    return [_status(r, now_ns) for r in db.query(_FACILITY_SQL + " ORDER BY f.id")]


def facility(db: Database, facility_id: str, now_ns: int) -> dict[str, Any]:
    rows = db.query(_FACILITY_SQL + " WHERE f.id = ?", (facility_id,))
    if not rows:
        raise NotFound(f"facility {facility_id!r} is not registered")
    return _status(rows[0], now_ns)


def sweep_silent(db: Database, now_ns: int) -> int:
    """Raise a ``silent`` finding for each facility silent now (once per silence); returns how many
    are silent."""
    silent = [f for f in facilities(db, now_ns) if f["silent"]]
    if silent:
        with db.transaction() as tx:
            for f in silent:
                raise_finding(
                    tx,
                    f["facility_id"],
                    "silent",
                    f"since:{f['last_heartbeat_ns']}",
                    f"no heartbeat within {SILENT_AFTER_INTERVALS:g} x "
                    f"{f['heartbeat_interval_s']:g} s",
                    now_ns,
                )
    return len(silent)


_MSG_COLS = (
    "sequence",
    "kind",
    "message_id",
    "received_ns",
    "signed_at_s",
    "key_id",
    "ledger_seq",
    "ledger_hash",
    "body_sha256",
    "verification",
)


def timeline(
    db: Database, facility_id: str, *, kinds: list[str] | None = None, limit: int = 500
) -> dict[str, Any]:
    """A facility's messages (breaches, heartbeats, daily reports, ...) newest first, each with its
    verification result, and its findings."""
    facility(db, facility_id, 0)
    where, args = "facility_id = ?", [facility_id]
    if kinds:
        where += f" AND kind IN ({','.join('?' * len(kinds))})"
        args += kinds
    rows = db.query(
        f"SELECT {', '.join(_MSG_COLS)}, body FROM messages WHERE {where} "
        "ORDER BY sequence DESC LIMIT ?",
        [*args, limit],
    )
    items = []
    for r in rows:
        item = dict(zip(_MSG_COLS, r[:-1], strict=True))
        doc = orjson.loads(bytes(r[-1]))
        item["summary"] = {
            k: doc[k]
            for k in ("breach", "heartbeat", "report", "config", "suspension", "refused")
            if k in doc and k != "report"
        }
        if "report" in doc:
            item["summary"]["report"] = {
                k: doc["report"][k] for k in ("period_start", "period_end", "sha256")
            }
        items.append(item)
    return {"facility_id": facility_id, "messages": items, "findings": findings(db, facility_id)}


def messages(
    db: Database, facility_id: str | None, kind: str | None, after_id: int, limit: int
) -> list[dict[str, Any]]:
    where: list[str] = ["id > ?"]
    args: list[Any] = [after_id]
    for col, value in (("facility_id", facility_id), ("kind", kind)):
        if value:
            where.append(f"{col} = ?")
            args.append(value)
    rows = db.query(
        f"SELECT id, facility_id, {', '.join(_MSG_COLS)}, body FROM messages "
        f"WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
        [*args, limit],
    )
    cols = ("id", "facility_id", *_MSG_COLS)
    return [
        {**dict(zip(cols, r[:-1], strict=True)), "body": orjson.loads(bytes(r[-1]))} for r in rows
    ]


def export(db: Database, now_ns: int, fmt: str) -> tuple[bytes, str]:
    """Every facility's status as CSV or JSON (``fmt``), with its media type."""
    rows = facilities(db, now_ns)
    if fmt == "json":
        return orjson.dumps(rows), "application/json"
    buf = io.StringIO()
    cols = list(rows[0]) if rows else ["facility_id", "status"]
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode(), "text/csv"
