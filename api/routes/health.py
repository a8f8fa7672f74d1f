"""``/health``: is the store answering, and what every part in this process counts.

Unauthenticated so that load balancers and docker-compose health checks can use it; it holds
counters, never telemetry, tokens or configuration secrets. 503 when the store does not answer.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from minewatch.api.dependencies import Ctx, Hub
from minewatch.api.params import rfc3339

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/health")
def health(ctx: Ctx, hub: Hub) -> JSONResponse:
    store: dict[str, Any] = {"backend": ctx.cfg.storage.backend}
    try:
        ctx.store.latest(devices=[""])  # cheapest real round trip through the backend
        store["ok"] = True
    except Exception as exc:  # reported, not raised: /health must answer when the store does not
        store.update(ok=False, error=str(exc))
    if hasattr(ctx.store, "stats"):  # the spooling wrapper (#4) reports its backlog here
        store["stats"] = ctx.store.stats()
    components: dict[str, Any] = {"live": hub.stats()}
    for name, part in ctx.components.items():
        if not hasattr(part, "stats"):
            continue
        try:
            components[name] = part.stats()
        except Exception as exc:  # one broken part must not hide the others
            log.warning("stats() of %s failed: %s", name, exc)
            components[name] = {"error": str(exc)}
    body = {
        "status": "ok" if store["ok"] else "degraded",
        "time": rfc3339(ctx.clock()),
        "facility": ctx.cfg.facility.id,
        "store": store,
        "components": components,
    }
    return JSONResponse(body, status_code=200 if store["ok"] else 503)
