"""Messages to the central bank: the v1 schema (pydantic models, exported as JSON Schema) and the
builders that turn ledger entries, reports and heartbeats into message bodies.

The body is built once, when the message is queued, and its bytes never change afterwards:
retries re-sign the same bytes with a fresh timestamp, and the receiver can de-duplicate by
``message_id`` or ``idempotency_key``. Alert-derived idempotency keys are semantic (facility,
kind, rule, subject, start of the breach) so the same breach reported twice — e.g. by an analyzer
that restarted — is one breach.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, Final, Literal, get_args

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from minewatch import readable
from minewatch.alerting import AlertState, AlertTransition
from minewatch.config.facility import FacilityConfig
from minewatch.ledger import Head, canonical_json

SCHEMA_ID: Final = "minewatch.regulator-message.v2"
SCHEMA_URL = "https://minewatch.example/schemas/regulator-message.v2.schema.json"
#: ``prev_sha256`` of a destination's first message.
NO_PREVIOUS = "0" * 64
DESTINATION = "central_bank"

Kind = Literal[
    "breach_opened",
    "breach_updated",
    "breach_resolved",
    "curtailment_response",
    "daily_report",
    "heartbeat",
    "config_changed",
    "channel_suspended",
    "message_refused",
]
_RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"


def _ts(optional: bool = False) -> Any:
    """A timestamp field: RFC 3339 in UTC (``Z``), milliseconds."""
    return (
        Field(None, pattern=_RFC3339, description="RFC 3339, UTC")
        if optional
        else Field(pattern=_RFC3339, description="RFC 3339, UTC")
    )


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Facility(_M):
    id: str
    name: str
    licence_number: str
    licensed_capacity_kw: float


class LedgerHead(_M):
    """The facility's ledger head when the message was written: an anchor the operator cannot
    rewrite."""

    seq: int = Field(ge=0)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")


Severity = Literal["info", "warning", "major", "critical"]
SEVERITIES: tuple[str, ...] = get_args(Severity)


class Rule(_M):
    id: str
    title: str
    severity: Severity
    family: str
    source: str = Field(
        description="Where the threshold comes from (standard, licence term, manufacturer)"
    )


class EvidenceSummary(_M):
    metric: str | None = None
    points: int = Field(ge=0)
    first_at: str | None = _ts(optional=True)
    last_at: str | None = _ts(optional=True)
    min: float | None = None
    max: float | None = None
    last: float | None = None
    sha256: str = Field(
        description="SHA-256 of the canonical JSON of the full evidence the facility keeps"
    )


class OperatorAnnotation(_M):
    """What the operator did; informative only: it never stops or delays a regulator message."""

    acknowledged: bool = False
    silenced: bool = False
    ack_by: str | None = None
    ack_comment: str | None = None


class Breach(_M):
    alert_id: int
    subject: str = Field(description="Device id, or 'facility'")
    from_state: str | None = None
    state: str
    started_at: str | None = _ts(optional=True)
    reason: str | None = None
    rule: Rule
    value: float | None = None
    threshold: float | None = None
    unit: str | None = None
    evidence: EvidenceSummary | None = None
    operator: OperatorAnnotation


class Curtailment(_M):
    order_id: str
    target_kw: float | None = None
    starts_at: str | None = _ts(optional=True)
    ends_at: str | None = _ts(optional=True)
    response_s: float | None = None
    issued_by: str | None = None
    status: str = Field(description="received: the order is in force at the facility")


class Report(_M):
    period_start: str = _ts()
    period_end: str = _ts()
    timezone: str
    sha256: str = Field(description="SHA-256 of the canonical JSON of ``content``")
    content: dict[str, Any] = Field(
        description="The facility report (energy, peak demand vs licence, breaches, "
        "data availability); see docs/regulator-api.md"
    )


class CollectorHealth(_M):
    """One collector as the facility's process sees it (``stats()`` of the part)."""

    name: str
    running: bool
    last_message_at: str | None = _ts(optional=True)


class OpenBreach(_M):
    rule_id: str
    subject: str
    severity: Severity
    state: str
    started_at: str | None = _ts(optional=True)


