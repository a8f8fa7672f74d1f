"""Refusals to HTTP statuses, in one table, and one error shape for every 4xx/5xx the API returns.

The parts (store, analyzer, simulator) raise the typed errors of ``minewatch.errors``; the API
raises them too, with the request parameter at fault when there is one. ``STATUS_OF`` is the only
place a refusal becomes a status code, chosen by the exception's type, never by its message.

A client (or an operator reading a curl output) should never have to guess which of ``start``,
``end``, ``step`` was wrong: ``{"error": {"status": 400, "parameter": "start", "reason": "...",
"message": "start: ..."}}``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from minewatch.errors import (
    ConfigError,
    Conflict,
    DataUnavailable,
    InvalidInput,
    MinewatchError,
    NotFound,
    PermissionDenied,
    StoreUnavailable,
)

log = logging.getLogger(__name__)


class ParameterRefusal(MinewatchError):
    """A refusal that names the request parameter at fault (a query or body field, a path part, a
    header), so the error body can say which one."""

    def __init__(self, parameter: str, reason: str) -> None:
        self.parameter = parameter
        self.reason = reason
        super().__init__(f"{parameter}: {reason}")


class BadParameter(ParameterRefusal, InvalidInput):
    """A parameter that is missing, malformed or out of range."""


class UnknownResource(ParameterRefusal, NotFound):
    """A path parameter naming something that does not exist (an alert, a device, a silence)."""


class Unauthenticated(ParameterRefusal, PermissionDenied):
    """No credentials, or unrecognised ones: 401 with the challenge a client needs to retry."""

    def __init__(self, reason: str, challenge: str, parameter: str = "Authorization") -> None:
        super().__init__(parameter, reason)
        self.challenge = challenge


class TooManyRequests(MinewatchError):
    """Refused for now, not for what was asked: too many failed logins from one address, or too many
    report builds at once. 429 with ``Retry-After``."""

    def __init__(self, reason: str, retry_after_s: int) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


#: Status by refusal type; the entry for the most specific type in the exception's MRO wins, so
#: ``Unauthenticated`` is 401 although it is a ``PermissionDenied``. ``InvalidInput`` is 400 like
#: every other parameter the API refuses.
STATUS_OF: Mapping[type[MinewatchError], int] = {
    Unauthenticated: 401,
    TooManyRequests: 429,
    InvalidInput: 400,
    PermissionDenied: 403,
    NotFound: 404,
    Conflict: 409,
    StoreUnavailable: 503,
    DataUnavailable: 503,
    ConfigError: 500,
    MinewatchError: 500,
}


def status_of(exc: MinewatchError) -> int:
    """The HTTP status for ``exc``: ``STATUS_OF`` of the nearest listed type it derives from."""
    for cls in type(exc).__mro__:
        if issubclass(cls, MinewatchError) and cls in STATUS_OF:
            return STATUS_OF[cls]
    raise AssertionError("unreachable: MinewatchError itself is in STATUS_OF")


def error_body(status: int, parameter: str | None, reason: str) -> dict[str, dict[str, object]]:
    message = f"{parameter}: {reason}" if parameter else reason
    return {
        "error": {"status": status, "parameter": parameter, "reason": reason, "message": message}
    }


def refusal_response(exc: MinewatchError) -> JSONResponse:
    status = status_of(exc)
    if isinstance(exc, ParameterRefusal):
        parameter, reason = exc.parameter, exc.reason
    else:
        parameter, reason = None, str(exc)
    if status >= 500:
        log.warning("request failed: %s: %s", type(exc).__name__, reason)
    headers: dict[str, str] | None = None
    if isinstance(exc, Unauthenticated):
        headers = {"WWW-Authenticate": exc.challenge}
    elif isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return JSONResponse(error_body(status, parameter, reason), status_code=status, headers=headers)


def _validation_parameter(loc: tuple[object, ...]) -> str:
    # loc is e.g. ("query", "limit") or ("body", "target_kw"); the first item only says where.
    parts = [str(p) for p in loc[1:]] if len(loc) > 1 else [str(p) for p in loc]
    return ".".join(parts) or "request"


def validation_response(exc: RequestValidationError) -> JSONResponse:
    """FastAPI's own parameter checks, in the same shape: the first problem, the others listed."""
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("request",), "msg": "invalid request"}
    param = _validation_parameter(tuple(first.get("loc", ())))
    got = first.get("input")
    got_txt = f" (got {got!r})" if isinstance(got, (str, int, float)) else ""
    body = error_body(400, param, f"{first.get('msg', 'invalid')}{got_txt}")
    if len(errors) > 1:
        body["error"]["others"] = [
            {"parameter": _validation_parameter(tuple(e.get("loc", ()))), "reason": e.get("msg")}
            for e in errors[1:]
        ]
    return JSONResponse(body, status_code=400)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MinewatchError)
    async def _refused(_: Request, exc: MinewatchError) -> JSONResponse:
        return refusal_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = exc.detail if isinstance(exc.detail, str) else "request refused"
        return JSONResponse(
            error_body(exc.status_code, None, reason),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
