"""Event/alarm state: fire alarm, smoke, suppression disabled, emergency power-off, meter tamper
flags. Fires on the first evaluation that sees the flag set (``for`` 0) and stays until every flag
is clear."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from minewatch.analyzer.context import EvalContext
from minewatch.analyzer.profile import Rule, duration_validator, ns
from minewatch.analyzer.rules.base import Obs, RuleKind
from minewatch.units import MetricName


class EventParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metrics: list[MetricName] = Field(
        min_length=1, description="Flags (…_bool, …_state); any active one is the event"
    )
    active_at_or_above: float = Field(
        0.5, description="A flag is active when its value is at least this"
    )
    max_age: float = Field(300, gt=0, description="A flag older than this is unknown (no data)")

    _d = duration_validator("max_age")


class EventState(RuleKind):
    name = "event"
    Params = EventParams

    def metrics(self, rule: Rule) -> list[str]:
        return list(rule.p.metrics)

    def lookback_s(self, rule: Rule) -> float:
        return rule.p.max_age

    def evaluate(self, ctx: EvalContext, rule: Rule, instants: np.ndarray) -> Obs:
        p: EventParams = rule.p
        devices = ctx.pick(rule.selector)
        if not devices:
            return Obs.empty(instants)
        shape = (len(instants), len(devices))
        ok, active = np.zeros(shape, bool), np.zeros(shape, bool)
        for m in p.metrics:
            v, _ = ctx.buckets(m, devices, instants, ctx.step_ns(rule), ns(p.max_age)).latest(
                ns(p.max_age)
            )
            ok |= ~np.isnan(v)
            active |= np.nan_to_num(v, nan=-np.inf) >= p.active_at_or_above
        return Obs(
            devices,
            instants,
            ok,
            active,
            ok & ~active,
            active.astype(float),
            np.full(shape, p.active_at_or_above),
            "",
            p.metrics[0],
        )
