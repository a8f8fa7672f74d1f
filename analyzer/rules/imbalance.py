"""Phase imbalance (NEMA MG-1 method): largest deviation of a phase from the phase average, in % of
the average. Used for voltage unbalance (EN 50160: 2 %) and phase current imbalance (10 %)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from minewatch.analyzer.context import EvalContext
from minewatch.analyzer.profile import Rule
from minewatch.analyzer.rules.base import Obs, RuleKind, Timing, compare
from minewatch.analyzer.rules.threshold import per_instant
from minewatch.analyzer.value_ref import ValueRef
from minewatch.units import MetricName


class ImbalanceParams(Timing):
    metrics: list[MetricName] = Field(
        min_length=2, max_length=3, description="The phase metrics, e.g. voltage_v_l1..l3"
    )
    above: ValueRef = Field(description="Imbalance in % above which the rule breaches")
    clear_above: ValueRef | None = None
    min_average: float = Field(
        0.0,
        ge=0,
        description="Ignore instants where the phase average is at or below this "
        "(no load: imbalance of nothing is meaningless)",
    )


class PhaseImbalance(RuleKind):
    name = "imbalance"
    Params = ImbalanceParams

    def metrics(self, rule: Rule) -> list[str]:
        return list(rule.p.metrics)

    def lookback_s(self, rule: Rule) -> float:
        return rule.p.lookback_s()

    def evaluate(self, ctx: EvalContext, rule: Rule, instants: np.ndarray) -> Obs:
        p: ImbalanceParams = rule.p
        devices = ctx.pick(rule.selector)
        if not devices:
            return Obs.empty(instants)
        phases = np.stack(
            [per_instant(ctx, m, devices, instants, ctx.step_ns(rule), p) for m in p.metrics]
        )
        avg = phases.mean(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            pct = np.where(
                avg > p.min_average, np.abs(phases - avg).max(axis=0) / avg * 100, np.nan
            )
        above, clear = ctx.resolve(p.above, devices), ctx.resolve(p.clear_above, devices)
        res = compare(pct, above, None, clear, None)
        return Obs(
            devices, instants, *res, pct, np.broadcast_to(above, pct.shape), "%", p.metrics[0]
        )
