"""Period compliance reports for inspectors, built by the analyzer's report engine (#5): as JSON for
programs, and as signed PDF, JSON and CSV files to keep and hand over."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response

from minewatch.api.context import ApiContext
from minewatch.api.dependencies import Alerts, Ctx, Inspector
from minewatch.api.errors import BadParameter, UnknownResource
from minewatch.api.params import parse_time
from minewatch.api.report_files import built_report, ledger_check, report_file, signature_of
from minewatch.api.report_signature import sig_bytes
from minewatch.i18n import negotiate
from minewatch.sample import NS_PER_S

router = APIRouter(prefix="/api/v1", tags=["reports"])
#: A report covers at most a year; longer periods are several reports.
MAX_REPORT_NS = 366 * 86400 * NS_PER_S

From = Annotated[str | None, Query(alias="from", max_length=64)]
To = Annotated[str | None, Query(alias="to", max_length=64)]


def report_period(ctx: ApiContext, start: str | None, end: str | None) -> tuple[int, int]:
    """``[from, to)`` in ns: both given, in order, at most 366 days, not in the future."""
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
    return start_ns, end_ns


@router.get("/reports")
def report(
    _: Inspector, ctx: Ctx, store: Alerts, start: From = None, end: To = None
) -> dict[str, Any]:
    """The compliance report for ``[from, to)``: the same engine as live evaluation, replayed."""
    # as built: the report states its own SHA-256, so it is not reshaped here
    return built_report(ctx, store, *report_period(ctx, start, end))


@router.get(
    "/reports/file",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}, "application/json": {}, "text/csv": {}}}},
)
def report_download(
    who: Inspector,
    ctx: Ctx,
    store: Alerts,
    start: From = None,
    end: To = None,
    fmt: Annotated[Literal["pdf", "json", "csv"], Query(alias="format")] = "pdf",
    lang: Literal["en", "ru", "tk"] | None = None,
    accept_language: Annotated[str | None, Header(max_length=500)] = None,
) -> Response:
    """The report as a file (PDF in the reader's language, JSON or CSV), signed with the facility
    key. ``X-Report-SHA256`` is the SHA-256 of the exact bytes; the detached signature is at
    ``/api/v1/reports/signatures/<sha256>``."""
    report = built_report(ctx, store, *report_period(ctx, start, end))
    f = report_file(ctx, report, fmt, lang or negotiate(accept_language), who.actor)
    return Response(
        f.data,
        media_type=f.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{f.name}"',
            "X-Report-SHA256": f.signature["sha256"],
            "X-Minewatch-Key-Id": f.signature["key_id"],
            "Cache-Control": "no-store",
        },
    )


@router.get("/reports/signatures/{sha256}", response_class=Response)
def report_signature(_: Inspector, ctx: Ctx, sha256: str) -> Response:
    """The detached signature (``.sig``) of a report file this facility served (any time: the
    ledger keeps them)."""
    sig = signature_of(ctx, sha256.lower())
    if sig is None:
        raise UnknownResource(
            "sha256", "this facility never served a report file with this SHA-256"
        )
    return Response(
        sig_bytes(sig),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{sig["file"]}.sig"'},
    )


@router.get("/ledger")
def ledger(_: Inspector, ctx: Ctx) -> dict[str, Any]:
    """The audit ledger's verification: entries, head, and every break in the chain (edited,
    deleted, reordered entries), first one first."""
    check = ledger_check(ctx)
    return {
        "entries": check.entries,
        "head": {"seq": check.head.seq, "hash": check.head.hash},
        "ok": check.ok,
        "problems": [{"what": p.what, "seq": p.seq, "detail": p.detail} for p in check.problems],
    }
