"""The period report's shape, as pydantic models: the single source of ``report.schema.json`` and
the check that every report we issue conforms to it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Facility(_M):
    id: str
    name: str
    licence_number: str
    licensed_capacity_kw: float
    region: str
    timezone: str


class ProfileRef(_M):
    id: str
    title: str
    version: str
    jurisdiction: str
    disclaimer: str


class Period(_M):
    start: str
    end: str
    start_ns: int
    end_ns: int


class RuleStatus(_M):
    rule_id: str
    title: str
    kind: str
    family: str
    severity: str
    regulator_notifiable: bool
    source: str
    step_s: float
    subjects: int
    status: Literal["compliant", "breached", "no_data", "not_applicable"] = Field(
        description="The verdict in the first report version's words (kept for its readers)"
    )
    verdict: Literal[
        "compliant",
        "breached",
        "insufficient_data",
        "not_in_operation",
        "in_progress",
        "not_applicable",
    ] = Field(
        description="Never a silent pass: compliant only with inputs present for at least "
        "coverage_required_pct of the time in operation"
    )
    breaches: int
    breach_seconds: float
    data_coverage_pct: float | None = Field(description="Inputs present, % of the whole period")
    coverage_in_operation_pct: float | None = Field(
        description="Inputs present, % of the time in operation (None: never in operation)"
    )
    coverage_required_pct: float


class Evidence(_M):
    metric: str | None
    points: list[list[float]]
    aggregate: str | None = None
    step_ns: int | None = None


class Breach(_M):
    rule_id: str
    subject: str
    severity: str
    regulator_notifiable: bool
    condition_since: str
    start: str
    end: str | None
    start_ns: int
    end_ns: int | None
    open_at_period_end: bool
    duration_s: float
    peak: float | None
    threshold: float | None
    unit: str
    threshold_source: str
    evidence: Evidence | None
    suppressed_by: str | None = Field(
        None,
        description="Silence or inhibition that suppressed the operator alert (live and report "
        "agree); the breach is listed all the same",
    )
    silenced_by: str | None = Field(
        None,
        description="Silence, maintenance window or inhibition in force while this "
        "regulator-notifiable breach fired: operator channels were muted, the central bank was "
        "notified all the same",
    )
    generic_limits: bool = Field(
        False,
        description="The threshold is a device-profile limit of a model read through its vendor "
        "family's profile (the family's limit, not the exact model's)",
    )


class Quantity(_M):
    value: float | None
    original: float | None
    quality: Literal["M", "S", "N"] = Field(
        description="M measured, S substituted, N not in operation (no value, never substituted)"
    )
    method: str


class Utilisation(_M):
    value: float | None
    quality: Literal["M", "S", "N"]


class HourlyRecord(_M):
    hour: str
    hour_start_ns: int
    samples: int
    expected_samples: int = Field(
        description="Samples the meters' own rates (configured, else observed) give in the hour"
    )
    quarters_valid: int
    valid: bool
    in_operation: bool
    metering_availability_pct: float
    pma_pct: float | None = None
    energy_kwh: Quantity
    peak_demand_kw: Quantity
    capacity_utilisation_pct: Utilisation


class Energy(_M):
    total_kwh: float
    measured_kwh: float
    substituted_kwh: float
    hours: int
    valid_hours: int
    substituted_hours: int
    not_in_operation_hours: int
    peak_demand_kw: float | None
    peak_hour: str | None
    licensed_capacity_kw: float
    peak_utilisation_pct: float | None


class OrderResponse(_M):
    order_id: int
    target_kw: float
    start: str
    end: str
    response_s: float
    issued_by: str
    reason: str
    reached_target_at: str | None
    actual_response_s: float | None
    breaches: int
    verdict: Literal["compliant", "breached", "in_progress", "insufficient_data"] = Field(
        description="The same verdict the schedule rule reaches for this order"
    )
    compliant: bool


class Availability(_M):
    month: str
    device: str
    metric: str
    hours: int
    valid_hours: int
    availability_pct: float


class Equipment(_M):
    unregistered_online: list[str]
    registered_never_seen: list[str]
    model_mismatch: list[dict[str, str]]
    registry_configured: bool


class Operation(_M):
    start: str | None = Field(
        description="Later of facility.commissioned and the first telemetry; None = never"
    )
    start_ns: int | None
    commissioned: str | None
    not_in_operation_s: float
    in_operation_pct: float


class NotJudged(_M):
    rule_id: str
    verdict: Literal["insufficient_data", "not_in_operation"]
    coverage_pct: float | None


class Evaluation(_M):
    """How the rules read the telemetry, so a reader knows the time resolution of the verdicts."""

    read: Literal["raw", "rollup"]
    resolution_s: float = Field(
        description="The finest evaluation step: breaches start and end on this grid"
    )
    note: str


class Report(_M):
    schema_version: Literal["minewatch.report/1"] = Field(alias="schema")
    facility: Facility
    profile: ProfileRef
    period: Period
    operation: Operation
    evaluation: Evaluation
    not_judged: list[NotJudged] = Field(
        description="Rules that could not be judged: what the summary leads with"
    )
    summary: dict[str, int | float | str | None]
    rules: list[RuleStatus]
    breaches: list[Breach]
    energy: Energy
    hourly: list[HourlyRecord]
    curtailment: list[OrderResponse]
    data_availability: list[Availability]
    equipment: Equipment
    problems: list[str]
    sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the canonical JSON without this field"
    )


def json_schema() -> dict:
    """The JSON Schema published as analyzer/report.schema.json (regenerate with ``python -m
    minewatch.analyzer.report_schema``)."""
    s = Report.model_json_schema(by_alias=True)
    s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    s["$id"] = "minewatch:report/1"
    return s


if __name__ == "__main__":
    import json
    from pathlib import Path

    Path(__file__).with_name("report.schema.json").write_text(
        json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    )
