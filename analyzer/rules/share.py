"""Share-of-time compliance over a long window: EN 50160 wants 95 % of the 10-minute mean voltages
of a week within ±10 % of nominal. Uses store-side downsampling (a week of raw 1-s voltage never
leaves the database)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from minewatch.analyzer.context import EvalContext
from minewatch.analyzer.profile import Rule, duration_validator, ns
from minewatch.analyzer.rules.base import Obs, RuleKind
from minewatch.analyzer.series import device_codes
from minewatch.analyzer.value_ref import ValueRef
from minewatch.units import MetricName


class ShareParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metrics: list[MetricName] = Field(
        min_length=1, description="All must be in band for an interval to count (phases)"
    )
    low: ValueRef | None = None
    high: ValueRef | None = None
    interval: float = Field(600, gt=0, description="Averaging interval (EN 50160: 10 min)")
    window: float = Field(7 * 86400, gt=0, description="Assessment window (EN 50160: one week)")
    min_share: float = Field(0.95, gt=0, le=1, description="Required share of intervals in band")
    min_coverage: float = Field(
        0.5, ge=0, le=1, description="Fewer valid intervals than this share of the window = no data"
    )

    _d = duration_validator("interval", "window")

    @model_validator(mode="after")
    def _band(self) -> ShareParams:
        if self.low is None and self.high is None:
            raise ValueError("give low and/or high")
        if self.window < self.interval:
            raise ValueError("window must be at least one interval")
        return self


class ShareOfTime(RuleKind):
    name = "share_of_time"
    Params = ShareParams

    def metrics(self, rule: Rule) -> list[str]:
        return []  # reads store-side aggregates, not raw samples

    def evidence_metric(self, rule: Rule) -> str | None:
        return rule.p.metrics[0]

    def lookback_s(self, rule: Rule) -> float:
        return rule.p.window

    def evaluate(self, ctx: EvalContext, rule: Rule, instants: np.ndarray) -> Obs:
        p: ShareParams = rule.p
        devices = ctx.pick(rule.selector)
        if not devices:
            return Obs.empty(instants)
        iv, win = ns(p.interval), ns(p.window)
        k = max(1, win // iv)
        first = (int(instants[0]) - win) // iv * iv
        n = (int(instants[-1]) - first) // iv + 1
        lo, hi = ctx.resolve(p.low, devices), ctx.resolve(p.high, devices)
        valid = np.zeros((n, len(devices)), bool)
        inband = np.ones((n, len(devices)), bool)
        for m in p.metrics:
            df = ctx.aggregated(m, devices, first, int(instants[-1]), iv, "mean")
            mat = _matrix(df, devices, first, iv, n)
            has = ~np.isnan(mat)
            valid |= has
            with np.errstate(invalid="ignore"):
                good = np.ones(mat.shape, bool)
                if lo is not None:
                    good &= mat >= lo
                if hi is not None:
                    good &= mat <= hi
            inband &= good | ~has
        inband &= valid
        z = np.zeros((1, len(devices)))
        cv, ci = np.vstack([z, np.cumsum(valid, 0)]), np.vstack([z, np.cumsum(inband, 0)])
        end = (instants - first) // iv  # intervals [first + i*iv, ...) complete before t: i < end
        start = np.maximum(end - k, 0)
        nv, ni = cv[end] - cv[start], ci[end] - ci[start]
        ok = nv >= max(1, p.min_coverage * k)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(nv > 0, ni / nv, np.nan)
        trig = ok & (share < p.min_share)
        return Obs(
            devices,
            instants,
            ok,
            trig,
            ok & ~trig,
            share * 100,
            np.full(share.shape, p.min_share * 100),
            "% of intervals in band",
            p.metrics[0],
            "min",
        )


def _matrix(df: pd.DataFrame, devices: list[str], first: int, iv: int, n: int) -> np.ndarray:
    out = np.full((n, len(devices)), np.nan)
    if df.empty:
        return out
    codes = device_codes(df, devices)
    idx = (df["ts"].to_numpy(np.int64) - first) // iv
    keep = (codes >= 0) & (idx >= 0) & (idx < n)
    out[idx[keep], codes[keep]] = df["value"].to_numpy()[keep]
    return out
