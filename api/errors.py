"""One error shape for every 4xx/5xx the API returns, naming the parameter and the reason.

A client (or an operator reading a curl output) should never have to guess which of
``start``, ``end``, ``step`` was wrong: ``{"error": {"status": 400, "parameter": "start",
"reason": "...", "message": "start: ..."}}``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the API refuses, with the parameter at fault (or None) and a human reason."""

    def __init__(
        self, status: int, parameter: str | None, reason: str, headers: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.parameter = parameter
        self.reason = reason
        self.headers = headers
        super().__init__(f"{parameter}: {reason}" if parameter else reason)


def bad_param(parameter: str, reason: str) -> ApiError:
    return ApiError(400, parameter, reason)


def error_body(status: int, parameter: str | None, reason: str) -> dict[str, object]:
    message = f"{parameter}: {reason}" if parameter else reason
    return {
        "error": {"status": status, "parameter": parameter, "reason": reason, "message": message}
    }


def _validation_parameter(loc: tuple[object, ...]) -> str:
    # loc is e.g. ("query", "limit") or ("body", "target_kw"); the first item only says where.
    parts = [str(p) for p in loc[1:]] if len(loc) > 1 else [str(p) for p in loc]
    return ".".join(parts) or "request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.status, exc.parameter, exc.reason),
            status_code=exc.status,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("request",), "msg": "invalid request"}
        param = _validation_parameter(tuple(first.get("loc", ())))
        got = first.get("input")
        got_txt = f" (got {got!r})" if isinstance(got, (str, int, float)) else ""
        body = error_body(400, param, f"{first.get('msg', 'invalid')}{got_txt}")
        if len(errors) > 1:
            body["error"]["others"] = [  # type: ignore[index]
                {
                    "parameter": _validation_parameter(tuple(e.get("loc", ()))),
                    "reason": e.get("msg"),
                }
                for e in errors[1:]
            ]
        return JSONResponse(body, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = exc.detail if isinstance(exc.detail, str) else "request refused"
        return JSONResponse(
            error_body(exc.status_code, None, reason),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
