"""Staleness: a device silent for longer than N reporting intervals (collector dead, device off the
network, or — for the revenue meter — a metering gap regulators count against availability).

``interval: device`` takes each device's own rate (``analyzer/cadence.py``: polling or device-group
configuration, else the cadence observed in its telemetry), so rigs reporting every 60 s and a meter
every 10 s are judged against their own rates; a fixed ``interval`` states an absolute gap (a
metering gap over 15 minutes is one whatever the meter's rate)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from minewatch.analyzer.cadence import configured_intervals, expected_intervals
from minewatch.analyzer.context import EvalContext
from minewatch.analyzer.hour_stats import HoursReader, Screen
from minewatch.analyzer.profile import Rule, duration_validator, ns, parse_duration
from minewatch.analyzer.rules.base import Obs, RuleKind
from minewatch.units import MetricName


class StaleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: MetricName = Field(description="A metric the device always reports (its heartbeat)")
    interval: float | Literal["device"] = Field(
        description="Expected reporting interval, or `device`: each device's own (configured or "
        "observed)"
    )
    intervals: float = Field(
        3, gt=0, description="Silent for more than this many intervals = stale"
    )
    max_interval: float = Field(
        600.0,
        gt=0,
        description="With `interval: device`: the longest interval assumed (and the one used for "
        "a device whose rate is neither configured nor observable)",
    )

    _d = duration_validator("max_interval")

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, v: object) -> object:
        if v == "device":
            return v
        s = parse_duration(v)
        if s <= 0:
            raise ValueError("interval must be > 0")
        return s

    @property
    def silent_s(self) -> float:
        """The longest silence tolerated (with per-device rates: at the longest rate)."""
        per = self.max_interval if self.interval == "device" else self.interval
        return per * self.intervals


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
        step = ctx.step_ns(rule)
        end = int(instants[-1])
        if p.interval == "device":
            # the cadence observed over the last look-back (what live sees each cycle): a bounded
            # raw read even when a long report evaluates on roll-ups
            every = expected_intervals(
                ctx.cfg,
                ctx.devices,
                devices,
                lambda devs: ctx.observed_intervals(rule.id, p.metric, devs, end - lb, end),
                p.max_interval,
            )
            silent = np.minimum(every, p.max_interval)[None, :] * p.intervals
        else:
            silent = np.full((1, len(devices)), p.silent_s)
        # one instant (a live cycle) over whole buckets: the kept cadence holds the newest samples
        newest = (
            ctx.newest(rule.id, devices, end - lb, end)
            if len(instants) == 1 and lb % step == 0
            else None
        )
        if newest is None:
            newest = ctx.buckets(p.metric, devices, instants, step, lb).last_seen()
        t = instants[:, None].astype(np.float64)
        age_s = (t - newest) / 1e9
        first = ctx.column("first_seen", devices).astype(np.float64)
        existed = np.nan_to_num(first, nan=np.inf)[None, :] < t - silent * 1e9
        # no sample inside the look-back: silent at least that long, if the device existed by then
        age_s = np.where(np.isnan(age_s), np.where(existed, lb / 1e9, np.nan), age_s)
        ok = ~np.isnan(age_s)
        with np.errstate(invalid="ignore"):
            trig = ok & (age_s > silent)
        return Obs(
            devices,
            instants,
            ok,
            trig,
            ok & ~trig,
            age_s,
            np.broadcast_to(silent, age_s.shape).copy(),
            "s",
            p.metric,
        )

    def screen(
        self, ctx: EvalContext, hours: HoursReader, rule: Rule, instants: np.ndarray
    ) -> Screen | None:
        """A device is stale only when its newest sample is older than its silence limit, so not
        when every instant has a sample within a lower bound of that limit before it: the
        configured interval, else the smallest gap between its samples in the hours of the
        cadence look-back (the observed cadence is a median of those gaps), else ``max_interval``
        — times ``intervals``."""
        p: StaleParams = rule.p
        devices = ctx.pick(rule.selector)
        if not devices:
            return None
        lb = ns(self.lookback_s(rule))
        first, last = int(instants[0]), int(instants[-1])
        hs = hours(p.metric, first - lb, last + 1)
        if hs is None:
            return None
        if p.interval == "device":
            conf = configured_intervals(ctx.cfg, ctx.devices)
            every = np.array([conf.get(d, np.nan) for d in devices], dtype=np.float64)
            gap = hs.min_gap_ns(devices, last - lb, last) / 1e9
            every = np.where(np.isnan(every), np.where(np.isnan(gap), p.max_interval, gap), every)
            silent = np.minimum(every, p.max_interval) * p.intervals
        else:
            silent = np.full(len(devices), p.silent_s)
        quiet = hs.always_within(devices, first, last, np.floor(silent * 1e9))
        return Screen.unknown_ok(devices, ~quiet)