class Heartbeat(_M):
    """Liveness the bank can check, not just a pulse: when the analyzer last completed a cycle,
    which compliance profile and configuration are in force, and which breaches are open."""

    interval_s: float
    outbox_pending: int
    dead_messages: int
    firing_alerts: int
    software_version: str
    analyzer_last_cycle_at: str | None = Field(
        None, pattern=_RFC3339, description="End of the analyzer's last completed cycle; null: none"
    )
    collectors: list[CollectorHealth] = Field(default_factory=list)
    profile_id: str | None = None
    profile_sha256: str | None = None
    config_sha256: str | None = None
    open_breaches: list[OpenBreach] = Field(default_factory=list)
    terms_source: Literal["licence", "config"] | None = Field(
        None,
        description="Where interval_s and the notifiable rules come from: the regulator's signed "
        "licence terms, or (none ever received) the facility's configuration",
    )
    terms_sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$", description="The licence terms in force (their hash)"
    )


class ConfigChange(_M):
    """What changed in the files behind the facility's configuration (``config.changed``)."""

    profile_id: str | None = None
    profile_sha256: str | None = None
    config_sha256: str | None = None
    changes: dict[str, Any] = Field(description="Old and new SHA-256 per file that changed")


class Suspension(_M):
    reason: str = Field(max_length=2000)
    actor: str | None = Field(None, max_length=200, description="Who switched the channel off")
    licence_active: bool | None = Field(
        None, description="The licence terms in force said the licence is active"
    )


class Refusal(_M):
    """Stands in for a message the bank refused as too large or invalid, so the queue moves on:
    which message it was (sequence, kind, body hash, ledger entry) and what the bank answered."""

    sequence: int = Field(ge=1)
    kind: str
    body_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    body_bytes: int = Field(ge=0)
    source_entry: int | None = None
    status_code: int | None = None
    answer: str = Field(max_length=2000)


class RegulatorMessage(_M):
    """One message from a facility to the central bank (schema
    ``minewatch.regulator-message.v2``)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "$id": SCHEMA_URL,
            "title": "minewatch regulator message v1",
            # the published schema's wording, independent of how this docstring is wrapped
            "description": "One message from a facility to the central bank "
            f"(schema ``{SCHEMA_ID}``).",
        },
    )

    schema_: Literal["minewatch.regulator-message.v2"] = Field(SCHEMA_ID, alias="schema")
    message_id: str = Field(description="Unique per message (UUID)")
    idempotency_key: str = Field(description="Same key = same fact; process once")
    kind: Kind
    facility: Facility
    occurred_at: str = _ts()
    created_at: str = _ts()
    ledger: LedgerHead
    sequence: int = Field(
        0,
        ge=0,
        description="Per-destination, gap-free, from 1; assigned when queued (0 never leaves the "
        "facility): a missing number is a message deleted, a repeated one a rewrite",
    )
    prev_sha256: str = Field(
        NO_PREVIOUS,
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the previous message's body to this destination: an edited "
        "message breaks the chain at the bank",
    )
    source_entry: int | None = Field(
        None, ge=1, description="Ledger sequence number of the entry this message comes from"
    )
    breach: Breach | None = None
    curtailment: Curtailment | None = None
    report: Report | None = None
    heartbeat: Heartbeat | None = None
    config: ConfigChange | None = None
    suspension: Suspension | None = None
    refused: Refusal | None = None

    @model_validator(mode="after")
    def _carries_its_kind(self) -> RegulatorMessage:
        """A message carries the section its kind names, so a signed ``heartbeat`` with
        ``heartbeat: null`` is refused as a schema error, not discovered by whoever reads it."""
        section = _SECTION[self.kind]
        if getattr(self, section) is None:
            raise ValueError(f"a {self.kind} message needs its {section!r} section")
        return self


_SECTION: dict[str, str] = {
    "breach_opened": "breach",
    "breach_updated": "breach",
    "breach_resolved": "breach",
    "curtailment_response": "curtailment",
    "daily_report": "report",
    "heartbeat": "heartbeat",
    "config_changed": "config",
    "channel_suspended": "suspension",
    "message_refused": "refused",
}


def json_schema() -> dict[str, Any]:
    sch = RegulatorMessage.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **sch}


def rfc3339(ns: int | None) -> str | None:
    """Times in regulator messages and licence terms: RFC 3339 with exactly three fraction
    digits, the fixed form the bank's systems parse."""
    return readable.rfc3339(ns, millis=True)


