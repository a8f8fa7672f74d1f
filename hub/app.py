"""The hub's HTTP face: ``POST /v1/messages`` for facilities (the signature is their credential),
and a read API with its own roles for the bank's staff — ``analyst`` reads, ``supervisor`` also
closes findings — plus a page listing every facility with its status.

Tokens come from the environment (``MINEWATCH_HUB_ANALYST_TOKEN``,
``MINEWATCH_HUB_SUPERVISOR_TOKEN``), are compared in constant time and never logged. Every refusal
is a JSON answer with a reason code: the ingest never answers 500, whatever a facility sends.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from minewatch.errors import MinewatchError, NotFound, PermissionDenied
from minewatch.hub import status
from minewatch.hub.findings import close_finding, findings
from minewatch.hub.ingest import Ingestor
from minewatch.hub.terms import TermsDesk

log = logging.getLogger(__name__)

ROLES = ("analyst", "supervisor")
TOKEN_ENV = {role: f"MINEWATCH_HUB_{role.upper()}_TOKEN" for role in ROLES}


def env_tokens() -> dict[str, str]:
    """Staff tokens by role, read from the environment at each request (rotation needs no restart);
    a role whose variable is unset has no token and cannot log in."""
    return {role: os.environ.get(env, "") for role, env in TOKEN_ENV.items()}


def _role(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """The caller's role from ``Authorization: Bearer <token>``."""
    token = (authorization or "").removeprefix("Bearer ").strip().encode()
    known: Mapping[str, str] = request.app.state.tokens()
    for role in reversed(ROLES):  # supervisor first: it can do what an analyst can
        expected = known.get(role, "").encode()
        if token and expected and hmac.compare_digest(token, expected):
            return role
    raise PermissionDenied("a bank staff token is required (Authorization: Bearer ...)")


def _supervisor(role: Annotated[str, Depends(_role)]) -> str:
    if role != "supervisor":
        raise PermissionDenied("closing a finding needs the supervisor role")
    return role


Role = Annotated[str, Depends(_role)]
_STATUS = {NotFound: 404, PermissionDenied: 401}


def create_app(
    ingestor: Ingestor,
    *,
    clock: Any = time.time_ns,
    tokens: Callable[[], Mapping[str, str]] = env_tokens,
    terms: TermsDesk | None = None,
) -> FastAPI:
    """``tokens``: staff tokens by role (the environment's by default; the demo makes its own);
    ``terms``: the desk that serves signed licence terms (none: the regulator has no key here)."""
    app = FastAPI(title="minewatch hub (central bank)", version="1")
    db = ingestor.db

    app.state.tokens = tokens

    @app.exception_handler(MinewatchError)
    async def refused(request: Request, exc: MinewatchError) -> JSONResponse:
        code = next((c for t, c in _STATUS.items() if isinstance(exc, t)), 400)
        return JSONResponse({"status": "rejected", "detail": str(exc)}, status_code=code)

    @app.post("/v1/messages")
    async def receive(request: Request) -> JSONResponse:
        buf = bytearray()
        async for chunk in request.stream():
            buf += chunk
            if len(buf) > ingestor.max_body_bytes:  # stop reading: the size alone decides
                break
        try:
            answer = ingestor.ingest(bytes(buf), dict(request.headers))
        except Exception:  # the database failed, not the message: the facility retries later
            log.exception("hub: could not ingest a message")
            return JSONResponse({"status": "unavailable", "reason": "storage"}, status_code=503)
        return JSONResponse(answer.body, status_code=answer.status)

    @app.get("/v1/licence-terms")
    def licence_terms(request: Request) -> Response:
        """The asking facility's signed licence terms (its request is signed like a message)."""
        if terms is None:
            return JSONResponse(
                {"status": "unavailable", "reason": "no_regulator_key"}, status_code=503
            )
        try:
            answer = terms.answer(dict(request.headers))
        except Exception:  # the database failed, not the request: the facility asks again
            log.exception("hub: could not issue licence terms")
            return JSONResponse({"status": "unavailable", "reason": "storage"}, status_code=503)
        if isinstance(answer, bytes):
            return Response(answer, media_type="application/json")
        ingestor.counters.inc("terms_refused_total", reason=str(answer.body.get("reason")))
        return JSONResponse(answer.body, status_code=answer.status)

    @app.get("/v1/messages")
    def list_messages(
        role: Role,
        facility: str | None = None,
        kind: str | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """What was stored, in arrival order, each with its verification result and body."""
        return status.messages(db, facility, kind, after_id, min(max(limit, 1), 10_000))

    @app.get("/v1/facilities")
    def list_facilities(role: Role) -> list[dict[str, Any]]:
        return status.facilities(db, clock())

    @app.get("/v1/facilities/{facility_id}")
    def one_facility(role: Role, facility_id: str) -> dict[str, Any]:
        return status.facility(db, facility_id, clock())

    @app.get("/v1/facilities/{facility_id}/timeline")
    def facility_timeline(
        role: Role, facility_id: str, kind: str | None = None, limit: int = 500
    ) -> dict[str, Any]:
        kinds = [k for k in (kind or "").split(",") if k]
        return status.timeline(db, facility_id, kinds=kinds, limit=min(max(limit, 1), 5000))

    @app.get("/v1/findings")
    def list_findings(
        role: Role, facility: str | None = None, open: bool = False
    ) -> list[dict[str, Any]]:
        return findings(db, facility, open)

    @app.post("/v1/findings/{finding_id}/close")
    def close(
        role: Annotated[str, Depends(_supervisor)], finding_id: int, by: str = "supervisor"
    ) -> dict[str, str]:
        close_finding(db, finding_id, by, clock())
        return {"status": "closed"}

    @app.get("/v1/export")
    def export(role: Role, format: Literal["csv", "json"] = "csv") -> Response:
        content, media = status.export(db, clock(), format)
        return Response(content, media_type=media)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return resources.files("minewatch.hub").joinpath("page.html").read_text()

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "counters": ingestor.counters.snapshot()}

    return app
