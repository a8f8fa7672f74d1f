"""Registration: equipment online that was never filed with the regulator, filed equipment that is not
reporting, and equipment whose model or zone differs from its registration (TM equipment ownership,
RU serial reporting, KZ hardware registration — research §2)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from analyzer.context import EvalContext
from analyzer.profile import Rule, duration_validator, ns
from analyzer.rules import register
from analyzer.rules.base import Obs, RuleKind
from minewatch.units import check_metric_name


class RegistryParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: Literal["unregistered", "missing", "model_mismatch", "zone_mismatch"]
    metric: str = Field(description="A metric every such device reports; a sample within `seen_within` = online")
    seen_within: float = Field(600, gt=0)

    _d = duration_validator("seen_within")
    _m = field_validator("metric")(lambda cls, v: check_metric_name(v))


@register
class Registration(RuleKind):
    name = "registry"
    Params = RegistryParams

    def metrics(self, rule: Rule) -> list[str]:
        return [rule.p.metric]

    def lookback_s(self, rule: Rule) -> float:
        return rule.p.seen_within

    def evaluate(self, ctx: EvalContext, rule: Rule, instants: np.ndarray) -> Obs:
        p: RegistryParams = rule.p
        if ctx.registry is None:
            ctx.problems.append(f"{rule.id}: no equipment registry configured (facility.yaml `registry`)")
            return Obs.empty(instants)
        reg = ctx.registry
        if p.check == "missing":
            subjects = sorted(reg)
        else:
            subjects = ctx.pick(rule.selector)
        if not subjects:
            return Obs.empty(instants)
        win = ns(p.seen_within)
        seen = ctx.buckets(p.metric, subjects, instants, ctx.step_ns(rule), win).window("count", win) > 0
        shape = seen.shape
        ok = np.ones(shape, bool)
        if p.check == "unregistered":
            bad = seen & np.array([s not in reg for s in subjects])[None, :]
        elif p.check == "missing":
            bad = ~seen
        else:
            col = "model" if p.check == "model_mismatch" else "zone"
            actual = dict(zip(ctx.devices["device"], ctx.devices[col]))
            registered = np.array([s in reg for s in subjects])[None, :]
            differs = np.array([s in reg and actual.get(s, "") != getattr(reg[s], col) for s in subjects])[None, :]
            ok = np.broadcast_to(registered, shape) & seen
            bad = ok & differs
        return Obs(subjects, instants, ok, bad, ok & ~bad, bad.astype(float), np.zeros(shape), "", p.metric)
