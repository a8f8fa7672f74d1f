"""Curtailment orders: "bring the facility down to X kW between A and B, within R seconds". Stored
in state.db beside the alerts; the ``schedule`` rule kind checks compliance, reports list the
response.
"""

from __future__ import annotations

from typing import Any

from minewatch.analyzer.state import AlertStore
from minewatch.errors import InvalidInput
from minewatch.events import Event

_SCHEMA = """
CREATE TABLE IF NOT EXISTS curtailment_orders (
    id            INTEGER PRIMARY KEY,
    target_kw     REAL    NOT NULL,
    starts_at_ns  INTEGER NOT NULL,
    ends_at_ns    INTEGER NOT NULL,
    response_s    REAL    NOT NULL,
    issued_by     TEXT    NOT NULL,
    reason        TEXT    NOT NULL DEFAULT '',
    created_at_ns INTEGER NOT NULL
);
"""
_COLS = (
    "id",
    "target_kw",
    "starts_at_ns",
    "ends_at_ns",
    "response_s",
    "issued_by",
    "reason",
    "created_at_ns",
)


def _ensure(alert_store: AlertStore) -> None:
    if not getattr(alert_store, "_curtailment_ready", False):
        alert_store.connection().executescript(_SCHEMA)
        alert_store._curtailment_ready = True  # type: ignore[attr-defined]


def add_order(
    alert_store: AlertStore,
    *,
    target_kw: float,
    starts_at_ns: int,
    ends_at_ns: int,
    response_s: float,
    issued_by: str,
    reason: str = "",
) -> dict[str, Any]:
    """Store an order and publish ``curtailment.order``; ``InvalidInput`` names each bad field."""
    problems = []
    if not target_kw >= 0:
        problems.append(f"target_kw must be >= 0, got {target_kw!r}")
    if ends_at_ns <= starts_at_ns:
        problems.append("to must be after from")
    if not 0 <= response_s <= 86400:
        problems.append(f"response_s must be between 0 and 86400, got {response_s!r}")
    if not issued_by.strip():
        problems.append("issued_by is required")
    if problems:
        raise InvalidInput("; ".join(problems))
    _ensure(alert_store)
    conn = alert_store.connection()
    created = alert_store.clock()
    cur = conn.execute(
        "INSERT INTO curtailment_orders (target_kw, starts_at_ns, ends_at_ns, response_s, "
        "issued_by, reason, created_at_ns) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (float(target_kw), starts_at_ns, ends_at_ns, float(response_s), issued_by, reason, created),
    )
    order = orders(alert_store, order_id=cur.lastrowid)[0]
    if alert_store.bus is not None:
        alert_store.bus.publish(
            Event(
                "curtailment.order",
                created,
                issued_by,
                f"order:{order['id']}",
                {"order_id": order["id"], **{k: order[k] for k in _COLS[1:6]}},
            )
        )
    return order


def orders(
    alert_store: AlertStore,
    start_ns: int | None = None,
    end_ns: int | None = None,
    order_id: int | None = None,
) -> list[dict[str, Any]]:
    """Orders overlapping ``[start_ns, end_ns)`` (all when omitted), oldest first."""
    _ensure(alert_store)
    where, args = [], []
    if order_id is not None:
        where.append("id = ?")
        args.append(order_id)
    if end_ns is not None:
        where.append("starts_at_ns < ?")
        args.append(end_ns)
    if start_ns is not None:
        where.append("ends_at_ns > ?")
        args.append(start_ns)
    sql = (
        f"SELECT {', '.join(_COLS)} FROM curtailment_orders "
        f"{'WHERE ' + ' AND '.join(where) if where else ''} "
        f"ORDER BY starts_at_ns, id"
    )
    return [
        dict(zip(_COLS, r, strict=True))
        for r in alert_store.connection().execute(sql, args).fetchall()
    ]
