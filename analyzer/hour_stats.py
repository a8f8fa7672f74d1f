"""One metric's hourly roll-ups (``TelemetryStore.hourly``) as (hour x device) matrices, with the
questions a rule kind's screen asks of them (``analyzer/screen.py``): the extreme value over a span,
whether any sample fell in it, the smallest gap between samples, and whether every instant of a
span has a sample within a window before it.

Every answer is about whole hours (a superset of the span asked about) and errs on the side that
makes a screen evaluate a device, never on the side that would let it skip one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from minewatch.store.base import HOURLY_SUB_S

HOUR_NS = 3600 * 10**9
_SUB_NS = HOURLY_SUB_S * 10**9
_SUBS = 3600 // HOURLY_SUB_S


@dataclass
class Screen:
    """A kind's screen of one rule over one chunk: ``subjects`` as its evaluation would list them;
    ``maybe``: may trigger at some instant (evaluated); for the others ``ok`` is their constant
    "inputs present" where ``ok_known``."""

    subjects: list[str]
    maybe: np.ndarray
    ok: np.ndarray
    ok_known: np.ndarray

    @classmethod
    def unknown_ok(cls, subjects: list[str], maybe: np.ndarray) -> Screen:
        z = np.zeros(len(subjects), bool)
        return cls(subjects, maybe, z, z)


class HourStats:
    """Hours ``[start, end)`` (whole hours) of one metric for every device the store has."""

    def __init__(self, df: pd.DataFrame, start_ns: int, end_ns: int) -> None:
        self.start = start_ns // HOUR_NS * HOUR_NS
        self.end = -(-end_ns // HOUR_NS) * HOUR_NS
        nh = (self.end - self.start) // HOUR_NS
        col = df["device"]
        if isinstance(col.dtype, pd.CategoricalDtype):  # what SQLite returns: no string hashing
            # only the devices with rows get a column (the categories are every device)
            used, codes = np.unique(col.cat.codes.to_numpy(np.int64), return_inverse=True)
            cats = col.cat.categories[used]
        else:
            codes, cats = pd.factorize(col.astype(str), sort=False)
        self._devices = pd.Index(cats, dtype=object)
        self._columns: dict[tuple[str, ...], np.ndarray] = {}
        #: devices with any sample in these hours
        self.device_count = len(cats)
        nd = len(cats) + 1  # the last column: a device without rows
        h = (df["ts"].to_numpy(np.int64) - self.start) // HOUR_NS
        keep = (h >= 0) & (h < nh)
        h, codes = h[keep], codes[keep]

        def grid(col: str, empty: float) -> np.ndarray:
            out = np.full((nh, nd), empty)
            out[h, codes] = df[col].to_numpy(np.float64)[keep]
            return out

        self.count = grid("count", 0.0)
        self.min, self.max = grid("min", np.nan), grid("max", np.nan)
        self.first_ts, self.last_ts = grid("first_ts", np.nan), grid("last_ts", np.nan)
        self.max_gap, self.min_gap = grid("max_gap", np.nan), grid("min_gap", np.nan)
        # the gap from the previous non-empty hour's last sample to this hour's first one
        prev_last = _ffill(self.last_ts)
        prev_last = np.vstack([np.full((1, nd), np.nan), prev_last[:-1]])
        self.boundary_gap = self.first_ts - prev_last
        # samples per sub-bucket: row = hour * SUBS + sub-bucket, as the rows of a step's buckets
        self.sub = np.zeros((nh * _SUBS, nd))
        rows = (h[:, None] * _SUBS + np.arange(_SUBS)[None, :]).ravel()
        self.sub[rows, np.repeat(codes, _SUBS)] = (
            df[[f"n{j}" for j in range(_SUBS)]].to_numpy(np.float64)[keep].ravel()
        )

    def holds(self, start_ns: int, end_ns: int) -> bool:
        return self.start <= start_ns and end_ns <= self.end

    def columns(self, devices: list[str]) -> np.ndarray:
        """Each device's column (the empty one for a device without rows); memoised: every screen
        and chunk asks for the same few device lists."""
        key = tuple(devices)
        cols = self._columns.get(key)
        if cols is None:
            pos = self._devices.get_indexer(pd.Index(devices))
            cols = self._columns[key] = np.where(pos < 0, len(self._devices), pos)
        return cols

    def _rows(self, start_ns: int, end_ns: int) -> slice:
        """The hours overlapping ``[start_ns, end_ns)``."""
        if not self.holds(start_ns // HOUR_NS * HOUR_NS, end_ns):
            raise ValueError("span outside the hours read")
        return slice((start_ns - self.start) // HOUR_NS, -(-(end_ns - self.start) // HOUR_NS))

    def extreme(self, devices: list[str], start_ns: int, end_ns: int, how: str) -> np.ndarray:
        """Per device the largest (``max``) or smallest (``min``) value in the hours overlapping the
        span (NaN: no sample)."""
        m = getattr(self, how)[self._rows(start_ns, end_ns)][:, self.columns(devices)]
        return (np.fmax if how == "max" else np.fmin).reduce(m, axis=0, initial=np.nan)

    def present(self, devices: list[str], start_ns: int, end_ns: int) -> np.ndarray:
        """Per device: any sample in the hours overlapping the span."""
        return self.count[self._rows(start_ns, end_ns)][:, self.columns(devices)].sum(axis=0) > 0

    def min_gap_ns(self, devices: list[str], start_ns: int, end_ns: int) -> np.ndarray:
        """Per device the smallest positive gap between consecutive samples in the hours overlapping
        the span — a lower bound of every gap statistic (a median) over any part of it. NaN: no
        two samples."""
        rows, cols = self._rows(start_ns, end_ns), self.columns(devices)
        inner = self.min_gap[rows][:, cols]
        first_row = np.zeros(inner.shape, bool)
        first_row[0] = True  # its boundary gap reaches before the span
        edge = np.where(first_row | ~(self.boundary_gap[rows][:, cols] > 0), np.nan, 0.0)
        edge += self.boundary_gap[rows][:, cols]
        return np.fmin.reduce(np.vstack([inner, edge]), axis=0, initial=np.nan)

    def always_within(
        self, devices: list[str], first_ns: int, last_ns: int, window_ns: int | np.ndarray
    ) -> np.ndarray:
        """Per device: every instant ``t`` in ``[first_ns, last_ns]`` has a sample in
        ``[t - window, t)``. Shown on the whole hours from ``first - window`` to ``last``: the first
        sample there is at or before ``first - window``, no two consecutive samples are more than
        ``window`` apart, and the last is at or after ``last - window`` — then the sample before
        any such ``t`` lies within the window (the next one is at ``t`` or later). ``window``: one
        for all devices or one each."""
        window_ns = np.broadcast_to(np.asarray(window_ns, np.float64), (len(devices),))
        rows = self._rows(first_ns - int(window_ns.max(initial=0)), last_ns + 1)
        cols = self.columns(devices)
        count = self.count[rows][:, cols]
        inner = np.fmax.reduce(self.max_gap[rows][:, cols], axis=0, initial=np.nan)
        bgap = self.boundary_gap[rows][:, cols].copy()
        bgap[0] = np.nan  # the gap into the first hour starts before the hours looked at
        widest = np.fmax(inner, np.fmax.reduce(bgap, axis=0, initial=np.nan))
        first = np.fmin.reduce(self.first_ts[rows][:, cols], axis=0, initial=np.nan)
        last = np.fmax.reduce(self.last_ts[rows][:, cols], axis=0, initial=np.nan)
        with np.errstate(invalid="ignore"):
            return (
                (count.sum(axis=0) > 0)
                & (first <= first_ns - window_ns)
                & ~(widest > window_ns)
                & (last >= last_ns - window_ns)
            )


def _ffill(m: np.ndarray) -> np.ndarray:
    """Each column's last non-NaN value carried down its rows."""
    rows = np.where(np.isnan(m), 0, np.arange(len(m))[:, None])
    np.maximum.accumulate(rows, axis=0, out=rows)
    out = m[rows, np.arange(m.shape[1])[None, :]]
    # rows before a column's first value stay NaN
    seen = np.maximum.accumulate(~np.isnan(m), axis=0)
    return np.where(seen, out, np.nan)


#: What a kind's screen reads hourly roll-ups through: ``hours(metric, start_ns, end_ns)`` covers at
#: least that span, or is None when the store keeps no hourly roll-ups (no screen then).
HoursReader = Callable[[str, int, int], "HourStats | None"]
