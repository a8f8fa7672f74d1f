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
from minewatch.api.routes import (
    actions,
    admin,
    alerts,
    health,
    live,
    page,
    regulator,
    reports,
    telemetry,
)
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
    install_error_handlers(app)
    for module in (health, telemetry, alerts, actions, reports, regulator, admin, page, live):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=page.STATIC), name="static")

    @app.middleware("http")
    async def _log_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # The path only: query strings and headers may carry tokens and are never logged.
        started = time.perf_counter()
        response = await call_next(request)
        principal = getattr(request.state, "principal", None)
        access_log.info(
            "%s %s %d %.1fms %s",
            request.method,
            request.url.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            principal.actor if principal else "-",
        )
        return response

    return app
