"""The report as files an inspector keeps: PDF, JSON and CSV, each signed with the facility key.

A report is built once per period and kept for a few minutes, so downloading the PDF, then the JSON
and the CSV of the same period costs one build (builds are limited, see ``build_slot``). Each file's
detached signature is recorded in the facility's audit ledger (``report.signed``, subject: the
file's SHA-256, actor: who downloaded it): the page can offer ``<file>.sig`` after the download, a
restart loses none, and the ledger shows every report file the facility ever handed out.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from minewatch import __version__
from minewatch.analyzer.profile_loader import load_compliance_profile
from minewatch.analyzer.report import build_report, to_csv, to_json
from minewatch.analyzer.state import AlertStore
from minewatch.api.context import ApiContext
from minewatch.api.errors import TooManyRequests
from minewatch.api.report_pdf import PdfContext, render_pdf
from minewatch.api.report_signature import sign_file
from minewatch.errors import StoreUnavailable
from minewatch.ledger import VerifyReport
from minewatch.notifier.signing import KeyFileError, KeyStore, Signer
from minewatch.readable import rfc3339

FORMATS = ("pdf", "json", "csv")
MEDIA_TYPES = {"pdf": "application/pdf", "json": "application/json", "csv": "text/csv"}
#: Built reports kept for repeated downloads of one period, and for how long.
KEEP_REPORTS = 4
KEEP_REPORT_S = 600.0
#: The ledger entry recording a report file's signature.
SIGNED = "report.signed"


@contextmanager
def build_slot(ctx: ApiContext) -> Iterator[None]:
    """One of ``ctx.report_builds`` concurrent report builds, or 429 at once: a year of a large site
    is minutes of CPU, and queued builds would only time out behind each other."""
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


def built_report(ctx: ApiContext, alerts: AlertStore, start_ns: int, end_ns: int) -> dict[str, Any]:
    """The report of ``[start_ns, end_ns)``, built now or a few minutes ago."""
    kept: OrderedDict[tuple[int, int], tuple[float, dict[str, Any]]] = ctx.cache.setdefault(
        "reports", OrderedDict()
    )
    hit = kept.get((start_ns, end_ns))
    if hit is not None and time.monotonic() - hit[0] < KEEP_REPORT_S:
        return hit[1]
    with build_slot(ctx):
        report = build_report(
            ctx.cfg,
            ctx.store,
            alerts,
            None,
            start_ns,
            end_ns,
            device_profiles=dict(ctx.profiles) or None,
        )
    kept[(start_ns, end_ns)] = (time.monotonic(), report)
    while len(kept) > KEEP_REPORTS:
        kept.popitem(last=False)
    return report


def facility_signer(ctx: ApiContext) -> Signer:
    """The facility's current signing key (the one its regulator messages are signed with)."""
    key_dir = ctx.cfg.path(ctx.cfg.notify.central_bank.key_dir)
    try:
        return KeyStore(key_dir).signer()
    except KeyFileError as exc:
        raise StoreUnavailable(f"reports cannot be signed: {exc}") from None


def rule_titles(ctx: ApiContext) -> dict[str, dict[str, str]]:
    """Rule id → translated titles, from the facility's compliance profile."""
    if "rule_titles" not in ctx.cache:
        profile = load_compliance_profile(ctx.cfg.analysis.compliance_profile, ctx.cfg.base_dir)
        ctx.cache["rule_titles"] = {r.id: dict(r.titles) for r in profile.rules}
    titles: dict[str, dict[str, str]] = ctx.cache["rule_titles"]
    return titles


def ledger_check(ctx: ApiContext) -> VerifyReport:
    """The facility's audit ledger walked from its first entry (what an inspector's report and page
    state: its head, and whether the chain is intact)."""
    return ctx.ledger().verify()


@dataclass(frozen=True)
class ReportFile:
    name: str
    data: bytes
    media_type: str
    signature: dict[str, Any]


def file_name(report: dict[str, Any], fmt: str, lang: str) -> str:
    period = report["period"]
    span = f"{period['start']}_{period['end']}".replace(":", "").replace("-", "")
    suffix = f".{lang}" if fmt == "pdf" else ""
    return f"minewatch-report-{report['facility']['id']}-{span}{suffix}.{fmt}"


def report_file(
    ctx: ApiContext, report: dict[str, Any], fmt: str, lang: str, actor: str
) -> ReportFile:
    """``report`` as ``fmt`` bytes, signed; the signature is recorded in the ledger as handed out
    to ``actor`` (what ``signature_of`` finds)."""
    signer = facility_signer(ctx)
    now = rfc3339(ctx.clock()) or ""
    renderers: dict[str, Callable[[], bytes]] = {
        "json": lambda: to_json(report),
        "csv": lambda: to_csv(report).encode(),
        "pdf": lambda: render_pdf(report, pdf_context(ctx, report, now, lang)),
    }
    data = renderers[fmt]()
    name = file_name(report, fmt, lang)
    sig = sign_file(name, data, signer, now)
    ctx.ledger().append(SIGNED, sig, at_ns=ctx.clock(), actor=actor, subject=sig["sha256"])
    return ReportFile(name, data, MEDIA_TYPES[fmt], sig)


def pdf_context(ctx: ApiContext, report: dict[str, Any], now: str, lang: str) -> PdfContext:
    check = ledger_check(ctx)
    return PdfContext(
        generated_at=now,
        software_version=__version__,
        json_sha256=hashlib.sha256(to_json(report)).hexdigest(),
        ledger_head=(check.head.seq, check.head.hash),
        ledger_ok=check.ok,
        lang=lang,
        titles=rule_titles(ctx),
    )


def signature_of(ctx: ApiContext, sha256: str) -> dict[str, Any] | None:
    entry = ctx.ledger().last_of(SIGNED, sha256)
    return entry.payload if entry is not None else None
