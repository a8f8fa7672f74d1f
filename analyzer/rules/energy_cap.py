"""Energy cap over a calendar period with projection: e.g. Russia's 6,000 kWh/month for unregistered
individual miners (221-FZ), warned at 80 % of the projected month and breached at 100 % used."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from minewatch.analyzer.context import EvalContext
from minewatch.analyzer.profile import Rule, Selector, duration_validator, ns
from minewatch.analyzer.rules.base import Obs, RuleKind, ValueRef
from minewatch.units import MetricName


class EnergyCapParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: MetricName = "power_w"
    devices: Selector
    cap_kwh: ValueRef
    period: Literal["day", "month", "year"] = "month"
    basis: Literal["used", "projected"] = "used"
    fraction: float = Field(
        1.0, gt=0, le=2, description="Alert at this fraction of the cap (0.8 = 80 %)"
    )
    bucket: float = Field(
        900, gt=0, description="Integration step (store-side mean power per bucket)"
    )
    to_kwh: float = Field(
        1 / 3.6e6, gt=0, description="Factor from metric-unit x seconds to kWh (W·s → kWh)"
    )

    _d = duration_validator("bucket")


def period_bounds(instants: np.ndarray, tz: str, period: str) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (ns) of the calendar period in the facility's time zone containing each
    instant."""
    local = pd.to_datetime(instants, utc=True).tz_convert(tz)
    freq = {"day": "D", "month": "M", "year": "Y"}[period]
    naive = local.tz_localize(None)
    start = (
        naive.normalize() if period == "day" else naive.to_period(freq).start_time
    ).tz_localize(tz)
    offset = {
        "day": pd.DateOffset(days=1),
        "month": pd.DateOffset(months=1),
        "year": pd.DateOffset(years=1),
    }[period]
    end = start + offset
    return start.as_unit("ns").asi8, end.as_unit("ns").asi8


class EnergyCap(RuleKind):
    name = "energy_cap"
    Params = EnergyCapParams
    facility_level = True

    def evidence_metric(self, rule: Rule) -> str | None:
        return rule.p.metric

    def evidence_selector(self, rule: Rule) -> Selector:
        return rule.p.devices

    def evaluate(self, ctx: EvalContext, rule: Rule, instants: np.ndarray) -> Obs:
        p: EnergyCapParams = rule.p
        devices = ctx.pick(p.devices)
        starts, ends = period_bounds(instants, ctx.cfg.timezone, p.period)
        bucket = ns(p.bucket)
        used = np.full(len(instants), np.nan)
        for ps in np.unique(starts):
            sel = starts == ps
            last = int(instants[sel][-1])
            df = (
                ctx.aggregated(p.metric, devices, int(ps), last, bucket, "mean")
                if devices
                else None
            )
            if df is None or df.empty:
                continue
            per_bucket = df.groupby("ts")["value"].sum()
            b_ts = per_bucket.index.to_numpy(np.int64)
            # a bucket counts once it is complete before the instant
            cum = np.r_[0.0, np.cumsum(per_bucket.to_numpy() * p.bucket * p.to_kwh)]
            t = instants[sel]
            full = np.searchsorted(b_ts + bucket, t, side="right")
            used[sel] = cum[full]
        elapsed = (instants - starts) / 1e9
        length = (ends - starts) / 1e9
        with np.errstate(invalid="ignore", divide="ignore"):
            value = (
                used
                if p.basis == "used"
                else np.where(elapsed > 0, used / elapsed * length, np.nan)
            )
        cap = ctx.resolve(p.cap_kwh, ["facility"])[0] * p.fraction
        v = value[:, None]
        ok = ~np.isnan(v)
        trig = ok & (np.nan_to_num(v) > cap)
        return Obs(
            ["facility"], instants, ok, trig, ok & ~trig, v, np.full(v.shape, cap), "kWh", p.metric
        )
