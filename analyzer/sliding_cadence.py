"""A rule's observed cadence (``cadence.observed_intervals``) kept between live cycles.

``observed_intervals`` sorts every row of its window by device: for DQ-03 at 30,000 rigs that is
2.2 M chip temperatures (a 12-minute look-back) every cycle, although a cycle only moves the window
by one step — a sample per rig leaves at its start and one arrives at its end. So this keeps each
device's timestamps in the window as a row of a matrix (sorted, padded), shifts out what left,
appends what arrived and recomputes the median only for devices whose gaps changed: a device that
lost one gap and gained an equal one keeps its median. The result is exactly
``observed_intervals`` over the same rows (tests/test_sliding_cadence.py compares the two).

Late samples: rows inside a window are only ever added (the store keeps the first write of a
sample, the live cache re-reads a late series' window whole — ``late_rows``), so a device with as
many rows in the stretch both windows share as the matrix holds there has the same rows; a device
whose count differs is rebuilt from the frame."""

from __future__ import annotations

import numpy as np
import pandas as pd

from minewatch.analyzer.cadence import by_device, observed_intervals
from minewatch.analyzer.series import device_codes

#: after a device's last timestamp: sorts last, and never falls below a window start
PAD = np.iinfo(np.int64).max


class SlidingCadence:
    """Median gap (s) per device over a window ``[lo, hi)`` that moves forward call by call."""

    def __init__(self) -> None:
        self._devices: list[str] | None = None  # None: nothing kept, the next call rebuilds
        self._lo = self._hi = 0
        self._t = np.empty((0, 0), np.int64)  # (device, sample): timestamps in order, PAD after
        self._n = np.empty(0, np.int64)  # samples per device
        self._med = np.empty(0)

    def observed(self, df: pd.DataFrame, devices: list[str], lo: int, hi: int) -> np.ndarray:
        """``observed_intervals`` of the rows of ``df`` stamped in ``[lo, hi)``."""
        if self._devices is None or not self._lo <= lo < self._hi <= hi or devices != self._devices:
            self._rebuild(df, devices, lo, hi)
        else:
            self._slide(df, lo, hi)
        return self._med.copy()

    def newest(self, devices: list[str], lo: int, hi: int) -> np.ndarray | None:
        """Each device's newest timestamp in ``[lo, hi)`` (float ns, NaN: none) — what
        ``Buckets.last_seen`` gives for one instant at ``hi`` with that look-back — read off the
        matrix when it holds exactly that window for ``devices``; None when it does not. DQ-03
        bucketed its 2.2 M rows every cycle only for this (40-50 ms of CPU at 30,000 rigs)."""
        if self._devices is None or (self._lo, self._hi) != (lo, hi) or devices != self._devices:
            return None
        n = self._n
        last = self._t[np.arange(len(n)), np.maximum(n - 1, 0)].astype(np.float64)
        return np.where(n > 0, last, np.nan)

    def _rebuild(self, df: pd.DataFrame, devices: list[str], lo: int, hi: int) -> None:
        ts = df["ts"].to_numpy(np.int64)
        rows = df[(ts >= lo) & (ts < hi)]
        codes, ts = by_device(rows, devices)
        n = np.bincount(codes, minlength=len(devices))
        if not _compact(n):  # e.g. one device a hundred times faster than the rest
            self._devices = None
            self._med = observed_intervals(rows, devices)
            return
        t = np.full((len(devices), max(1, int(n.max(initial=0)))), PAD)
        t[codes, np.arange(len(codes)) - (np.cumsum(n) - n)[codes]] = ts
        self._devices, self._lo, self._hi, self._t, self._n = devices, lo, hi, t, n
        self._med = _row_medians(t, n)

    def _slide(self, df: pd.DataFrame, lo: int, hi: int) -> None:
        assert self._devices is not None
        devices, t, n = self._devices, self._t, self._n
        s, w = t.shape
        codes = device_codes(df, devices)
        ts = df["ts"].to_numpy(np.int64)
        known = codes >= 0
        shared = known & (ts >= lo) & (ts < self._hi)
        left = (t < lo).sum(axis=1)
        kept = n - left
        dirty = np.bincount(codes[shared], minlength=s) != kept
        take = known & (ts >= self._hi) & (ts < hi)
        if dirty.any():
            take |= shared & np.append(dirty, False)[codes]
        new_codes, new_ts = codes[take], ts[take]
        order = np.lexsort((new_ts, new_codes))
        new_codes, new_ts = new_codes[order], new_ts[order]
        add = np.bincount(new_codes, minlength=s)
        kept[dirty] = 0
        if not _compact(kept + add):
            self._rebuild(df, devices, lo, hi)
            return
        start = np.cumsum(add) - add  # each device's first row among the new ones
        # one gap out, one equal gap in: the same gaps, the same median
        first_new = np.full(s, PAD)
        first_new[add > 0] = new_ts[start[add > 0]]
        last_kept = t[np.arange(s), np.maximum(n - 1, 0)]
        same = (left == 1) & (add == 1) & (kept >= 1) & ~dirty
        same &= (t[:, 1] - t[:, 0] if w > 1 else 0) == first_new - last_kept
        cols = np.arange(w)[None, :]
        t = np.take_along_axis(t, np.minimum(cols + left[:, None], w - 1), axis=1)
        t[cols >= kept[:, None]] = PAD
        width = int((kept + add).max(initial=1))
        if width > w:
            t = np.hstack([t, np.full((s, width - w), PAD)])
        elif w > 2 * width + 8:  # a burst has passed: give the memory back
            t = t[:, : max(1, width)].copy()
        t[new_codes, kept[new_codes] + np.arange(len(new_codes)) - start[new_codes]] = new_ts
        n = kept + add
        changed = ((left > 0) | (add > 0) | dirty) & ~same
        self._med[changed] = _row_medians(t[changed], n[changed])
        self._lo, self._hi, self._t, self._n = lo, hi, t, n


def _compact(n: np.ndarray) -> bool:
    """Whether a matrix as wide as the busiest device stays within a few times the rows."""
    return int(n.max(initial=0)) * len(n) <= 4 * int(n.sum()) + 16 * len(n)


def _row_medians(t: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Median positive gap (s) per row of a timestamp matrix (NaN: none), computed as
    ``observed_intervals`` does: the gaps in seconds, the mean of the two middle ones."""
    out = np.full(len(n), np.nan)
    if not len(n) or t.shape[1] < 2:
        return out
    diff = np.diff(t, axis=1)
    valid = (np.arange(t.shape[1] - 1)[None, :] < (n - 1)[:, None]) & (diff > 0)
    gaps = np.where(valid, diff / 1e9, np.inf)
    gaps.sort(axis=1)
    count = valid.sum(axis=1)
    rows = np.flatnonzero(count)
    count = count[rows]
    out[rows] = (gaps[rows, (count - 1) // 2] + gaps[rows, count // 2]) / 2
    return out
