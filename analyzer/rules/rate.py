"""Rate of change: e.g. inlet temperature rising faster than ASHRAE's 20 °C per hour."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from minewatch.analyzer.context import EvalContext
from minewatch.analyzer.profile import Rule, duration_validator, ns
from minewatch.analyzer.rules.base import Obs, RuleKind, Timing, ValueRef, compare
from minewatch.units import MetricName


class RateParams(Timing):
    metric: MetricName
    per: float = Field(3600, gt=0, description="Rate unit: change per this duration (1h → °C/h)")
    over: float = Field(
        3600, gt=0, description="Compare the newest value with the value this long before"
    )
    limit: ValueRef = Field(description="Largest allowed absolute change per `per`")
    clear: ValueRef | None = None
    direction: Literal["rise", "fall", "both"] = "both"
    unit: str = ""

    _d2 = duration_validator("per", "over")


class RateOfChange(RuleKind):
    name = "rate_of_change"
    Params = RateParams

    def metrics(self, rule: Rule) -> list[str]:
        return [rule.p.metric]

    def lookback_s(self, rule: Rule) -> float:
        return rule.p.over + rule.p.max_age

    def evaluate(self, ctx: EvalContext, rule: Rule, instants: np.ndarray) -> Obs:
        p: RateParams = rule.p
        devices = ctx.pick(rule.selector)
        if not devices:
            return Obs.empty(instants)
        step = ctx.step_ns(rule)
        k = max(1, round(ns(p.over) / step))
        ext = np.r_[
            np.arange(int(instants[0]) - k * step, int(instants[0]), step, dtype=np.int64), instants
        ]
        latest, _ = ctx.buckets(p.metric, devices, ext, step, ns(p.max_age)).latest(ns(p.max_age))
        rate = (latest[k:] - latest[:-k]) * (ns(p.per) / (k * step))
        signed = {"rise": rate, "fall": -rate, "both": np.abs(rate)}[p.direction]
        lim, clr = ctx.resolve(p.limit, devices), ctx.resolve(p.clear, devices)
        res = compare(signed, lim, None, clr, None)
        return Obs(
            devices, instants, *res, rate, np.broadcast_to(lim, rate.shape), p.unit, p.metric
        )
