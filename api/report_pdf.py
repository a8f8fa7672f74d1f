"""The inspector's report as a PDF: fpdf2 lays out the pages, matplotlib draws the charts.

Rendered from the report's documented keys (``analyzer/report_schema.py``) and nothing else, so a
report built by another version renders the same way; a rule's ``verdict`` (compliant, breached,
insufficient_data) is shown when the report has it, else derived from its ``status``. Every number
that is missing reads "no data", never ``None`` or zero.

The first page states what an inspector needs to cite the document: facility and licence, period,
generation time, software and profile versions, the SHA-256 of the report's JSON download and the
ledger head. The SHA-256 of the PDF itself (and the facility's signature over it) cannot be inside
the PDF; it is in the detached ``.sig`` served with it (``api/report_signature.py``).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: charts are drawn to PNG in memory

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from fpdf import FPDF, FontFace

from minewatch.i18n import N_, gettext_for, rule_title

FONT_DIR = f"{matplotlib.get_data_path()}/fonts/ttf"
#: DejaVu Sans ships with matplotlib and covers Cyrillic and Turkmen Latin (ň, ž, ş, ý, ä).
FONT = "DejaVu"
MONO = "DejaVuMono"
#: Breaches drawn with their evidence; the rest are listed (all of them are in the JSON and CSV).
MAX_EVIDENCE_CHARTS = 12
MAX_BREACH_ROWS = 200

#: Report statuses → the three verdicts an inspector reads (``not_applicable`` stays itself).
DASH = "\u2013"  # en dash between the ends of a period
VERDICT_OF_STATUS = {
    "compliant": "compliant",
    "breached": "breached",
    "no_data": "insufficient_data",
    "not_applicable": "not_applicable",
}
#: The verdicts as people read them (marked for the catalog; translated where shown).
VERDICT_LABELS = {
    "compliant": N_("compliant"),
    "breached": N_("breached"),
    "insufficient_data": N_("insufficient data"),
    "not_applicable": N_("not applicable"),
}
VERDICT_COLOUR = {
    "compliant": (22, 120, 60),
    "breached": (180, 30, 30),
    "insufficient_data": (170, 110, 0),
    "not_applicable": (110, 110, 110),
}


@dataclass(frozen=True)
class PdfContext:
    """What the PDF states beside the report: who made it, when, with what."""

    generated_at: str
    software_version: str
    json_sha256: str
    ledger_head: tuple[int, str] | None
    ledger_ok: bool | None = None
    lang: str = "en"
    #: Rule id → {language: title} from the compliance profile.
    titles: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def verdict_of(rule: Mapping[str, Any]) -> str:
    """The rule's verdict: the report's own when it has one, else from its status."""
    return str(rule.get("verdict") or VERDICT_OF_STATUS.get(str(rule.get("status")), "unknown"))


def fmt(value: Any, unit: str = "", nd: int = 1, none: str = "no data") -> str:
    """A number for people: rounded, with its unit; None is ``none`` (already translated)."""
    if value is None:
        return none
    if isinstance(value, float | int) and not isinstance(value, bool):
        text = f"{value:,.{nd}f}".replace(",", "\u202f")  # narrow no-break space: 1 234.5
    else:
        text = str(value)
    return f"{text} {unit}".strip()


def _ts(value: float) -> float:
    """Matplotlib's date number of a report time (ns since the epoch; seconds in older reports)."""
    secs = value / 1e9 if value > 1e14 else value
    return float(mdates.date2num(datetime.fromtimestamp(secs, tz=UTC)))


def _png(fig: Any) -> io.BytesIO:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    buf.seek(0)
    return buf


