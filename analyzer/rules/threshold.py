"""Per-device threshold or band with hysteresis: chip over-temperature, inlet temperature, voltage
and frequency bands, power factor, breaker loading against the device's rating."""

from __future__ import annotations

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from minewatch.analyzer.context import EvalContext
from minewatch.analyzer.hour_stats import HoursReader, Screen
from minewatch.analyzer.profile import Rule, ns
from minewatch.analyzer.rules.base import Obs, RuleKind, Timing, clear_level, compare
from minewatch.analyzer.value_ref import ValueRef
from minewatch.units import check_metric_name


class ThresholdParams(Timing):
    model_config = ConfigDict(extra="forbid")

    metrics: list[str] = Field(
        min_length=1, description="One metric, or several (e.g. phases): the worst counts"
    )
    above: ValueRef | None = None
    below: ValueRef | None = None
    clear_above: ValueRef | None = Field(
        None, description="Open alert clears at/below this (hysteresis)"
    )
    clear_below: ValueRef | None = None
    unit: str = ""

    @model_validator(mode="before")
    @classmethod
    def _metric(cls, v: dict) -> dict:
        if isinstance(v, dict) and "metric" in v:
            v = dict(v)
            v["metrics"] = [v.pop("metric")]
        return v

    @model_validator(mode="after")
    def _sides(self) -> ThresholdParams:
        for m in self.metrics:
            check_metric_name(m)
        if self.above is None and self.below is None:
            raise ValueError("give above and/or below")
        if self.clear_above is not None and self.above is None:
            raise ValueError("clear_above needs above")
        if self.clear_below is not None and self.below is None:
            raise ValueError("clear_below needs below")
        for clear, trig, side in (
            (self.clear_above, self.above, "clear_above"),
            (self.clear_below, self.below, "clear_below"),
        ):
            if (
                clear is not None
                and trig is not None
                and clear.value is not None
                and trig.value is not None
            ):
                bad = (
                    clear.value * clear.factor > trig.value * trig.factor
                    if side == "clear_above"
                    else clear.value * clear.factor < trig.value * trig.factor
                )
                if bad:
                    raise ValueError(f"{side} must be on the safe side of the trigger threshold")
        return self


def per_instant(
    ctx: EvalContext, metric: str, devices: list[str], instants: np.ndarray, step_ns: int, t: Timing
) -> np.ndarray:
    """The value each device has at each instant under ``t`` (newest sample or window aggregate)."""
    b = ctx.buckets(metric, devices, instants, step_ns, ns(t.lookback_s()))
    if t.aggregate == "last":
        return b.latest(ns(t.max_age))[0]
    return b.window(t.aggregate, ns(t.window))


class Threshold(RuleKind):
    name = "threshold"
    Params = ThresholdParams

    def metrics(self, rule: Rule) -> list[str]:
        return list(rule.p.metrics)

    def lookback_s(self, rule: Rule) -> float:
        return rule.p.lookback_s()

    def evaluate(self, ctx: EvalContext, rule: Rule, instants: np.ndarray) -> Obs:
        p: ThresholdParams = rule.p
        devices = ctx.pick(rule.selector)
        if not devices:
            return Obs.empty(instants)
        step = ctx.step_ns(rule)
        above, below = ctx.resolve(p.above, devices), ctx.resolve(p.below, devices)
        c_above, c_below = ctx.resolve(p.clear_above, devices), ctx.resolve(p.clear_below, devices)
        best = None
        for m in p.metrics:  # the worst phase decides
            v = per_instant(ctx, m, devices, instants, step, p)
            res = compare(v, above, below, c_above, c_below)
            if best is None:
                best = (v, *res)
                continue
            bv, bok, btr, bcl = best
            rok, rtr, rcl = res
            take = _excess(v, above, below) > _excess(bv, above, below)
            # open while any phase breaches; cleared only when every phase with data is cleared
            best = (
                np.where(take, v, bv),
                bok | rok,
                btr | rtr,
                (bcl | ~bok) & (rcl | ~rok) & (bok | rok),
            )
        v, ok, trig, clr = best  # type: ignore[misc]
        thr, clear = _band_side(v, above, below, c_above, c_below)
        return Obs(
            devices,
            instants,
            ok,
            trig,
            clr,
            v,
            thr,
            p.unit,
            p.metrics[0],
            "min" if p.above is None else "max",
            clear_level=clear,
        )

    def screen(
        self, ctx: EvalContext, hours: HoursReader, rule: Rule, instants: np.ndarray
    ) -> Screen | None:
        """A device triggers only with a value past a limit, so only with a sample past it in the
        span its instants read (hourly max above ``above``, min below ``below``). Its inputs are
        present at every instant when one metric has a sample as fresh as the timing needs before
        each (``max_age``, or within the window's buckets), absent at every instant with no sample
        at all or an undefined limit."""
        p: ThresholdParams = rule.p
        devices = ctx.pick(rule.selector)
        if not devices:
            return None
        step = ctx.step_ns(rule)
        lb = max(1, -(-ns(p.lookback_s()) // step)) * step
        fresh_ns = ns(p.max_age) if p.aggregate == "last" else lb
        first, last = int(instants[0]), int(instants[-1])
        above, below = ctx.resolve(p.above, devices), ctx.resolve(p.below, devices)
        no = np.zeros(len(devices), bool)
        maybe, present, fresh = no.copy(), no.copy(), no.copy()
        for m in p.metrics:
            hs = hours(m, first - lb, last + 1)
            if hs is None:
                return None
            with np.errstate(invalid="ignore"):
                if above is not None:
                    maybe |= hs.extreme(devices, first - lb, last, "max") > above
                if below is not None:
                    maybe |= hs.extreme(devices, first - lb, last, "min") < below
            present |= hs.present(devices, first - lb, last)
            fresh |= hs.always_within(devices, first, last, fresh_ns)
        defined = ~no
        for thr in (above, below):
            if thr is not None:
                defined &= ~np.isnan(thr)
        return Screen(devices, maybe, present & fresh & defined, ~present | fresh | ~defined)


def _band_side(
    v: np.ndarray,
    above: np.ndarray | None,
    below: np.ndarray | None,
    c_above: np.ndarray | None,
    c_below: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(threshold, clear level) of the side each value is on: a band's lower side for values below
    its middle, else the upper side. An under-voltage is stated against the lower limit, and its
    resolve quotes the lower clear level, not the upper ones."""
    hi = None if above is None else (above, clear_level(above, c_above))
    lo = None if below is None else (below, clear_level(below, c_below))
    if hi is None or lo is None:
        one = hi if hi is not None else lo
        assert one is not None  # the params require above or below
        return (np.broadcast_to(one[0], v.shape), np.broadcast_to(one[1], v.shape))
    low = np.nan_to_num(v, nan=np.inf) < (above + below) / 2  # type: ignore[operator]
    return np.where(low, lo[0], hi[0]), np.where(low, lo[1], hi[1])


def _excess(v: np.ndarray, above: np.ndarray | None, below: np.ndarray | None) -> np.ndarray:
    e = np.full(v.shape, -np.inf)
    with np.errstate(invalid="ignore"):
        if above is not None:
            e = np.fmax(e, v - above)
        if below is not None:
            e = np.fmax(e, below - v)
    return np.nan_to_num(e, nan=-np.inf)
