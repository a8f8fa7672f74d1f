"""Rule evaluation on store-side roll-ups, for long reports: rules see the same bucket statistics
(count, sum, min, max, last value and its time per device and evaluation step) that the raw path
computes from every sample, but the store computes them (``TelemetryStore.rollup``: SQL GROUP BY on
SQLite, InfluxQL GROUP BY time on InfluxDB), so a year of one-minute data never crosses into Python.

Each rule's buckets are read at that rule's own evaluation step, aligned to the epoch like the
report's grid, so the statistics are the raw ones, not an approximation: the verdicts equal the raw
path's, with ``last_ts`` (hence sample ages) to the store's resolution (exact on SQLite, the step on
InfluxDB). Raw samples are still read where a rule needs them — a frozen-value run, a device's
observed cadence over one look-back, the evidence around each breach."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from minewatch.analyzer.context import EvalContext, RawCache
from minewatch.analyzer.evaluator import Evaluator
from minewatch.analyzer.series import Buckets, device_codes
from minewatch.store.base import empty_samples

#: The parent's frame of raw rows: none (built once: a frame costs ~1 ms, a long report builds
#: thousands of buckets).
NO_SAMPLES = empty_samples()


class RollupBuckets(Buckets):
    """``Buckets`` filled from a roll-up at exactly the bucket step: one row per device and
    bucket."""

    def __init__(
        self,
        rollup: pd.DataFrame,
        devices: list[str],
        instants: np.ndarray,
        step_ns: int,
        lookback_ns: int,
    ) -> None:
        super().__init__(NO_SAMPLES, devices, instants, step_ns, lookback_ns)
        codes = device_codes(rollup, devices)
        idx = (rollup["ts"].to_numpy(np.int64) - self.start) // self.step
        keep = (codes >= 0) & (idx >= 0) & (idx < self.n)
        # the parent's row keys (it tests them for "no sample at all"): here one per device-bucket
        self._flat = idx[keep] * self.S + codes[keep].astype(np.int64)
        self._stats = {
            c: rollup[c].to_numpy(np.float64)[keep]
            for c in ("count", "sum", "min", "max", "last", "last_ts")
        }

    def _filled(self, stat: str, empty: float) -> np.ndarray:
        out = np.full(self.n * self.S, empty)
        out[self._flat] = self._stats[stat]
        return out.reshape(self.n, self.S)

    @cached_property
    def sum(self) -> np.ndarray:
        return self._filled("sum", 0.0)

    @cached_property
    def count(self) -> np.ndarray:
        return self._filled("count", 0.0)

    @cached_property
    def max(self) -> np.ndarray:
        return self._filled("max", np.nan)

    @cached_property
    def min(self) -> np.ndarray:
        return self._filled("min", np.nan)

    @cached_property
    def last(self) -> np.ndarray:
        return self._filled("last", np.nan)

    @cached_property
    def last_ts(self) -> np.ndarray:
        return self._filled("last_ts", np.nan)


class RollupContext(EvalContext):
    """An evaluation context whose buckets come from store roll-ups, one read per metric and step
    covering the chunk's look-back (what ``prefetch`` would have read raw)."""

    def __init__(self, base: EvalContext) -> None:
        super().__init__(
            base.cfg,
            base.store,
            base.devices,
            base.profiles,
            base.registry,
            base.orders,
            base.step_override,
            base.watch_start_ns,
        )
        self._wanted: dict[str, int] = {}
        self._rollups: dict[tuple[str, int], tuple[int, int, pd.DataFrame]] = {}

    def prefetch(
        self, start_by_metric: dict[str, int], end_ns: int, cache: RawCache | None = None
    ) -> None:
        """Note how far back each metric is wanted; the roll-ups are read per step on first use."""
        self._wanted.update(start_by_metric)

    def buckets(
        self, metric: str, devices: list[str], instants: np.ndarray, step_ns: int, lookback_ns: int
    ) -> Buckets:
        lb = max(1, -(-lookback_ns // step_ns)) * step_ns
        start, end = int(instants[0]) - lb, int(instants[-1])
        if start % step_ns:  # buckets off the epoch grid would not match the store's
            return super().buckets(metric, devices, instants, step_ns, lookback_ns)
        key = (metric, tuple(devices), start, len(instants), step_ns, lookback_ns)
        b = self._buckets.get(key)
        if b is None:
            df = self._rollup(metric, step_ns, start, end)
            b = self._buckets[key] = RollupBuckets(df, devices, instants, step_ns, lookback_ns)
        return b

    def _rollup(self, metric: str, step_ns: int, start: int, end: int) -> pd.DataFrame:
        have = self._rollups.get((metric, step_ns))
        if have is None or have[0] > start or have[1] < end:
            first = min(start, self._wanted.get(metric, start)) // step_ns * step_ns
            df = self._read_rollup(first, end, metric, step_ns)
            df = df.assign(device=df["device"].astype("category"))
            have = self._rollups[(metric, step_ns)] = (first, end, df)
        ts = have[2]["ts"].to_numpy()
        return have[2][(ts >= start) & (ts < end)]

    def _read_rollup(self, first: int, end: int, metric: str, step_ns: int) -> pd.DataFrame:
        return self.store.rollup(first, end, metric, step_ns)


class RollupEvaluator(Evaluator):
    """The report's evaluator on roll-ups: every chunk's context reads buckets store-side."""

    def context(self, *args: Any, **kwargs: Any) -> EvalContext:
        return RollupContext(super().context(*args, **kwargs))
