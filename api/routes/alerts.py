"""Alerts as the analyzer keeps them: list by state, one alert with its transitions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from minewatch.alerting import ALERT_FILTERS
from minewatch.api.dependencies import Alerts, any_role
from minewatch.api.errors import BadParameter, UnknownResource
from minewatch.api.facility import since_ns
from minewatch.api.params import RowId
from minewatch.readable import readable

router = APIRouter(prefix="/api/v1", dependencies=[Depends(any_role)], tags=["alerts"])


@router.get("/alerts")
def alerts(
    store: Alerts,
    state: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> dict[str, Any]:
    """Alerts in one state (``active`` = pending, firing and nodata), newest first; all when no
    state."""
    if state is not None and state not in ALERT_FILTERS:
        raise BadParameter("state", f"must be one of {', '.join(ALERT_FILTERS)}, got {state!r}")
    items = store.list_alerts(state=state, limit=limit)
    items.sort(key=lambda a: -since_ns(a))
    return {"state": state, "count": len(items[:limit]), "items": readable(items[:limit])}


@router.get("/alerts/{alert_id}")
def alert(store: Alerts, alert_id: RowId) -> dict[str, Any]:
    """One alert with every transition it went through (actor, reason, values)."""
    found = store.get_alert(alert_id)
    if found is None:
        raise UnknownResource("alert_id", f"no alert {alert_id}")
    return readable({**found, "transitions": store.transitions(alert_id)})