def idempotency_key(*parts: object) -> str:
    return "ik-" + hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:40]


def _facility(cfg: FacilityConfig) -> Facility:
    return Facility(
        id=cfg.facility.id,
        name=cfg.facility.name,
        licence_number=cfg.licence.number,
        licensed_capacity_kw=cfg.licence.capacity_kw,
    )


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f and f not in (float("inf"), float("-inf")) else None


def evidence_summary(evidence: dict[str, Any] | None) -> EvidenceSummary | None:
    """Count, span, min/max/last of the evidence points plus a hash of all of them (they stay on
    site)."""
    if not isinstance(evidence, dict):
        return None
    pts = [p for p in evidence.get("points") or [] if isinstance(p, (list, tuple)) and len(p) == 2]
    vals = [v for v in (_num(p[1]) for p in pts) if v is not None]
    ts = [int(p[0]) for p in pts if isinstance(p[0], (int, float))]
    return EvidenceSummary(
        metric=evidence.get("metric"),
        points=len(pts),
        first_at=rfc3339(min(ts)) if ts else None,
        last_at=rfc3339(max(ts)) if ts else None,
        min=min(vals) if vals else None,
        max=max(vals) if vals else None,
        last=vals[-1] if vals else None,
        sha256=hashlib.sha256(canonical_json(evidence)).hexdigest(),
    )


def breach_kind(to_state: AlertState, was_open: bool) -> Kind | None:
    """Which regulator message a transition makes: a breach opens on entering ``firing`` — or
    ``suppressed``, which is a firing alert the operator side muted (silence, inhibition,
    maintenance): muting never withholds a breach from the regulator — resolves when an open
    breach ends, and any other change of an open breach (nodata, suppressed, ...) is an update.
    Transitions of an alert that never fired (pending -> resolved) are ledgered but not sent."""
    if to_state in (AlertState.FIRING, AlertState.SUPPRESSED) and not was_open:
        return "breach_opened"
    if not was_open:
        return None
    if to_state in (AlertState.RESOLVED, AlertState.INACTIVE):
        return "breach_resolved"
    return "breach_updated"


def _envelope(
    cfg: FacilityConfig, kind: str, key: str, occurred_ns: int, now_ns: int, head: Head, **body: Any
) -> RegulatorMessage:
    return RegulatorMessage(
        message_id=str(uuid.uuid4()),
        idempotency_key=key,
        kind=kind,
        facility=_facility(cfg),
        occurred_at=rfc3339(occurred_ns),
        created_at=rfc3339(now_ns),
        ledger=LedgerHead(seq=head.seq, hash=head.hash),
        **body,
    )


def breach_message(
    cfg: FacilityConfig,
    kind: Kind,
    tr: AlertTransition,
    *,
    occurred_ns: int,
    now_ns: int,
    head: Head,
    annotation: OperatorAnnotation,
    source_entry: int | None = None,
) -> RegulatorMessage:
    """The regulator's view of one alert transition (``kind`` from ``breach_kind``)."""
    # the breach is (rule, subject, start); without a start time the alert id stands in, never None,
    # which would make every later breach of that rule and subject a "duplicate"
    episode = tr.started_at_ns if tr.started_at_ns is not None else f"alert-{tr.alert_id}"
    if kind == "breach_updated":
        key = idempotency_key(
            cfg.facility.id,
            kind,
            tr.rule_id,
            tr.subject,
            episode,
            occurred_ns,
            tr.to_state.value,
            annotation.acknowledged,
        )
    else:
        key = idempotency_key(cfg.facility.id, kind, tr.rule_id, tr.subject, episode)
    breach = Breach(
        alert_id=tr.alert_id,
        subject=tr.subject or "facility",
        from_state=tr.from_state.value,
        state=tr.to_state.value,
        started_at=rfc3339(tr.started_at_ns),
        reason=tr.reason,
        rule=Rule(
            id=tr.rule_id,
            title=tr.rule_title or tr.rule_id,
            severity=tr.severity if tr.severity in SEVERITIES else "critical",
            family=tr.family,
            source=tr.source,
        ),
        value=tr.value,
        threshold=tr.threshold,
        unit=tr.unit,
        evidence=evidence_summary(tr.evidence.model_dump(mode="json")),
        operator=annotation,
    )
    return _envelope(
        cfg, kind, key, occurred_ns, now_ns, head, breach=breach, source_entry=source_entry
    )


