"""The FastAPI application: ``create_app`` wires routes to whatever parts this process has."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from minewatch.analyzer.state import AlertStore
from minewatch.api.auth import TokenTable
from minewatch.api.context import ApiContext, FaultTarget, HasStats
from minewatch.api.errors import install_error_handlers
from minewatch.api.live import LiveHub
from minewatch.api.metrics import ApiMetrics
from minewatch.api.routes import (
    actions,
    admin,
    alerts,
    health,
    live,
    page,
    regulator,
    reports,
    session,
    telemetry,
    translations,
)
from minewatch.api.routes.health import part_stats
from minewatch.api.security import security_headers
from minewatch.config import FacilityConfig
from minewatch.events import EventBus
from minewatch.profiles import DeviceProfile
from minewatch.store import TelemetryStore

access_log = logging.getLogger("minewatch.api.access")


def create_app(
    cfg: FacilityConfig,
    store: TelemetryStore,
    alert_store: AlertStore | None = None,
    bus: EventBus | None = None,
    *,
    tokens: TokenTable | None = None,
    profiles: Mapping[str, DeviceProfile] | None = None,
    components: Mapping[str, HasStats] | None = None,
    faults: FaultTarget | None = None,
    **options: Any,
) -> FastAPI:
    """The API over ``store`` (and ``alert_store`` when the analyzer's state is available).

    ``tokens`` defaults to the environment variable named by ``cfg.api.tokens_env``; ``options``
    sets the remaining ``ApiContext`` fields (``clock``, ``offline_after_s``, ``live_interval_s``).
    """
    ctx = ApiContext(
        cfg=cfg,
        store=store,
        tokens=tokens or TokenTable.from_env(cfg.api.tokens_env),
        alert_store=alert_store,
        bus=bus,
        profiles=profiles or {},
        components=components or {},
        faults=faults,
        **options,
    )
    app = FastAPI(
        title="minewatch",
        version="1",
        summary=f"Facility {cfg.facility.id}: energy and safety monitor",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.hub = LiveHub(ctx)
    app.state.metrics = metrics = ApiMetrics(lambda: part_stats(ctx, app.state.hub))
    install_error_handlers(app)
    for module in (
        health,
        telemetry,
        alerts,
        actions,
        reports,
        regulator,
        admin,
        translations,
        session,
        page,
        live,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=page.STATIC), name="static")

    @app.middleware("http")
    async def _log_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # The path only: query strings and headers may carry tokens and are never logged.
        started = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - started
        response.headers.update(security_headers(request.url.path))
        principal = getattr(request.state, "principal", None)
        access_log.info(
            "%s %s %d %.1fms %s",
            request.method,
            request.url.path,
            response.status_code,
            elapsed * 1000,
            principal.actor if principal else "-",
        )
        # the route's template (/api/v1/alerts/{alert_id}), so ids never become label values
        route = getattr(request.scope.get("route"), "path", "unmatched")
        metrics.observe(request.method, route, response.status_code, elapsed)
        return response

    return app
