"""Compliance profiles: the rules a facility is held to, as data validated by one schema.

A profile is YAML (``compliance_profiles/<id>.yaml``). Each rule names a *kind* (a module in
``analyzer/rules/``) whose own params model validates ``params``, so a typo in a threshold is
reported as ``tm-2026.yaml: rules[3] (EL-01).params.threshold: ...`` at load time, never at 3
a.m. in the loop.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from minewatch.resources import compliance_profiles_dir

Severity = Literal["info", "warning", "major", "critical"]

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
NS = 1_000_000_000


def parse_duration(v: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"15m"``, ``"3h"``, ``"7d"``; the profile's one duration
    syntax."""
    if isinstance(v, bool):
        raise ValueError("expected a duration like 30s, 15m, 3h, 7d")
    if isinstance(v, (int, float)):
        secs = float(v)
    else:
        m = _DURATION_RE.match(str(v))
        if not m:
            raise ValueError(f"expected a duration like 30s, 15m, 3h, 7d, got {v!r}")
        secs = float(m.group(1)) * _UNIT_S[m.group(2)]
    if secs < 0:
        raise ValueError("a duration must not be negative")
    return secs


def ns(seconds: float) -> int:
    return round(seconds * NS)


def duration_validator(*fields: str):
    """A pydantic ``field_validator`` turning duration strings into seconds for ``fields``."""
    return field_validator(*fields, mode="before")(
        lambda cls, v: None if v is None else parse_duration(v)
    )


class Selector(BaseModel):
    """Which devices a rule looks at, by what they are, never by id; ``facility: true`` = the
    site."""

    model_config = ConfigDict(extra="forbid")

    facility: bool = False
    kind: str | None = None
    role: str | list[str] | None = Field(
        None, description="One role or a list (e.g. sub-meters: [rack_pdu, cooling_feed])"
    )
    zone: str | None = None
    model: str | None = None

    def pick(self, devices: pd.DataFrame) -> list[str]:
        """Device ids matching every given field, sorted (deterministic evaluation order)."""
        mask = pd.Series(True, index=devices.index)
        for col in ("kind", "role", "zone", "model"):
            want = getattr(self, col)
            if isinstance(want, list):
                mask &= devices[col].isin(want)
            elif want is not None:
                mask &= devices[col] == want
        return sorted(devices.loc[mask, "device"].tolist())


class Rule(BaseModel):
    """One requirement. Numbers live in ``params``; ``source`` says where they come from."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    title: str = Field(min_length=3)
    titles: dict[Literal["ru", "tk"], str] = Field(
        default_factory=dict,
        description="The title in other languages (ru: Russian, tk: Turkmen, Latin script); "
        "reports and pages show it in the reader's language",
    )
    kind: str
    family: str = Field(
        pattern=r"^[a-z][a-z_]*$",
        description="electrical, thermal, fire, registry, capacity, data_quality, curtailment, ...",
    )
    severity: Severity
    regulator_notifiable: bool = False
    notify: list[str] = Field(
        default_factory=list,
        description="Routing hints for the notifier, e.g. operator, emergency, regulator",
    )
    selector: Selector = Field(default_factory=Selector)
    every: float | None = Field(None, description="Evaluation step; default analysis.interval_s")
    for_: float = Field(0.0, alias="for", description="Condition must hold this long before firing")
    keep_firing_for: float = Field(
        0.0, description="Stay firing this long after the condition clears"
    )
    params: dict[str, Any] = Field(default_factory=dict)
    source: str = Field(min_length=3, description="Where the numbers come from")
    default: bool = Field(True, description="A configurable default, not legal text")
    description: str = ""
    enabled: bool = True

    _params: BaseModel | None = PrivateAttr(None)

    _dur = duration_validator("every", "for_", "keep_firing_for")

    @property
    def p(self) -> Any:
        """The params validated by the rule kind's own model."""
        assert self._params is not None, (
            f"rule {self.id} was not loaded through load_compliance_profile"
        )
        return self._params


class Inhibition(BaseModel):
    """Parent/child suppression: while ``source`` fires for a subject, ``targets`` on that
    subject are recorded as suppressed (a silent device inhibits its metric rules)."""

    model_config = ConfigDict(extra="forbid")

    source: str
    targets: list[str] = Field(min_length=1, description="Rule ids or family names")
    hold_down: float = Field(
        300.0,
        ge=0,
        description="Targets stay suppressed this long after the source stops firing, so a "
        "flapping parent never re-notifies its children",
    )

    _d = duration_validator("hold_down")


class AvailabilityScope(BaseModel):
    """Devices and metrics whose monthly data availability a report states."""

    model_config = ConfigDict(extra="forbid")

    selector: Selector
    metrics: list[str] = Field(min_length=1)


class RecordSettings(BaseModel):
    """Hourly compliance records (CEMS-style): which meters make the facility's energy and
    demand."""

    model_config = ConfigDict(extra="forbid")

    meters: Selector = Field(default_factory=lambda: Selector(role="revenue_meter"))
    metric: str = "power_w"
    scale_to_kw: float = Field(0.001, gt=0, description="Factor from the metric's unit to kW")
    min_samples_per_quarter: int = Field(
        1,
        ge=1,
        description="A valid hour has this many samples in each 15-minute quarter (40 CFR 75: one)",
    )
    min_completeness_pct: float = Field(
        50,
        ge=0,
        le=100,
        description="A window (a quarter of an hourly record, a report's coverage cell) counts as "
        "covered when it holds this share of the samples the device's own rate gives (configured, "
        "else observed), so a meter every 10 s and one every 60 s missing the same share of their "
        "readings get the same verdict",
    )
    lookback_hours: int = Field(
        720, ge=24, description="Hours of history behind availability and substitution"
    )
    availability: list[AvailabilityScope] = Field(default_factory=list)
    source: str = "40 CFR Part 75 §75.10, §75.31-75.33 (EPA CEMS): valid hour, PMA tiers 95/90/80 %"


class ComplianceProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    title: str
    jurisdiction: str
    version: str
    description: str = ""
    disclaimer: str = Field(
        "Thresholds are configurable defaults drawn from the cited sources, not legal text."
    )
    rules: list[Rule]
    inhibit: list[Inhibition] = Field(default_factory=list)
    records: RecordSettings = Field(default_factory=RecordSettings)

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    @property
    def active_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.enabled]


def resolve_profile_path(ref: str, base_dir: Path | None = None) -> Path:
    """A profile id (``tm-2026``) names a shipped file; anything with a slash or ``.yaml`` is a
    path."""
    if ref.endswith((".yaml", ".yml")) or "/" in ref:
        p = Path(ref).expanduser()
        return p if p.is_absolute() or base_dir is None else base_dir / p
    return compliance_profiles_dir() / f"{ref}.yaml"
