"""Long reports screened on hourly roll-ups (issue #11): a rule is evaluated at its full resolution
only for the subjects whose hours could hold a breach; every other subject's cells are known without
reading its telemetry.

A rule kind that can prove it offers ``screen(ctx, hours, rule, instants) -> Screen | None``, next
to its evaluation in ``analyzer/rules/<kind>.py`` (adding a kind stays one file): the subjects it
would evaluate and, from the store's hourly roll-ups (``HourStats``, read through ``hours``), those
that *may* trigger in the chunk. The rest provably do not trigger at any instant of the chunk; if
they also have no open alert (a pending, firing or no-data episode carried from the previous chunk),
the alert machine does nothing with them, so their cells only count towards coverage. Coverage is
exact too: per device and step it is counted from the roll-ups' per-``HOURLY_SUB_S`` sample counts
(``CountBuckets``; a step that is not a multiple of it reads roll-ups at the step), and where a
rule's coverage is its own "inputs present" the screen must know that for each skipped subject
(``Screen.ok_known``) or the subject is evaluated. A kind without a screen (facility totals,
reconciliation, curtailment orders, frozen readings, events, rates, imbalance; few devices each) is
evaluated as on the roll-up path (``RollupContext``). So the breaches, verdicts and coverage equal
the raw path's."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from minewatch.alerting import AlertState
from minewatch.analyzer.completeness import counts_decide
from minewatch.analyzer.context import EvalContext, _raw_frame
from minewatch.analyzer.hour_stats import HOUR_NS, HourStats, Screen
from minewatch.analyzer.lifecycle import Transition
from minewatch.analyzer.profile import Rule
from minewatch.analyzer.rollup_read import NO_SAMPLES, RollupContext, RollupEvaluator
from minewatch.analyzer.rules.base import Obs
from minewatch.analyzer.rules.kinds import KINDS
from minewatch.analyzer.series import Buckets
from minewatch.store.base import HOURLY_SUB_S

_SUB_NS = HOURLY_SUB_S * 10**9
#: Hourly roll-ups read at a time: a week of 1,000 rigs is 168,000 rows, ~25 MB as matrices.
HOURS_BLOCK_NS = 7 * 86400 * 10**9
#: A subset of more devices than this reads through the chunk's shared reads (filtered by device)
#: rather than asking the store for its own: the first chunk of a report, whose hours before the
#: period are not all read, evaluates every device of several rules.
SUBSET_OWN_READS = 100


class ScreenedContext(RollupContext):
    """A chunk's context: roll-up buckets for the rules evaluated in full, and the hourly roll-ups
    every screen reads (one store read per metric and chunk)."""

    def __init__(
        self,
        base: EvalContext,
        hours: dict[str, HourStats | None],
        blocks: dict[tuple[str, int], tuple[int, int, pd.DataFrame]],
    ) -> None:
        super().__init__(base)
        self._hours = hours
        self._blocks = blocks

    def _read_rollup(self, first: int, end: int, metric: str, step_ns: int) -> pd.DataFrame:
        """A metric of few devices (a meter's, the PDUs') is read a block of ``HOURS_BLOCK_NS`` at
        a time and kept across chunks (``blocks`` is the evaluator's): a read costs more than
        its rows there."""
        hs = self.hours(metric, first, end)
        if hs is None or hs.device_count > SUBSET_OWN_READS:
            return super()._read_rollup(first, end, metric, step_ns)
        have = self._blocks.get((metric, step_ns))
        if have is None or have[0] > first or have[1] < end:
            hi = max(end, first + HOURS_BLOCK_NS)
            block = self.store.rollup(first, hi, metric, step_ns)
            block = block.assign(device=block["device"].astype("category"))  # once, not per chunk
            have = self._blocks[(metric, step_ns)] = (first, hi, block)
        df = have[2]
        ts = df["ts"].to_numpy()
        return df[(ts >= first) & (ts < end)]

    def hours(self, metric: str, start_ns: int, end_ns: int) -> HourStats | None:
        """The metric's hourly roll-ups over at least ``[start_ns, end_ns)``, read a block of
        ``HOURS_BLOCK_NS`` at a time and kept across chunks (``hours`` is the evaluator's); None
        when the store keeps none (InfluxDB: the rules are then evaluated on ``rollup`` buckets)."""
        have = self._hours.get(metric)
        if metric in self._hours and (have is None or have.holds(start_ns, end_ns)):
            return have
        lo = min(start_ns, self._wanted.get(metric, start_ns)) - HOUR_NS
        hi = max(end_ns, lo + HOURS_BLOCK_NS)
        df = self.store.hourly(lo, hi, metric)
        hs = self._hours[metric] = None if df is None else HourStats(df, lo, hi)
        return hs

    def subset(self, devices: list[str]) -> SubsetContext:
        return SubsetContext(self, devices)


class SubsetContext(RollupContext):
    """The chunk's context narrowed to some devices: selectors and the registry yield only those,
    and every read asks the store for only theirs. Each of them is evaluated exactly as in the full
    context (every per-device kind looks at a device's own data, profile and registration)."""

    def __init__(self, base: ScreenedContext, devices: list[str]) -> None:
        super().__init__(base)
        self.base = base
        self.problems = base.problems
        self.only = sorted(devices)
        keep = set(devices)
        self._keep = keep
        if base.registry is not None:
            self.registry = {k: v for k, v in base.registry.items() if k in keep}

    def pick(self, selector: Any) -> list[str]:
        return [d for d in super().pick(selector) if d in self._keep]

    def _rollup(self, metric: str, step_ns: int, start: int, end: int) -> pd.DataFrame:
        if len(self.only) > SUBSET_OWN_READS:
            return self.base._rollup(metric, step_ns, start, end)
        return super()._rollup(metric, step_ns, start, end)

    def _read_rollup(self, first: int, end: int, metric: str, step_ns: int) -> pd.DataFrame:
        return self.store.rollup(first, end, metric, step_ns, devices=self.only)

    def raw(self, metric: str, start_ns: int, end_ns: int) -> pd.DataFrame:
        if len(self.only) > SUBSET_OWN_READS:
            return self.base.raw(metric, start_ns, end_ns)
        have = self._raw.get(metric)
        if have is None or have[0] > start_ns or have[1] < end_ns:
            df = _raw_frame(self.store.query(start_ns, end_ns, devices=self.only, metrics=[metric]))
            self._raw[metric] = (start_ns, end_ns, df)
            return df
        df = have[2]
        return df[(df["ts"] >= start_ns) & (df["ts"] < end_ns)]


class CountBuckets(Buckets):
    """``Buckets`` holding only sample counts, summed from the hourly roll-ups' sub-bucket counts
    (exact for any step that is a multiple of ``HOURLY_SUB_S``): what coverage reads."""

    def __init__(
        self,
        hs: HourStats,
        devices: list[str],
        instants: np.ndarray,
        step_ns: int,
        lookback_ns: int,
    ) -> None:
        super().__init__(NO_SAMPLES, devices, instants, step_ns, lookback_ns)
        m = self.step // _SUB_NS
        r0 = (self.start - hs.start) // _SUB_NS
        block = hs.sub[r0 : r0 + self.n * m][:, hs.columns(devices)]
        self._counts = block.reshape(self.n, m, self.S).sum(axis=1)
        self._flat = np.flatnonzero(self._counts)  # the parent tests it for "no sample at all"

    @cached_property
    def count(self) -> np.ndarray:
        return self._counts

    @cached_property
    def sum(self) -> np.ndarray:
        return np.zeros((self.n, self.S))


class CoverageContext(EvalContext):
    """What ``completeness.covered`` reads for a chunk: counts per device and step from the hourly
    roll-ups where the step allows, else the chunk context's roll-up buckets."""

    def __init__(self, chunk: ScreenedContext) -> None:
        super().__init__(
            chunk.cfg,
            chunk.store,
            chunk.devices,
            chunk.profiles,
            chunk.registry,
            chunk.orders,
            chunk.step_override,
            chunk.watch_start_ns,
        )
        self.chunk = chunk
        self.problems = chunk.problems

    def buckets(
        self, metric: str, devices: list[str], instants: np.ndarray, step_ns: int, lookback_ns: int
    ) -> Buckets:
        lb = max(1, -(-lookback_ns // step_ns)) * step_ns
        start, end = int(instants[0]) - lb, int(instants[-1])
        hs = self.chunk.hours(metric, start, end) if step_ns % _SUB_NS == 0 else None
        if hs is None:
            return self.chunk.buckets(metric, devices, instants, step_ns, lookback_ns)
        # rules on the same metric and devices (a rig's temperature: four of tm-2026) share them
        key = (metric, tuple(devices), start, len(instants), step_ns, lookback_ns)
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = CountBuckets(hs, devices, instants, step_ns, lookback_ns)
        return b


class ScreenedEvaluator(RollupEvaluator):
    """The report's evaluator on hourly roll-ups: per chunk and rule, the kind's screen picks the
    subjects evaluated in full; results carry a ``CoverageContext`` for their coverage."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hours: dict[str, HourStats | None] = {}
        self._blocks: dict[tuple[str, int], tuple[int, int, pd.DataFrame]] = {}
        self._open: dict[str, set[str]] = {}

    def context(self, *args: Any, **kwargs: Any) -> EvalContext:
        base = super(RollupEvaluator, self).context(*args, **kwargs)
        return ScreenedContext(base, self._hours, self._blocks)

    def replay_chunks(
        self, start_ns: int, end_ns: int, report_step_s: float | None = None, chunk_s: float = 86400
    ) -> Iterator[tuple[int, list[tuple[Rule, Obs, list[Transition], EvalContext]]]]:
        """The replay, noting after each chunk which subjects have an open alert (the next chunk
        evaluates them whatever their screen says)."""
        self._open = {r.id: set() for r in self.rules}
        for t_end, results in super().replay_chunks(start_ns, end_ns, report_step_s, chunk_s):
            out = []
            coverage: dict[int, EvalContext] = {}
            for rule, obs, trs, ctx in results:
                opened = self._open[rule.id]
                for tr in trs:
                    if tr.to_state == AlertState.RESOLVED:
                        opened.discard(tr.subject)
                    else:
                        opened.add(tr.subject)
                if id(ctx) not in coverage:  # one per chunk context
                    coverage[id(ctx)] = (
                        CoverageContext(ctx) if isinstance(ctx, ScreenedContext) else ctx
                    )
                out.append((rule, obs, trs, coverage[id(ctx)]))
            yield t_end, out

    def evaluate(self, ctx: EvalContext, rule: Rule, instants: np.ndarray) -> Obs:
        kind = KINDS[rule.kind]
        screen = getattr(kind, "screen", None)
        sc = (
            screen(ctx, ctx.hours, rule, instants)
            if screen and isinstance(ctx, ScreenedContext)
            else None
        )
        if sc is None:
            return kind.evaluate(ctx, rule, instants)
        assert isinstance(ctx, ScreenedContext)
        maybe = sc.maybe | np.isin(sc.subjects, sorted(self._open.get(rule.id, ())))
        if not counts_decide(ctx, rule, sc.subjects):
            maybe |= ~sc.ok_known
        picked = [s for s, m in zip(sc.subjects, maybe, strict=True) if m]
        part = kind.evaluate(ctx.subset(picked), rule, instants) if picked else None
        return _merged(sc, instants, part)


def _merged(sc: Screen, instants: np.ndarray, part: Obs | None) -> Obs:
    """The full observation: the evaluated subjects' columns, and for the others no trigger and
    their known "inputs present" (cleared where present: nothing is open for them)."""
    shape = (len(instants), len(sc.subjects))
    ok = np.broadcast_to(sc.ok, shape).copy()
    full = Obs(
        sc.subjects,
        instants,
        ok,
        np.zeros(shape, bool),
        ok.copy(),
        np.full(shape, np.nan),
        np.full(shape, np.nan),
    )
    if part is None or not part.subjects:
        return full
    cols = pd.Index(sc.subjects).get_indexer(pd.Index(part.subjects))
    for name in ("ok", "trigger", "cleared", "value", "threshold"):
        getattr(full, name)[:, cols] = np.broadcast_to(getattr(part, name), (shape[0], len(cols)))
    if part.clear_level is not None:
        full.clear_level = np.full(shape, np.nan)
        full.clear_level[:, cols] = np.broadcast_to(part.clear_level, (shape[0], len(cols)))
    full.unit, full.metric, full.peak, full.extra = part.unit, part.metric, part.peak, part.extra
    return full
