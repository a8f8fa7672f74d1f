"""Alerts as the analyzer keeps them: list by state, one alert with its transitions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from minewatch.api.auth import any_role
from minewatch.api.context import AlertStoreLike, ApiContext
from minewatch.api.errors import ApiError, bad_param
from minewatch.api.facility import ACTIVE_STATES, api_record, since_ns

router = APIRouter(prefix="/api/v1", tags=["alerts"])

STATES = ("pending", "firing", "resolved", "nodata", "suppressed")


def alert_store(request: Request) -> AlertStoreLike:
    ctx: ApiContext = request.app.state.ctx
    if ctx.alert_store is None:
        raise ApiError(
            503, None, "alert state is not available: no analyzer state database in this deployment"
        )
    return ctx.alert_store


@router.get("/alerts", dependencies=[Depends(any_role)])
def alerts(
    request: Request,
    state: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> dict[str, Any]:
    """Alerts in one state (``active`` = pending, firing and nodata), newest first; all when no
    state."""
    store = alert_store(request)
    if state is not None and state not in (*STATES, "active"):
        raise bad_param("state", f"must be one of {', '.join((*STATES, 'active'))}, got {state!r}")
    if state == "active":
        items = [a for s in ACTIVE_STATES for a in store.list_alerts(state=s, limit=limit)]
    else:
        items = store.list_alerts(state=state, limit=limit)
    items.sort(key=lambda a: -since_ns(a))
    return {"state": state, "count": len(items[:limit]), "items": api_record(items[:limit])}


@router.get("/alerts/{alert_id}", dependencies=[Depends(any_role)])
def alert(request: Request, alert_id: int) -> dict[str, Any]:
    """One alert with every transition it went through (actor, reason, values)."""
    store = alert_store(request)
    found = store.get_alert(alert_id)
    if found is None:
        raise ApiError(404, "alert_id", f"no alert {alert_id}")
    return api_record({**found, "transitions": store.transitions(alert_id)})
