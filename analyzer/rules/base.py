"""What every rule kind provides, and the parts their params share (thresholds that can point at a
device profile's limits, windows, ages)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from minewatch.analyzer.profile import Rule, Selector, duration_validator

if TYPE_CHECKING:
    from minewatch.analyzer.context import EvalContext

Aggregate = Literal["last", "mean", "max", "min"]


class Timing(BaseModel):
    """How a per-instant value is formed: the newest sample (``last``, not older than ``max_age``)
    or an aggregate over ``window``."""

    model_config = ConfigDict(extra="forbid")

    aggregate: Aggregate = "last"
    window: float = 0.0
    max_age: float = 60.0

    _d = duration_validator("window", "max_age")

    @model_validator(mode="after")
    def _window(self) -> Timing:
        if self.aggregate != "last" and self.window <= 0:
            raise ValueError(f"aggregate {self.aggregate!r} needs a window > 0")
        return self

    def lookback_s(self) -> float:
        return self.window if self.aggregate != "last" else self.max_age


@dataclass
class Obs:
    """A rule's verdict at each instant (rows) for each subject (columns).

    ``trigger``: the breach condition (e.g. value above threshold); ``cleared``: the value is back
    past the clear threshold (hysteresis) — with no clear threshold it is ``ok & ~trigger``; ``ok``:
    inputs present.
    """

    subjects: list[str]
    instants: np.ndarray
    ok: np.ndarray
    trigger: np.ndarray
    cleared: np.ndarray
    value: np.ndarray
    threshold: np.ndarray
    unit: str = ""
    metric: str = ""
    peak: Literal["max", "min"] = "max"
    extra: dict[str, Any] = field(default_factory=dict)
    #: where an open alert clears (hysteresis), quoted when it resolves; None = ``threshold``
    clear_level: np.ndarray | None = None

    @classmethod
    def empty(cls, instants: np.ndarray) -> Obs:
        z = np.zeros((len(instants), 0))
        return cls([], instants, z.astype(bool), z.astype(bool), z.astype(bool), z, z)


def compare(
    value: np.ndarray,
    above: np.ndarray | None,
    below: np.ndarray | None,
    clear_above: np.ndarray | None,
    clear_below: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ok, trigger, cleared) for a band: breach when strictly above ``above`` or strictly below
    ``below``; cleared when at/below ``clear_above`` and at/above ``clear_below`` (default: the
    trigger thresholds)."""
    ok = ~np.isnan(value)
    with np.errstate(invalid="ignore"):
        trig = np.zeros(value.shape, bool)
        clr = ok.copy()
        if above is not None:
            trig |= value > above
            clr &= value <= clear_level(above, clear_above)
        if below is not None:
            trig |= value < below
            clr &= value >= clear_level(below, clear_below)
        # an undefined threshold (model without that limit) means the rule does not apply
        for thr in (above, below):
            if thr is not None:
                ok &= ~np.isnan(np.broadcast_to(thr, value.shape))
    return ok, trig & ok, clr & ok


def clear_level(trigger: np.ndarray, clear: np.ndarray | None) -> np.ndarray:
    """The clear level, or the trigger level where none is defined (a model whose profile has no
    warning level): an undefined clear level must not keep an alert open forever."""
    if clear is None:
        return trigger
    return np.where(np.isnan(clear), trigger, clear)


class RuleKind:
    """One kind of rule. Subclasses set ``name`` and ``Params`` and implement ``evaluate``; the
    kinds a profile can name are listed in ``minewatch.analyzer.rules.kinds``."""

    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]]
    facility_level: ClassVar[bool] = False

    def check(self, rule: Rule) -> list[str]:
        """Cross-field problems the params model cannot see (e.g. a clear threshold on the wrong
        side)."""
        return []

    def metrics(self, rule: Rule) -> list[str]:
        """Raw metrics this rule reads (prefetched once per evaluation for all rules)."""
        return []

    def lookback_s(self, rule: Rule) -> float:
        """How much data before an instant the rule needs."""
        return 0.0

    def evaluate(self, ctx: EvalContext, rule: Rule, instants: np.ndarray) -> Obs:
        raise NotImplementedError

    def evidence_metric(self, rule: Rule) -> str | None:
        ms = self.metrics(rule)
        return ms[0] if ms else None

    def evidence_selector(self, rule: Rule) -> Selector | None:
        """For facility rules: the devices whose summed metric is the evidence series (None = the
        subject's own)."""
        return None


class FacilityWindowKind(RuleKind):
    """A facility-level kind over one metric summed across selected devices in a window: they all
    read ``params.metric`` over ``window + max_age`` and show the selector named by
    ``evidence_param`` as their evidence."""

    facility_level = True
    evidence_param: ClassVar[str] = "devices"

    def metrics(self, rule: Rule) -> list[str]:
        return [rule.p.metric]

    def lookback_s(self, rule: Rule) -> float:
        return rule.p.window + rule.p.max_age

    def evidence_selector(self, rule: Rule) -> Selector:
        return getattr(rule.p, self.evidence_param)
