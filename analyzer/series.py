"""Raw samples → per-device bucket statistics on an evaluation grid, without
``groupby().resample()``.

Every rule evaluates a sequence of instants ``t_j = t_0 + j * step`` (live is the case of one
instant). The data behind instant ``t_j`` are the buckets ``[t - step, t)`` before it, so a
bucket matrix has ``L`` extra rows of look-back in front of the first instant: row ``j + L`` is
the bucket that ends at ``t_j``. Buckets are computed by grouping on a single integer key (device
code x floored timestamp): on 3M rows over 30k devices that measured two orders of magnitude
faster than pandas ``resample`` per device.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd


def device_codes(df: pd.DataFrame, devices: list[str]) -> np.ndarray:
    """Position of each row's device in ``devices`` (-1 if absent). A categorical ``device``
    column (what the evaluation context keeps) maps through its categories once instead of
    hashing every row."""
    if not len(df):
        return np.empty(0, np.int64)
    col = df["device"]
    if isinstance(col.dtype, pd.CategoricalDtype):
        pos = pd.Index(devices).get_indexer(col.cat.categories)
        lut = np.append(pos, -1)  # code -1 (NaN) → -1
        return lut[col.cat.codes.to_numpy()]
    return pd.Index(devices).get_indexer(pd.Index(col))


class Buckets:
    """Statistics of one metric for ``devices`` in buckets of ``step_ns`` ending at each instant."""

    def __init__(
        self,
        df: pd.DataFrame,
        devices: list[str],
        instants: np.ndarray,
        step_ns: int,
        lookback_ns: int,
        codes: np.ndarray | None = None,
    ) -> None:
        """``codes``: each row's position in ``devices`` when the caller has it already."""
        self.devices = devices
        self.instants = instants
        self.step = int(step_ns)
        self.L = max(1, -(-int(lookback_ns) // self.step))  # ceil; at least the bucket before t
        self.J = len(instants)
        self.S = len(devices)
        self.n = self.J + self.L - 1
        self.start = int(instants[0]) - self.L * self.step
        codes = device_codes(df, devices) if codes is None else codes
        ts = df["ts"].to_numpy(np.int64) if len(df) else np.empty(0, np.int64)
        idx = (ts - self.start) // self.step
        keep = (codes >= 0) & (idx >= 0) & (idx < self.n)
        self._flat = idx[keep] * self.S + codes[keep].astype(np.int64)
        self._v = df["value"].to_numpy(np.float64)[keep] if len(df) else np.empty(0)
        self._ts = ts[keep]

    # -- bucket matrices, shape (n, S) -------------------------------------------------------------
    def _scatter(self, keys: np.ndarray, vals: np.ndarray) -> np.ndarray:
        out = np.full(self.n * self.S, np.nan)
        out[keys] = vals
        return out.reshape(self.n, self.S)

    def _grouped(self, values: np.ndarray, how: str) -> np.ndarray:
        """Per bucket max / min / last of ``values``, NaN-skipping like pandas' groupby (a
        scatter with ``ufunc.at`` measured ~7x faster than ``groupby().max()`` on 360k rows)."""
        out = np.full(self.n * self.S, np.nan)
        if how == "last":  # the value of each bucket's last row with one, in row order
            has = ~np.isnan(values)
            pos = np.full(self.n * self.S, -1, dtype=np.int64)
            np.maximum.at(pos, self._flat[has], np.flatnonzero(has))
            out[pos >= 0] = values[pos[pos >= 0]]
        else:
            getattr(np, "fmax" if how == "max" else "fmin").at(out, self._flat, values)
        return out.reshape(self.n, self.S)

    @cached_property
    def sum(self) -> np.ndarray:
        return np.bincount(self._flat, self._v, self.n * self.S).reshape(self.n, self.S)

    @cached_property
    def count(self) -> np.ndarray:
        return (
            np.bincount(self._flat, minlength=self.n * self.S)
            .reshape(self.n, self.S)
            .astype(np.float64)
        )

    @cached_property
    def max(self) -> np.ndarray:
        return self._grouped(self._v, "max")

    @cached_property
    def min(self) -> np.ndarray:
        return self._grouped(self._v, "min")

    @cached_property
    def last(self) -> np.ndarray:
        return self._grouped(self._v, "last")

    @cached_property
    def last_ts(self) -> np.ndarray:
        return self._grouped(self._ts.astype(np.float64), "max")

    @cached_property
    def mean(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.sum / self.count, np.nan)

    # -- per instant, shape (J, S) -----------------------------------------------------------------
    def _none(self) -> np.ndarray:
        return np.full((self.J, self.S), np.nan)

    def window(self, agg: str, window_ns: int) -> np.ndarray:
        """``agg`` over the buckets in ``[t - window, t)`` for each instant (NaN where no
        sample)."""
        k = max(1, -(-int(window_ns) // self.step))
        if k > self.L:
            raise ValueError(f"window {window_ns} ns needs more look-back than {self.L} buckets")
        if not len(self._flat):  # no sample at all (a metric nobody reports): skip the matrices
            return self._none()
        if agg in ("mean", "sum", "count"):
            z = np.zeros((1, self.S))
            cs = np.vstack([z, np.cumsum(self.sum, axis=0)])
            cc = np.vstack([z, np.cumsum(self.count, axis=0)])
            end = np.arange(self.L, self.L + self.J)
            s, c = cs[end] - cs[end - k], cc[end] - cc[end - k]
            with np.errstate(invalid="ignore", divide="ignore"):
                if agg == "mean":
                    return np.where(c > 0, s / c, np.nan)
                return np.where(c > 0, s if agg == "sum" else c, np.nan)
        if agg in ("max", "min"):
            m = pd.DataFrame(getattr(self, agg)).rolling(k, min_periods=1)
            return getattr(m, agg)().to_numpy()[self.L - 1 :]
        if agg == "last":
            return self.latest(window_ns)[0]
        raise ValueError(f"unknown aggregate {agg!r}")

    def latest(self, max_age_ns: int) -> tuple[np.ndarray, np.ndarray]:
        """(value, sample ts) of the newest sample before each instant, NaN when older than
        ``max_age``."""
        if not len(self._flat):
            return self._none(), self._none()
        val = _ffill(self.last)[self.L - 1 :]
        lts = self.last_seen()
        age = self.instants[:, None].astype(np.float64) - lts
        fresh = age <= max_age_ns
        return np.where(fresh, val, np.nan), np.where(fresh, lts, np.nan)

    def last_seen(self) -> np.ndarray:
        """Timestamp of the newest sample before each instant within the look-back (NaN if none)."""
        # buckets are in time order, so carrying the newest timestamp forward is a running max
        return np.fmax.accumulate(self.last_ts, axis=0)[self.L - 1 :]


def _ffill(m: np.ndarray) -> np.ndarray:
    """Each column's last non-NaN value carried down its rows (``DataFrame.ffill`` in numpy)."""
    rows = np.where(np.isnan(m), 0, np.arange(len(m))[:, None])
    np.maximum.accumulate(rows, axis=0, out=rows)
    return m[rows, np.arange(m.shape[1])[None, :]]
