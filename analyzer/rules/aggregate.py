"""Facility aggregate over a rolling window: e.g. total power's 15-minute mean against the licensed
capacity (the demand interval regulators bill and enforce on)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pydantic import Field

from minewatch.analyzer.context import EvalContext
from minewatch.analyzer.profile import Rule, Selector, ns
from minewatch.analyzer.rules.base import (
    Aggregate,
    FacilityWindowKind,
    Obs,
    Timing,
    ValueRef,
    compare,
)
from minewatch.analyzer.series import Buckets
from minewatch.units import MetricName


class AggregateParams(Timing):
    metric: MetricName
    devices: Selector = Field(description="Which devices' values are summed")
    aggregate: Aggregate = "mean"
    above: ValueRef | None = None
    below: ValueRef | None = None
    clear_above: ValueRef | None = None
    clear_below: ValueRef | None = None
    min_coverage: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of the window's buckets that must hold data before the aggregate is "
        "judged: a 15-minute demand computed from the first minute after a start or a gap is "
        "not a 15-minute demand (no data until then, never a false breach)",
    )
    unit: str = ""


def facility_series(
    ctx: EvalContext,
    metric: str,
    devices: list[str],
    instants: np.ndarray,
    step_ns: int,
    window_ns: int,
    max_age_ns: int,
) -> tuple[pd.Series, Buckets]:
    """Σ over devices of each device's bucket mean, a device's last value carried for ``max_age``;
    returns the facility series per bucket (rows aligned with the bucket matrix) and the buckets."""
    b = ctx.buckets(metric, devices, instants, step_ns, window_ns + max_age_ns)
    carry = max_age_ns // step_ns
    carried = pd.DataFrame(b.mean)
    if carry > 0:
        carried = carried.ffill(limit=carry)
    total = carried.sum(axis=1, min_count=1)
    return total, b


def windowed(
    total: pd.Series, b: Buckets, agg: str, window_ns: int, min_coverage: float = 0.0
) -> np.ndarray:
    k = max(1, -(-window_ns // b.step))
    if agg == "last":
        return total.to_numpy()[b.L - 1 :]
    r = total.rolling(k, min_periods=max(1, math.ceil(k * min_coverage)))
    return getattr(r, agg)().to_numpy()[b.L - 1 :]


class FacilityAggregate(FacilityWindowKind):
    name = "aggregate"
    Params = AggregateParams

    def check(self, rule: Rule) -> list[str]:
        p = rule.p
        return [] if (p.above or p.below) else ["params: give above and/or below"]

    def evaluate(self, ctx: EvalContext, rule: Rule, instants: np.ndarray) -> Obs:
        p: AggregateParams = rule.p
        devices = ctx.pick(p.devices)
        if not devices:
            v = np.full((len(instants), 1), np.nan)
        else:
            total, b = facility_series(
                ctx, p.metric, devices, instants, ctx.step_ns(rule), ns(p.window), ns(p.max_age)
            )
            v = windowed(total, b, p.aggregate, ns(p.window), p.min_coverage)[:, None]
        one = ["facility"]
        res = compare(
            v, *(ctx.resolve(x, one) for x in (p.above, p.below, p.clear_above, p.clear_below))
        )
        thr = ctx.resolve(p.above or p.below, one)
        assert thr is not None  # the params require above or below
        return Obs(
            one,
            instants,
            *res,
            v,
            np.broadcast_to(thr, v.shape),
            p.unit,
            p.metric,
            "min" if p.above is None else "max",
        )
