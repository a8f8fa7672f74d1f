"""Curtailment compliance: during a curtailment order (CLI/API) or a calendar ban (e.g. Russia's 15
Nov-15 Mar peak-hour bans, Ethiopia's 18-22 h peak) the facility load must be at or below the target
once the allowed response time (ERCOT ERS: 10 or 30 min) has passed. One subject per order or ban,
so a report shows the response to each."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from minewatch.analyzer.context import EvalContext
from minewatch.analyzer.profile import Rule, Selector, duration_validator, ns
from minewatch.analyzer.rules.aggregate import facility_series, windowed
from minewatch.analyzer.rules.base import Aggregate, FacilityWindowKind, Obs, Timing
from minewatch.analyzer.value_ref import ValueRef
from minewatch.units import MetricName

_MD = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
_HM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class CalendarBan(BaseModel):
    """A recurring window in the facility's time zone: dates ``from``-``to`` (MM-DD, may wrap the
    year end), daily hours ``start``-``end`` (HH:MM, may wrap midnight)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    date_from: str = Field("01-01", alias="from")
    date_to: str = Field("12-31", alias="to")
    start: str = "00:00"
    end: str = "24:00"
    target_kw: ValueRef
    response: float = 0.0
    source: str = Field(min_length=3)

    _d = duration_validator("response")

    @field_validator("date_from", "date_to")
    @classmethod
    def _md(cls, v: str) -> str:
        if not _MD.match(v):
            raise ValueError(f"expected MM-DD, got {v!r}")
        return v

    @field_validator("start", "end")
    @classmethod
    def _hm(cls, v: str) -> str:
        if v != "24:00" and not _HM.match(v):
            raise ValueError(f"expected HH:MM, got {v!r}")
        return v

    def minutes(self, hm: str) -> int:
        h, m = hm.split(":")
        return int(h) * 60 + int(m)


class ScheduleParams(Timing):
    metric: MetricName = "power_w"
    devices: Selector = Field(
        description="Whose summed load must come down (usually role: revenue_meter)"
    )
    window: float = 60.0
    aggregate: Aggregate = "mean"
    orders: bool = Field(True, description="Enforce curtailment orders from the API/CLI")
    bans: list[CalendarBan] = Field(default_factory=list)
    tolerance_pct: float = Field(
        0.0, ge=0, description="Allowed excess over the target, in % of the target"
    )
    scale_to_kw: float = Field(0.001, gt=0, description="Factor from the metric's unit to kW")

    @model_validator(mode="after")
    def _mean(self) -> ScheduleParams:
        if self.aggregate != "mean" or self.window <= 0:
            raise ValueError("a schedule rule compares a windowed mean: aggregate mean, window > 0")
        return self


def _ban_windows(ban: CalendarBan, instants: np.ndarray, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """(inside the ban, seconds since that day's window opened) for each instant, in local time."""
    local = pd.to_datetime(instants, utc=True).tz_convert(tz)
    md = local.month * 100 + local.day
    f = int(ban.date_from.replace("-", ""))
    t = int(ban.date_to.replace("-", ""))
    in_dates = (md >= f) & (md <= t) if f <= t else (md >= f) | (md <= t)
    sec = local.hour * 3600 + local.minute * 60 + local.second
    s, e = ban.minutes(ban.start) * 60, ban.minutes(ban.end) * 60
    in_hours = (sec >= s) & (sec < e) if s < e else (sec >= s) | (sec < e)
    # a window that wraps midnight opened the previous day for the early-morning part
    since = np.where(sec >= s, sec - s, sec + 86400 - s)
    inside = np.asarray(in_dates & in_hours)
    if s >= e:  # date test belongs to the day the window opened
        opened = local - pd.to_timedelta(since, unit="s")
        omd = opened.month * 100 + opened.day
        inside = np.asarray(
            in_hours & (((omd >= f) & (omd <= t)) if f <= t else ((omd >= f) | (omd <= t)))
        )
    return inside, np.asarray(since, dtype=np.float64)


class Schedule(FacilityWindowKind):
    name = "schedule"
    Params = ScheduleParams

    def evaluate(self, ctx: EvalContext, rule: Rule, instants: np.ndarray) -> Obs:
        p: ScheduleParams = rule.p
        lo, hi = int(instants[0]), int(instants[-1])
        subjects, enforced, target = [], [], []
        if p.orders:
            for o in ctx.orders:
                # kept for a day after its end so that an alert open at the end resolves
                if o["starts_at_ns"] <= hi and o["ends_at_ns"] > lo - ns(86400):
                    subjects.append(f"order:{o['id']}")
                    enforced.append(
                        (instants >= o["starts_at_ns"] + ns(o["response_s"]))
                        & (instants < o["ends_at_ns"])
                    )
                    target.append(np.full(len(instants), float(o["target_kw"])))
        for ban in p.bans:
            inside, since = _ban_windows(ban, instants, ctx.cfg.timezone)
            subjects.append(f"ban:{ban.name}")
            enforced.append(inside & (since >= ban.response))
            target.append(
                np.full(len(instants), float(ctx.resolve(ban.target_kw, ["facility"])[0]))
            )
        if not subjects:
            return Obs.empty(instants)
        devices = ctx.pick(p.devices)
        if devices:
            total, b = facility_series(
                ctx, p.metric, devices, instants, ctx.step_ns(rule), ns(p.window), ns(p.max_age)
            )
            load = windowed(total, b, "mean", ns(p.window)) * p.scale_to_kw
        else:
            load = np.full(len(instants), np.nan)
        enf, thr = np.stack(enforced, axis=1), np.stack(target, axis=1)
        v = np.broadcast_to(load[:, None], enf.shape).copy()
        ok = ~(enf & np.isnan(v))
        with np.errstate(invalid="ignore"):
            trig = enf & ok & (v > thr * (1 + p.tolerance_pct / 100))
        return Obs(subjects, instants, ok, trig, ok & ~trig, v, thr, "kW", p.metric)
