"""Frozen reading: the same non-zero value N or more times in a row, unchanged for at least a
minimum time — a stuck register or a dead sensor that still answers (the "frozen non-zero reads"
check of smart-meter validation, estimation and editing, e.g. Energyworx's VEE rules,
https://docs.energyworx.net). The VEE rule counts metering *intervals*; a poller reading faster than
the device refreshes its registers (or a value quantised by the register scale under a steady load)
repeats legitimately, so a count of readings alone would depend on the poll rate — ``min_duration``
ties it to time, and so does each device's own rate (``analyzer/cadence.py``: configured, else
observed): N readings must span at least what N readings take at that rate, less half an interval of
jitter, so a rig reporting every 60 s is not frozen after 3 identical readings in 30 s (a burst of
re-sent values), while a meter every 10 s is after 3 in 20 s."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from minewatch.analyzer.cadence import expected_intervals, observed_intervals
from minewatch.analyzer.context import EvalContext
from minewatch.analyzer.profile import Rule, duration_validator, ns
from minewatch.analyzer.rules.base import Obs, RuleKind
from minewatch.analyzer.series import Buckets
from minewatch.units import MetricName


class FrozenParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: MetricName
    repeats: int = Field(3, ge=2, description="Identical consecutive readings that count as frozen")
    lookback: float = Field(
        3600, gt=0, description="History searched for the run; must span `repeats` readings"
    )
    min_duration: float = Field(
        0,
        ge=0,
        description="The identical run must also span at least this long "
        "(first to newest reading), whatever the poll rate",
    )
    max_age: float = Field(
        300, gt=0, description="Newest reading older than this = no data (staleness rules cover it)"
    )

    _d = duration_validator("lookback", "max_age", "min_duration")

    @model_validator(mode="after")
    def _span(self) -> FrozenParams:
        if self.min_duration >= self.lookback:
            raise ValueError(
                f"lookback ({self.lookback:g} s) must be longer than min_duration "
                f"({self.min_duration:g} s) to see such a run"
            )
        return self


def run_lengths(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each sample's position in its run of identical values per device, and the run's span so far
    in ns (time since the run's first reading), as two sample frames (df sorted by device, ts)."""
    if df.empty:
        return df, df
    dev, val, ts = df["device"].to_numpy(), df["value"].to_numpy(), df["ts"].to_numpy(np.int64)
    new = np.r_[True, (dev[1:] != dev[:-1]) | (val[1:] != val[:-1])]
    run_id = np.cumsum(new)
    pos = pd.Series(np.ones(len(df))).groupby(run_id).cumsum().to_numpy()
    span = ts - ts[np.flatnonzero(new)][run_id - 1]
    return (
        pd.DataFrame({"ts": ts, "device": dev, "value": pos}),
        pd.DataFrame({"ts": ts, "device": dev, "value": span.astype(np.float64)}),
    )


class Frozen(RuleKind):
    name = "frozen"
    Params = FrozenParams

    def metrics(self, rule: Rule) -> list[str]:
        return [rule.p.metric]

    def lookback_s(self, rule: Rule) -> float:
        return rule.p.lookback

    def evaluate(self, ctx: EvalContext, rule: Rule, instants: np.ndarray) -> Obs:
        p: FrozenParams = rule.p
        devices = ctx.pick(rule.selector)
        if not devices:
            return Obs.empty(instants)
        step, lb = ctx.step_ns(rule), ns(p.lookback)
        raw = ctx.raw(p.metric, int(instants[0]) - lb - step, int(instants[-1]))
        raw = raw[raw["device"].isin(devices)].sort_values(["device", "ts"], kind="stable")
        pos, span = run_lengths(raw)
        n, _ = Buckets(pos, devices, instants, step, lb).latest(ns(p.max_age))
        d, _ = Buckets(span, devices, instants, step, lb).latest(ns(p.max_age))
        every = expected_intervals(
            ctx.cfg, ctx.devices, devices, lambda devs: observed_intervals(raw, devs), 0.0
        )
        need = np.maximum(ns(p.min_duration), (p.repeats - 1.5) * every * 1e9)[None, :]
        v, _ = Buckets(raw, devices, instants, step, lb).latest(ns(p.max_age))
        ok = ~np.isnan(n)
        trig = (
            ok
            & (np.nan_to_num(n) >= p.repeats)
            & (np.nan_to_num(d) >= need)
            & (np.nan_to_num(v) != 0)
        )
        return Obs(
            devices,
            instants,
            ok,
            trig,
            ok & ~trig,
            n,
            np.full(n.shape, float(p.repeats)),
            "readings",
            p.metric,
        )
