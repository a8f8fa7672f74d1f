"""Staleness: a device silent for longer than N reporting intervals (collector dead, device off the
network, or — for the revenue meter — a metering gap regulators count against availability)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from minewatch.analyzer.context import EvalContext
from minewatch.analyzer.profile import Rule, duration_validator, ns
from minewatch.analyzer.rules.base import Obs, RuleKind
from minewatch.units import MetricName


class StaleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: MetricName = Field(description="A metric the device always reports (its heartbeat)")
    interval: float = Field(gt=0, description="Expected reporting interval")
    intervals: float = Field(
        3, gt=0, description="Silent for more than this many intervals = stale"
    )

    _d = duration_validator("interval")

    @property
    def silent_s(self) -> float:
        return self.interval * self.intervals


class Stale(RuleKind):
    name = "stale"
    Params = StaleParams

    def metrics(self, rule: Rule) -> list[str]:
        return [rule.p.metric]

    def lookback_s(self, rule: Rule) -> float:
        return 2 * rule.p.silent_s

    def evaluate(self, ctx: EvalContext, rule: Rule, instants: np.ndarray) -> Obs:
        p: StaleParams = rule.p
        devices = ctx.pick(rule.selector)
        if not devices:
            return Obs.empty(instants)
        lb = ns(self.lookback_s(rule))
        b = ctx.buckets(p.metric, devices, instants, ctx.step_ns(rule), lb)
        t = instants[:, None].astype(np.float64)
        age_s = (t - b.last_seen()) / 1e9
        first = ctx.devices.set_index("device").loc[devices, "first_seen"].to_numpy(np.float64)
        existed = np.nan_to_num(first, nan=np.inf)[None, :] < t - ns(p.silent_s)
        # no sample inside the look-back: silent at least that long, if the device existed by then
        age_s = np.where(np.isnan(age_s), np.where(existed, lb / 1e9, np.nan), age_s)
        ok = ~np.isnan(age_s)
        with np.errstate(invalid="ignore"):
            trig = ok & (age_s > p.silent_s)
        return Obs(
            devices,
            instants,
            ok,
            trig,
            ok & ~trig,
            age_s,
            np.full(age_s.shape, p.silent_s),
            "s",
            p.metric,
        )