def evidence_chart(breach: Mapping[str, Any], _: Callable[[str], str]) -> io.BytesIO | None:
    """The breach's evidence against its threshold, the breach period shaded."""
    evidence = breach.get("evidence") or {}
    points = [p for p in evidence.get("points") or [] if len(p) == 2 and p[1] is not None]
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(7.2, 2.2))
    ax.plot([_ts(p[0]) for p in points], [float(p[1]) for p in points], lw=1.2, color="#1f5f99")
    if breach.get("threshold") is not None and breach.get("unit"):  # a flag's 0.5 means nothing
        ax.axhline(breach["threshold"], color="#b41e1e", ls="--", lw=1, label=_("threshold"))
        ax.legend(loc="upper left", fontsize=7, frameon=False)
    start, end = breach.get("start_ns"), breach.get("end_ns")
    if start is not None:
        ax.axvspan(_ts(start), _ts(end if end is not None else points[-1][0]), color="#f3c0c0")
    ax.set_ylabel(
        str(evidence.get("metric") or "") + (f" ({breach['unit']})" if breach.get("unit") else ""),
        fontsize=7,
    )
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=UTC))
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    return _png(fig)


def demand_chart(report: Mapping[str, Any], _: Callable[[str], str]) -> io.BytesIO | None:
    """Hourly peak 15-minute demand against the licensed capacity."""
    hours = [
        (_ts(h["hour_start_ns"]), float(peak))
        for h in report.get("hourly") or []
        if (peak := (h.get("peak_demand_kw") or {}).get("value")) is not None
    ]
    if not hours:
        return None
    fig, ax = plt.subplots(figsize=(7.2, 2.4))
    ax.plot(
        [t for t, _v in hours],
        [v for _t, v in hours],
        drawstyle="steps-post",
        marker=".",
        lw=1.2,
        color="#1f5f99",
        label=_("peak demand (kW)"),
    )
    cap = (report.get("energy") or {}).get("licensed_capacity_kw")
    if cap is not None:
        ax.axhline(cap, color="#b41e1e", ls="--", lw=1, label=_("licensed capacity"))
    ax.legend(loc="lower left", fontsize=7, frameon=False)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=UTC))
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    return _png(fig)


class ReportPdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4")
        self._footer_text = footer_text
        self.add_font(FONT, "", f"{FONT_DIR}/DejaVuSans.ttf")
        self.add_font(FONT, "B", f"{FONT_DIR}/DejaVuSans-Bold.ttf")
        self.add_font(MONO, "", f"{FONT_DIR}/DejaVuSansMono.ttf")
        self.set_auto_page_break(True, margin=15)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=7)
        self.set_text_color(110, 110, 110)
        self.cell(0, 5, f"{self._footer_text} · {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0, 0, 0)

    def heading(self, text: str) -> None:
        self.ln(3)
        self.set_font(FONT, "B", 12)
        self.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        self.set_font(FONT, size=9)

    def para(self, text: str, size: float = 9) -> None:
        self.set_font(FONT, size=size)
        self.multi_cell(0, 4.8, text, new_x="LMARGIN", new_y="NEXT")

    def pairs(self, rows: Sequence[tuple[str, str]], mono: Sequence[str] = ()) -> None:
        """Label and value rows; values labelled in ``mono`` (hashes) in a fixed-width font so a
        64-digit hash stays on one line, where it can be compared with ``sha256sum``."""
        with self.table(
            col_widths=(45, 135),
            first_row_as_headings=False,
            line_height=5,
            text_align=("LEFT", "LEFT"),
        ) as t:
            for k, v in rows:
                row = t.row()
                row.cell(k)
                row.cell(v, style=FontFace(family=MONO, size_pt=7.5) if k in mono else None)

    def chart(self, png: io.BytesIO | None) -> None:
        if png is not None:
            self.image(png, w=180)


def render_pdf(report: Mapping[str, Any], meta: PdfContext) -> bytes:
    """The report as PDF bytes (fonts embedded; charts as images)."""
    _ = gettext_for(meta.lang)
    nodata = _("no data")
    # translated once here: gettext's extractor cannot see calls inside f-strings
    title_text, licence, json_hash = _("Compliance report"), _("Licence"), _("Report JSON SHA-256")
    substituted, peak, limit = _("substituted"), _("peak"), _("limit")
    open_end, to_regulator = _("open at period end"), _("reported to the regulator")
    generic, suppressed = _("generic limits"), _("operator alert suppressed")
    muted = _("operator channels muted, regulator notified")
    reached, never = _("target reached"), _("never")
    f, p, e = report["facility"], report["period"], report["energy"]
    profile = report["profile"]
    pdf = ReportPdf(
        f"{f['name']} · {p['start']} {DASH} {p['end']} · {json_hash} {meta.json_sha256[:16]}…"
    )
    pdf.set_title(f"{title_text} {f['id']} {p['start']} {DASH} {p['end']}")
    pdf.set_author(f"minewatch {meta.software_version}")
    pdf.set_creator(f"minewatch {meta.software_version}")
    pdf.set_subject(f"{licence} {f['licence_number']}")
    pdf.set_lang(meta.lang)
    pdf.add_page()
    pdf.set_font(FONT, "B", 16)
    pdf.multi_cell(0, 9, _("Compliance report"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=11)
    pdf.multi_cell(0, 6, f"{f['name']} ({f['id']})", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    head = meta.ledger_head
    ledger_state = {None: _("not checked"), True: _("intact"), False: _("BROKEN")}[meta.ledger_ok]
    pdf.pairs(
        [
            (
                licence,
                f"{f['licence_number']} · {f['region']} · {fmt(f['licensed_capacity_kw'], 'kW')}",
            ),
            (_("Period"), f"{p['start']} {DASH} {p['end']} ({f['timezone']})"),
            (_("Generated at"), meta.generated_at),
            (_("Software"), f"minewatch {meta.software_version}"),
            (
                _("Compliance profile"),
                f"{profile['id']} v{profile['version']} — {profile['title']}",
            ),
            (_("Report JSON SHA-256"), meta.json_sha256),
            (_("Ledger head"), f"#{head[0]} {head[1]}" if head else nodata),
            (_("Ledger verification"), ledger_state),
            (
                _("This file"),
                _(
                    "SHA-256 and facility signature in the accompanying .sig file; "
                    "check with `minewatch verify-report`"
                ),
            ),
        ],
        mono=(_("Report JSON SHA-256"), _("Ledger head")),
    )
    if profile.get("disclaimer"):
        pdf.ln(1)
        pdf.para(str(profile["disclaimer"]), size=7.5)

    pdf.heading(_("Requirements"))
    with pdf.table(
        col_widths=(19, 76, 32, 22, 31),
        line_height=4.8,
        text_align=("LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT"),
    ) as table:
        hdr = table.row()
        for text in (_("Rule"), _("Title"), _("Verdict"), _("Breaches"), _("Data coverage")):
            hdr.cell(text)
        for rule in report["rules"]:
            verdict = verdict_of(rule)
            row = table.row()
            row.cell(str(rule["rule_id"]))
            row.cell(rule_title(rule["rule_id"], rule["title"], meta.titles, meta.lang))
            pdf.set_text_color(*VERDICT_COLOUR.get(verdict, (0, 0, 0)))
            row.cell(_(VERDICT_LABELS.get(verdict, verdict)))
            pdf.set_text_color(0, 0, 0)
            row.cell(str(rule["breaches"]))
            row.cell(fmt(rule.get("data_coverage_pct"), "%", none=nodata))

    pdf.heading(_("Energy and peak demand"))
    pdf.pairs(
        [
            (
                _("Energy"),
                f"{fmt(e['total_kwh'], 'kWh')} ({substituted}: "
                f"{fmt(e['substituted_kwh'], 'kWh')}, {e['substituted_hours']} / {e['hours']} h)",
            ),
            (
                _("Peak demand"),
                f"{fmt(e['peak_demand_kw'], 'kW', none=nodata)} ({e.get('peak_hour') or nodata})",
            ),
            (_("Licensed capacity"), fmt(e["licensed_capacity_kw"], "kW")),
            (_("Peak utilisation"), fmt(e.get("peak_utilisation_pct"), "%", none=nodata)),
        ]
    )
    pdf.chart(demand_chart(report, _))

    breaches = report.get("breaches") or []
    breaches_heading = _("Breaches")
    pdf.heading(f"{breaches_heading} ({len(breaches)})")
    if not breaches:
        pdf.para(_("No breach in the period."))
    for i, b in enumerate(breaches[:MAX_BREACH_ROWS]):
        title = next((r["title"] for r in report["rules"] if r["rule_id"] == b["rule_id"]), "")
        title = rule_title(b["rule_id"], title, meta.titles, meta.lang)
        pdf.set_font(FONT, "B", 9)
        pdf.multi_cell(
            0, 5, f"{b['rule_id']} {title} — {b['subject']}", new_x="LMARGIN", new_y="NEXT"
        )
        unit = b.get("unit") or ""
        if b.get("threshold") is None or not unit:
            measured = ""
        else:
            measured = (
                f" · {peak} {fmt(b.get('peak'), unit, 2, nodata)} "
                f"({limit} {fmt(b['threshold'], unit, 2)})"
            )
        pdf.para(
            f"{b['start']} {DASH} {b.get('end') or open_end} · "
            f"{fmt(b['duration_s'], 's', 0)}{measured}"
            + (f" · {generic}" if b.get("generic_limits") else "")
            + (f" · {to_regulator}" if b.get("regulator_notifiable") else "")
            + (f" · {suppressed}: {b['suppressed_by']}" if b.get("suppressed_by") else "")
            + (f" · {muted}: {b['silenced_by']}" if b.get("silenced_by") else "")
        )
        if i < MAX_EVIDENCE_CHARTS:
            pdf.chart(evidence_chart(b, _))
    if len(breaches) > MAX_BREACH_ROWS:
        pdf.para(_("Further breaches are listed in the JSON and CSV downloads."))

    orders = report.get("curtailment") or []
    pdf.heading(_("Curtailment orders"))
    if not orders:
        pdf.para(_("No curtailment order in the period."))
    for o in orders:
        state = _("compliant") if o["compliant"] else _("not compliant")
        pdf.para(
            f"#{o['order_id']} {fmt(o['target_kw'], 'kW')} {o['start']} {DASH} {o['end']} · "
            f"{reached}: {o.get('reached_target_at') or never} "
            f"({fmt(o.get('actual_response_s'), 's', 0, nodata)} / "
            f"{fmt(o['response_s'], 's', 0)}) · {state}"
        )

    pdf.heading(_("Data availability"))
    avail = report.get("data_availability") or []
    if not avail:
        pdf.para(nodata)
    for a in avail[:100]:
        pdf.para(
            f"{a['month']} {a['device']} {a['metric']}: {fmt(a['availability_pct'], '%')} "
            f"({a['valid_hours']} / {a['hours']} h)"
        )

    eq = report.get("equipment") or {}
    pdf.heading(_("Equipment"))
    if not eq.get("registry_configured"):
        pdf.para(
            _("No equipment registry configured: unregistered equipment cannot be identified.")
        )
    else:
        none = _("none")
        pdf.pairs(
            [
                (_("Unregistered online"), ", ".join(eq.get("unregistered_online") or []) or none),
                (
                    _("Registered, never seen"),
                    ", ".join(eq.get("registered_never_seen") or []) or none,
                ),
                (
                    _("Model mismatch"),
                    ", ".join(m.get("device", "?") for m in eq.get("model_mismatch") or []) or none,
                ),
            ]
        )
    problems = report.get("problems") or []
    if problems:
        pdf.heading(_("Notes"))
        for text in problems:
            pdf.para(f"• {text}")
    return bytes(pdf.output())
