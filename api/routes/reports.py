"""Period compliance reports for inspectors, built by the analyzer's report engine (#5)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Query

from minewatch.analyzer.report import build_report
from minewatch.api.context import ApiContext
from minewatch.api.dependencies import Alerts, Ctx, Inspector
from minewatch.api.errors import BadParameter, TooManyRequests
from minewatch.api.params import parse_time
from minewatch.sample import NS_PER_S

router = APIRouter(prefix="/api/v1", tags=["reports"])
#: A report covers at most a year; longer periods are several reports.
MAX_REPORT_NS = 366 * 86400 * NS_PER_S


@contextmanager
def build_slot(ctx: ApiContext) -> Iterator[None]:
    """One of ``ctx.report_builds`` concurrent report builds, or 429 at once: a year of a large
    site is minutes of CPU, and queued builds would only time out behind each other."""
    slots: threading.BoundedSemaphore = ctx.cache.setdefault(
        "report_builds", threading.BoundedSemaphore(ctx.report_builds)
    )
    if not slots.acquire(blocking=False):
        raise TooManyRequests(
            f"{ctx.report_builds} reports are being built already; try again when one is done",
            retry_after_s=30,
        )
    try:
        yield
    finally:
        slots.release()


@router.get("/reports")
def report(
    _: Inspector,
    ctx: Ctx,
    store: Alerts,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    """The compliance report for ``[from, to)``: the same engine as live evaluation, replayed."""
    if start is None:
        raise BadParameter("from", "required, an RFC 3339 time such as 2026-01-01T00:00:00+05:00")
    if end is None:
        raise BadParameter("to", "required, an RFC 3339 time such as 2026-02-01T00:00:00+05:00")
    start_ns, end_ns = parse_time("from", start), parse_time("to", end)
    if start_ns >= end_ns:
        raise BadParameter("from", "must be before to")
    if end_ns - start_ns > MAX_REPORT_NS:
        raise BadParameter("to", "a report covers at most 366 days")
    if end_ns > ctx.clock():
        raise BadParameter(
            "to", "must not be in the future (a report covers a period that has ended)"
        )
    # as built: the report states its own SHA-256, so it is not reshaped here
    with build_slot(ctx):
        return build_report(
            ctx.cfg,
            ctx.store,
            store,
            None,
            start_ns,
            end_ns,
            device_profiles=dict(ctx.profiles) or None,
        )
