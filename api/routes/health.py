"""``/health`` for load balancers (counters only, no token), ``/api/v1/health`` with each part's
details for an admin, and ``/metrics`` for Prometheus.

The public answer carries numbers only: rejected payloads, the central bank's URL, key ids, the
ledger head and active faults are in the parts' ``stats()`` but are only shown with a role.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from minewatch.api.context import ApiContext
from minewatch.api.dependencies import Admin, Ctx, Hub, any_role
from minewatch.api.live import LiveHub
from minewatch.api.metrics import ApiMetrics
from minewatch.readable import rfc3339

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


def part_stats(ctx: ApiContext, hub: LiveHub) -> dict[str, Any]:
    """Every part's ``stats()`` by name; one broken part does not hide the others."""
    parts: dict[str, Any] = {"live": hub.stats(), "logins": ctx.failed_logins.stats()}
    if hasattr(ctx.store, "stats"):  # the spooling wrapper (#4) reports its backlog here
        parts["store"] = ctx.store.stats()
    for name, part in ctx.components.items():
        if not hasattr(part, "stats"):
            continue
        try:
            parts[name] = part.stats()
        except Exception as exc:
            log.warning("stats() of %s failed: %s", name, exc)
            parts[name] = {"error": str(exc)}
    return parts


def _store_ok(ctx: ApiContext) -> tuple[bool, str | None]:
    try:
        ctx.store.latest(devices=[""])  # cheapest real round trip through the backend
    except Exception as exc:  # reported, not raised: /health must answer when the store does not
        return False, str(exc)
    return True, None


def counters_only(stats: Mapping[str, Any]) -> dict[str, Any]:
    """``stats`` with its nesting kept and every value that is not a number left out."""
    kept: dict[str, Any] = {}
    for key, value in stats.items():
        if isinstance(value, bool | int | float):
            kept[key] = value
        elif isinstance(value, Mapping):
            kept[key] = counters_only(value)
    return kept


@router.get("/health")
def health(ctx: Ctx, hub: Hub) -> JSONResponse:
    """Is the store answering (503 when not), and each part's numeric counters."""
    ok, _ = _store_ok(ctx)
    parts = part_stats(ctx, hub)
    body = {
        "status": "ok" if ok else "degraded",
        "time": rfc3339(ctx.clock()),
        "facility": ctx.cfg.facility.id,
        "store": {"backend": ctx.cfg.storage.backend, "ok": ok},
        "components": {name: counters_only(stats) for name, stats in parts.items()},
    }
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/api/v1/health")
def health_details(_: Admin, ctx: Ctx, hub: Hub) -> dict[str, Any]:
    """Everything each part reports: errors, addresses, key ids, ledger head, active faults."""
    ok, error = _store_ok(ctx)
    return {
        "status": "ok" if ok else "degraded",
        "time": rfc3339(ctx.clock()),
        "facility": ctx.cfg.facility.id,
        "store": {"backend": ctx.cfg.storage.backend, "ok": ok, "error": error},
        "components": part_stats(ctx, hub),
    }


@router.get("/metrics", dependencies=[Depends(any_role)], include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text format; scrape with any role's token as a bearer credential."""
    registry: ApiMetrics = request.app.state.metrics
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
