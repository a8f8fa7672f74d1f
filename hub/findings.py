"""Findings: what the bank's staff must look at — a gap, a rewrite, a fork, a silent facility, a
stopped analyzer, a changed profile or configuration, a misused key, a refused message. Raised once
per (facility, kind, what) and kept until a supervisor closes them with their name."""

from __future__ import annotations

from typing import Any

from minewatch.errors import NotFound
from minewatch.hub.db import Database, Tx

#: Kinds that put a facility's status at "fork" or "gap" while open (worst first).
STATUS_KINDS = ("fork", "rewrite", "gap")

_COLS = ("id", "facility_id", "kind", "dedup", "raised_ns", "detail", "closed_ns", "closed_by")


def raise_finding(
    tx: Tx, facility_id: str, kind: str, dedup: str, detail: str, now_ns: int
) -> None:
    tx.execute(
        "INSERT INTO findings (facility_id, kind, dedup, raised_ns, detail) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        (facility_id, kind, dedup[:200], now_ns, detail[:1000]),
    )


def findings(
    db: Database, facility_id: str | None = None, open_only: bool = False, limit: int = 1000
) -> list[dict[str, Any]]:
    where, args = ["1 = 1"], []
    if facility_id:
        where.append("facility_id = ?")
        args.append(facility_id)
    if open_only:
        where.append("closed_ns IS NULL")
    rows = db.query(
        f"SELECT {', '.join(_COLS)} FROM findings WHERE {' AND '.join(where)} "
        "ORDER BY id DESC LIMIT ?",
        [*args, limit],
    )
    return [dict(zip(_COLS, r, strict=True)) for r in rows]


def close_finding(db: Database, finding_id: int, by: str, now_ns: int) -> None:
    with db.transaction() as tx:
        cur = tx.execute(
            "UPDATE findings SET closed_ns = ?, closed_by = ? WHERE id = ? AND closed_ns IS NULL",
            (now_ns, by[:200], finding_id),
        )
        if not cur.rowcount:
            raise NotFound(f"no open finding {finding_id}")
