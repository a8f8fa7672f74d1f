"""Coverage of a rule judged per device, by each device's own rate: an evaluation cell (instant x
device) is covered when the window before it holds ``records.min_completeness_pct`` of the samples
the device's rate gives (``analyzer/cadence.py``: configured, else observed) — not when one fresh
sample is within a rule's fixed ``max_age``, which made a rig every 60 s "missing" half the time
against a 30 s age while a meter every 10 s was always covered."""

from __future__ import annotations

import numpy as np

from minewatch.analyzer.cadence import expected_intervals_from_counts, required_samples
from minewatch.analyzer.context import EvalContext
from minewatch.analyzer.profile import Rule
from minewatch.analyzer.rules.base import Obs
from minewatch.analyzer.rules.kinds import KINDS


def covered(ctx: EvalContext, rule: Rule, obs: Obs, completeness_pct: float) -> np.ndarray:
    """The covered cells of ``obs``: by the devices' rates where the rule's subjects are devices
    with one judged metric; otherwise (facility totals, orders, registry entries) the rule's own
    "inputs present"."""
    devices = list(obs.subjects)
    if not counts_decide(ctx, rule, devices):
        return obs.ok
    metrics = KINDS[rule.kind].metrics(rule)
    step = ctx.step_ns(rule)
    chunk = ctx.buckets(metrics[0], devices, obs.instants, step, step)
    every = expected_intervals_from_counts(
        ctx.cfg, ctx.devices, devices, chunk.count, step / 1e9, step / 1e9
    )
    # the window before each instant: at least one step, and long enough for one sample at the
    # slowest rate
    k = max(1, int(np.ceil(np.nanmax(every) * 1e9 / step)))
    counts = ctx.buckets(metrics[0], devices, obs.instants, step, k * step).window(
        "count", k * step
    )
    need = required_samples(every, k * step / 1e9, completeness_pct)
    return np.nan_to_num(counts) >= need[None, :]


def counts_decide(ctx: EvalContext, rule: Rule, subjects: list[str]) -> bool:
    """Whether a rule's coverage is counted from its subjects' samples (devices with one judged
    metric) rather than taken from the rule's own "inputs present"."""
    return (
        len(KINDS[rule.kind].metrics(rule)) == 1
        and bool(subjects)
        # through numpy: iterating a pandas string column costs ~1 ms a thousand devices
        and set(subjects) <= set(ctx.devices["device"].to_numpy(dtype=object))
    )


class Coverage:
    """``covered`` for a whole replay, computed once per chunk context, metric, devices, instants
    and step: the rules judged on one metric of the same devices (a rig's temperature: four of
    tm-2026) have the same coverage, and a year of 1,000 rigs pays for it per rule otherwise."""

    def __init__(self, completeness_pct: float) -> None:
        self.completeness_pct = completeness_pct
        self._last: tuple[EvalContext | None, dict[tuple, np.ndarray]] = (None, {})

    def __call__(self, ctx: EvalContext, rule: Rule, obs: Obs) -> np.ndarray:
        devices = list(obs.subjects)
        if not counts_decide(ctx, rule, devices):
            return obs.ok
        if self._last[0] is not ctx:  # a new chunk: the previous one's results are done with
            self._last = (ctx, {})
        key = (
            KINDS[rule.kind].metrics(rule)[0],
            tuple(devices),
            int(obs.instants[0]),
            len(obs.instants),
            ctx.step_ns(rule),
        )
        memo = self._last[1]
        if key not in memo:
            memo[key] = covered(ctx, rule, obs, self.completeness_pct)
        return memo[key]
