"""What operators do about alerts: acknowledge, silence, and record curtailment orders.

Each action is recorded by the analyzer's state with the caller's actor (role and token
fingerprint) and published on the event bus, where the notifier's ledger picks it up. None of
them can stop a regulator-notifiable alert from reaching the central bank: acknowledgements and
silences mute operator channels only, so a breach the law requires reporting is always reported.

The analyzer refuses with the typed errors of ``minewatch.errors`` (unknown alert, resolved
alert, bad field); they reach the client through ``minewatch.api.errors`` unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from minewatch.analyzer import curtailment
from minewatch.analyzer.alert_records import MAX_TEXT_CHARS
from minewatch.api.dependencies import Alerts, Ctx, Operator, any_role
from minewatch.api.errors import BadParameter, UnknownResource
from minewatch.api.params import RowId, parse_step, parse_time
from minewatch.readable import readable, rfc3339

router = APIRouter(prefix="/api/v1", tags=["actions"])


class AckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        description="Why it is acknowledged / what is being done",
    )
    expires_at: str | None = Field(
        None, description="RFC 3339; the ack lapses then and the alert re-notifies"
    )
    expires_in: str | None = Field(None, description="Alternative to expires_at, e.g. 4h")


@router.post("/alerts/{alert_id}/ack")
def acknowledge(
    who: Operator, ctx: Ctx, store: Alerts, alert_id: RowId, body: AckRequest
) -> dict[str, Any]:
    """Acknowledge an open alert. Annotates it; operator re-notification pauses until the expiry."""
    if body.expires_at is not None and body.expires_in is not None:
        raise BadParameter("expires_in", "give expires_at or expires_in, not both")
    expires = None
    if body.expires_at is not None:
        expires = parse_time("expires_at", body.expires_at)
    elif body.expires_in is not None:
        expires = ctx.clock() + parse_step("expires_in", body.expires_in)
    if expires is not None and expires <= ctx.clock():
        raise BadParameter("expires_at", f"must be in the future, got {rfc3339(expires)}")
    return readable(store.acknowledge(alert_id, who.actor, body.comment, expires))


class SilenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    matchers: dict[str, str] = Field(
        description="Any of rule_id, subject, family, severity (all must match)"
    )
    starts_at: str | None = Field(None, description="RFC 3339; default now")
    ends_at: str = Field(description="RFC 3339; a silence always ends")
    reason: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    kind: Literal["silence", "maintenance"] = "silence"


def _period(starts_at_ns: int, ends_at: str) -> int:
    """``ends_at`` in ns, refused unless it falls after ``starts_at_ns``."""
    ends = parse_time("ends_at", ends_at)
    if ends <= starts_at_ns:
        raise BadParameter(
            "ends_at",
            f"must be after starts_at ({rfc3339(ends)} is not after {rfc3339(starts_at_ns)})",
        )
    return ends


@router.get("/silences", dependencies=[Depends(any_role)])
def silences(ctx: Ctx, store: Alerts, active: bool = False) -> dict[str, Any]:
    """Silences and maintenance windows (``active=true``: only those in force now)."""
    return {"items": readable(store.silences(ctx.clock() if active else None))}


@router.post("/silences", status_code=201)
def add_silence(who: Operator, ctx: Ctx, store: Alerts, body: SilenceRequest) -> dict[str, Any]:
    """Mute operator notifications for matching alerts until ``ends_at``; the regulator is still
    told."""
    starts = parse_time("starts_at", body.starts_at) if body.starts_at else ctx.clock()
    ends = _period(starts, body.ends_at)
    return readable(
        store.add_silence(body.matchers, starts, ends, who.actor, body.reason, kind=body.kind)
    )


@router.delete("/silences/{silence_id}")
def end_silence(who: Operator, store: Alerts, silence_id: RowId) -> dict[str, Any]:
    """End a silence now (it stays on record)."""
    if not any(s["id"] == silence_id for s in store.silences()):
        raise UnknownResource("silence_id", f"no silence {silence_id}")
    return readable(store.end_silence(silence_id, who.actor))


class OrderRequest(BaseModel):
    # NaN and infinities are valid JSON to Python's parser, never a valid power or delay
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    target_kw: float = Field(ge=0, le=1e7, description="Facility load must fall to this")
    starts_at: str
    ends_at: str
    response_s: float = Field(ge=0, le=86400, description="Allowed time to reach the target")
    reason: str = Field("", max_length=MAX_TEXT_CHARS)


@router.get("/curtailment/orders", dependencies=[Depends(any_role)])
def orders(store: Alerts, start: str | None = None, end: str | None = None) -> dict[str, Any]:
    """Curtailment orders overlapping ``[start, end)`` (all without a range)."""
    start_ns = parse_time("start", start) if start else None
    end_ns = parse_time("end", end) if end else None
    if start_ns is not None and end_ns is not None and start_ns >= end_ns:
        raise BadParameter("start", "must be before end")
    return {"items": readable(curtailment.orders(store, start_ns, end_ns))}


@router.post("/curtailment/orders", status_code=201)
def add_order(who: Operator, store: Alerts, body: OrderRequest) -> dict[str, Any]:
    """Record an order from the grid operator or regulator; the schedule rule checks the
    response."""
    starts = parse_time("starts_at", body.starts_at)
    ends = _period(starts, body.ends_at)
    order = curtailment.add_order(
        store,
        target_kw=body.target_kw,
        starts_at_ns=starts,
        ends_at_ns=ends,
        response_s=body.response_s,
        issued_by=who.actor,
        reason=body.reason,
    )
    return readable(order)