def curtailment_message(
    cfg: FacilityConfig,
    p: dict[str, Any],
    *,
    occurred_ns: int,
    now_ns: int,
    head: Head,
    source_entry: int | None = None,
) -> RegulatorMessage:
    """``p`` is a ``curtailment.order`` payload: the facility confirms the order it has put in
    force."""
    oid = str(p.get("order_id", p.get("id", "")))
    c = Curtailment(
        order_id=oid,
        target_kw=_num(p.get("target_kw")),
        starts_at=rfc3339(p.get("starts_at_ns")),
        ends_at=rfc3339(p.get("ends_at_ns")),
        response_s=_num(p.get("response_s")),
        issued_by=p.get("issued_by"),
        status="received",
    )
    key = idempotency_key(cfg.facility.id, "curtailment_response", oid, p.get("starts_at_ns"))
    return _envelope(
        cfg,
        "curtailment_response",
        key,
        occurred_ns,
        now_ns,
        head,
        curtailment=c,
        source_entry=source_entry,
    )


def report_message(
    cfg: FacilityConfig,
    content: dict[str, Any],
    *,
    start_ns: int,
    end_ns: int,
    now_ns: int,
    head: Head,
) -> RegulatorMessage:
    """The daily facility report. ``content`` is the report dict (analyzer.report.build_report)."""
    digest = hashlib.sha256(canonical_json(content)).hexdigest()
    # round-trip through canonical JSON so the body holds exactly what was hashed
    rep = Report(
        period_start=rfc3339(start_ns),
        period_end=rfc3339(end_ns),
        timezone=cfg.timezone,
        sha256=digest,
        content=orjson.loads(canonical_json(content)),
    )
    key = idempotency_key(cfg.facility.id, "daily_report", start_ns, end_ns)
    return _envelope(cfg, "daily_report", key, end_ns, now_ns, head, report=rep)


def heartbeat_message(
    cfg: FacilityConfig, hb: Heartbeat, *, now_ns: int, head: Head
) -> RegulatorMessage:
    return _envelope(
        cfg,
        "heartbeat",
        idempotency_key(cfg.facility.id, "heartbeat", now_ns),
        now_ns,
        now_ns,
        head,
        heartbeat=hb,
    )


def entry_message(
    cfg: FacilityConfig,
    kind: Kind,
    *,
    source_entry: int,
    occurred_ns: int,
    now_ns: int,
    head: Head,
    **section: Any,
) -> RegulatorMessage:
    """A message whose fact is one ledger entry, keyed by it: a change of compliance profile or
    configuration (``config=``), heard by the bank as it happens rather than at the next
    inspection; or the notice sent before the channel goes quiet by the operator's choice
    (``suspension=``), so the silence is declared and the messages held meanwhile follow."""
    key = idempotency_key(cfg.facility.id, kind, source_entry)
    return _envelope(
        cfg, kind, key, occurred_ns, now_ns, head, source_entry=source_entry, **section
    )


def refused_message(
    refused: RegulatorMessage,
    body: bytes,
    *,
    status_code: int | None,
    answer: str,
    now_ns: int,
    head: Head,
) -> RegulatorMessage:
    """The signed stand-in for a message the bank refused: same sequence number and chain link,
    so later messages flow and the bank still sees which fact it did not take, and why."""
    return refused.model_copy(
        update={
            "message_id": str(uuid.uuid4()),
            "idempotency_key": idempotency_key(refused.facility.id, "refused", refused.message_id),
            "kind": "message_refused",
            "created_at": rfc3339(now_ns),
            "ledger": LedgerHead(seq=head.seq, hash=head.hash),
            "breach": None,
            "curtailment": None,
            "report": None,
            "heartbeat": None,
            "config": None,
            "suspension": None,
            "refused": Refusal(
                sequence=refused.sequence,
                kind=refused.kind,
                body_sha256=hashlib.sha256(body).hexdigest(),
                body_bytes=len(body),
                source_entry=refused.source_entry,
                status_code=status_code,
                answer=answer[:2000],
            ),
        }
    )


def encode(msg: RegulatorMessage) -> bytes:
    """The exact body bytes that are signed and sent."""
    return canonical_json(msg.model_dump(mode="json", by_alias=True, exclude_none=True))
