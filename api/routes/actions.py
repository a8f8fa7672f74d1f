"""What operators do about alerts: acknowledge, silence, and record curtailment orders.

Each action is recorded by the analyzer's state with the caller's actor (role and token
fingerprint) and published on the event bus, where the notifier's ledger picks it up. None of them
can stop a regulator-notifiable alert from reaching the central bank (DESIGN.md decision 5).
"""

from __future__ import annotations

import importlib
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from minewatch.api.auth import Principal, any_role, require
from minewatch.api.context import ApiContext
from minewatch.api.errors import ApiError, bad_param
from minewatch.api.facility import api_record
from minewatch.api.params import parse_step, parse_time, rfc3339
from minewatch.api.routes.alerts import alert_store
from minewatch.errors import Conflict

router = APIRouter(prefix="/api/v1", tags=["actions"])
operator = require("operator")


def _analyzer_error(exc: Exception) -> ApiError:
    """The analyzer's own refusals (``minewatch.errors``, a sentence naming the field) as 4xx."""
    text = str(exc).strip("'\"")
    if isinstance(exc, LookupError):
        return ApiError(404, None, text)
    return ApiError(409 if isinstance(exc, Conflict) else 400, None, text)


class AckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(min_length=1, description="Why it is acknowledged / what is being done")
    expires_at: str | None = Field(
        None, description="RFC 3339; the ack lapses then and the alert re-notifies"
    )
    expires_in: str | None = Field(None, description="Alternative to expires_at, e.g. 4h")


@router.post("/alerts/{alert_id}/ack")
def acknowledge(
    request: Request, alert_id: int, body: AckRequest, who: Principal = Depends(operator)
) -> dict[str, Any]:
    """Acknowledge an open alert. Annotates it; operator re-notification pauses until the expiry."""
    ctx: ApiContext = request.app.state.ctx
    store = alert_store(request)
    if body.expires_at is not None and body.expires_in is not None:
        raise bad_param("expires_in", "give expires_at or expires_in, not both")
    expires = None
    if body.expires_at is not None:
        expires = parse_time("expires_at", body.expires_at)
    elif body.expires_in is not None:
        expires = ctx.clock() + parse_step("expires_in", body.expires_in)
    if expires is not None and expires <= ctx.clock():
        raise bad_param("expires_at", f"must be in the future, got {rfc3339(expires)}")
    try:
        return api_record(store.acknowledge(alert_id, who.actor, body.comment, expires))  # type: ignore[attr-defined]
    except (LookupError, ValueError, Conflict) as exc:
        raise _analyzer_error(exc) from None


class SilenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    matchers: dict[str, str] = Field(
        description="Any of rule_id, subject, family, severity (all must match)"
    )
    starts_at: str | None = Field(None, description="RFC 3339; default now")
    ends_at: str = Field(description="RFC 3339; a silence always ends")
    reason: str = Field(min_length=1)
    kind: Literal["silence", "maintenance"] = "silence"


@router.get("/silences", dependencies=[Depends(any_role)])
def silences(request: Request, active: bool = False) -> dict[str, Any]:
    """Silences and maintenance windows (``active=true``: only those in force now)."""
    ctx: ApiContext = request.app.state.ctx
    items = alert_store(request).silences(ctx.clock() if active else None)  # type: ignore[attr-defined]
    return {"items": api_record(items)}


@router.post("/silences", status_code=201)
def add_silence(
    request: Request, body: SilenceRequest, who: Principal = Depends(operator)
) -> dict[str, Any]:
    """Mute operator notifications for matching alerts until ``ends_at``; the regulator is still
    told."""
    ctx: ApiContext = request.app.state.ctx
    store = alert_store(request)
    starts = parse_time("starts_at", body.starts_at) if body.starts_at else ctx.clock()
    ends = parse_time("ends_at", body.ends_at)
    if ends <= starts:
        raise bad_param(
            "ends_at", f"must be after starts_at ({rfc3339(ends)} is not after {rfc3339(starts)})"
        )
    try:
        return api_record(
            store.add_silence(
                body.matchers,
                starts,
                ends,
                who.actor,
                body.reason,  # type: ignore[attr-defined]
                kind=body.kind,
            )
        )
    except (LookupError, ValueError, Conflict) as exc:
        raise _analyzer_error(exc) from None


@router.delete("/silences/{silence_id}")
def end_silence(
    request: Request, silence_id: int, who: Principal = Depends(operator)
) -> dict[str, Any]:
    """End a silence now (it stays on record)."""
    store = alert_store(request)
    if not any(s["id"] == silence_id for s in store.silences()):  # type: ignore[attr-defined]
        raise ApiError(404, "silence_id", f"no silence {silence_id}")
    return api_record(store.end_silence(silence_id, who.actor))  # type: ignore[attr-defined]


class OrderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_kw: float = Field(ge=0, description="Facility load must fall to this")
    starts_at: str
    ends_at: str
    response_s: float = Field(ge=0, le=86400, description="Allowed time to reach the target")
    reason: str = ""


def _curtailment() -> Any:
    try:
        return importlib.import_module("minewatch.analyzer.curtailment")
    except ModuleNotFoundError:
        raise ApiError(
            503, None, "curtailment orders are not available in this installation"
        ) from None


@router.get("/curtailment/orders", dependencies=[Depends(any_role)])
def orders(request: Request, start: str | None = None, end: str | None = None) -> dict[str, Any]:
    """Curtailment orders overlapping ``[start, end)`` (all without a range)."""
    store = alert_store(request)
    start_ns = parse_time("start", start) if start else None
    end_ns = parse_time("end", end) if end else None
    if start_ns is not None and end_ns is not None and start_ns >= end_ns:
        raise bad_param("start", "must be before end")
    return {"items": api_record(_curtailment().orders(store, start_ns, end_ns))}


@router.post("/curtailment/orders", status_code=201)
def add_order(
    request: Request, body: OrderRequest, who: Principal = Depends(operator)
) -> dict[str, Any]:
    """Record an order from the grid operator or regulator; the schedule rule checks the response."""
    store = alert_store(request)
    starts = parse_time("starts_at", body.starts_at)
    ends = parse_time("ends_at", body.ends_at)
    if ends <= starts:
        raise bad_param(
            "ends_at", f"must be after starts_at ({rfc3339(ends)} is not after {rfc3339(starts)})"
        )
    try:
        order = _curtailment().add_order(
            store,
            target_kw=body.target_kw,
            starts_at_ns=starts,
            ends_at_ns=ends,
            response_s=body.response_s,
            issued_by=who.actor,
            reason=body.reason,
        )
    except ValueError as exc:
        raise _analyzer_error(exc) from None
    return api_record(order)
