"""Reconciliation of two series: Σ rig/PDU power against the revenue meter. A meter reading
persistently more than the sum of what it feeds means unmetered load (or a bypass upstream of the
sub-meters); less means sub-meters or estimates are wrong. Electricity theft is what regulators of
mining most often act against (e.g. Tajikistan's Criminal Code art. 253(2), Uzbekistan's penalties
for unauthorised grid connection)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from minewatch.analyzer.context import EvalContext
from minewatch.analyzer.profile import Rule, Selector, ns
from minewatch.analyzer.rules.aggregate import facility_series, windowed
from minewatch.analyzer.rules.base import FacilityWindowKind, Obs, Timing, ValueRef, compare
from minewatch.units import MetricName


class ReconcileParams(Timing):
    metric: MetricName = "power_w"
    reference: Selector = Field(description="The meter of record (e.g. role: revenue_meter)")
    parts: Selector = Field(description="What it feeds (e.g. role: rack_pdu or role: rig)")
    aggregate: Literal["mean"] = "mean"
    tolerance_pct: ValueRef = Field(description="Allowed deviation in % of the reference")
    clear_pct: ValueRef | None = None
    direction: Literal["reference_above", "reference_below", "either"] = "reference_above"
    min_reference: float = Field(
        0.0, ge=0, description="Skip instants when the reference is at or below this"
    )


class Reconciliation(FacilityWindowKind):
    name = "reconciliation"
    evidence_param = "reference"
    Params = ReconcileParams

    def evaluate(self, ctx: EvalContext, rule: Rule, instants: np.ndarray) -> Obs:
        p: ReconcileParams = rule.p
        step, win, age = ctx.step_ns(rule), ns(p.window), ns(p.max_age)
        series = []
        for sel in (p.reference, p.parts):
            devices = ctx.pick(sel)
            if not devices:
                series.append(np.full(len(instants), np.nan))
                continue
            total, b = facility_series(ctx, p.metric, devices, instants, step, win, age)
            series.append(windowed(total, b, "mean", win))
        ref, parts = series
        with np.errstate(invalid="ignore", divide="ignore"):
            dev = np.where(ref > p.min_reference, (ref - parts) / ref * 100, np.nan)
        signed = {"reference_above": dev, "reference_below": -dev, "either": np.abs(dev)}[
            p.direction
        ][:, None]
        one = ["facility"]
        tol, clr = ctx.resolve(p.tolerance_pct, one), ctx.resolve(p.clear_pct, one)
        res = compare(signed, tol, None, clr, None)
        return Obs(one, instants, *res, signed, np.broadcast_to(tol, signed.shape), "%", p.metric)
