"""Period compliance reports for inspectors, built by the analyzer's report engine (#5)."""

from __future__ import annotations

import importlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from minewatch.api.auth import require
from minewatch.api.context import ApiContext
from minewatch.api.errors import ApiError, bad_param
from minewatch.api.params import parse_time
from minewatch.api.routes.alerts import alert_store
from minewatch.sample import NS_PER_S

router = APIRouter(prefix="/api/v1", tags=["reports"])
#: A report covers at most a year; longer periods are several reports.
MAX_REPORT_NS = 366 * 86400 * NS_PER_S


@router.get("/reports")
def report(
    request: Request,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    _: Any = Depends(require("inspector")),
) -> dict[str, Any]:
    """The compliance report for ``[from, to)``: the same engine as live evaluation, replayed."""
    ctx: ApiContext = request.app.state.ctx
    if start is None:
        raise bad_param("from", "required, an RFC 3339 time such as 2026-01-01T00:00:00+05:00")
    if end is None:
        raise bad_param("to", "required, an RFC 3339 time such as 2026-02-01T00:00:00+05:00")
    start_ns, end_ns = parse_time("from", start), parse_time("to", end)
    if start_ns >= end_ns:
        raise bad_param("from", "must be before to")
    if end_ns - start_ns > MAX_REPORT_NS:
        raise bad_param("to", "a report covers at most 366 days")
    if end_ns > ctx.clock():
        raise bad_param("to", "must not be in the future (a report covers a period that has ended)")
    try:
        report_mod = importlib.import_module("minewatch.analyzer.report")
    except ModuleNotFoundError:
        raise ApiError(503, None, "period reports are not available in this installation") from None
    # as built: the report states its own SHA-256, so it is not reshaped here
    return report_mod.build_report(
        ctx.cfg,
        ctx.store,
        alert_store(request),
        None,
        start_ns,
        end_ns,
        device_profiles=dict(ctx.profiles) or None,
    )
