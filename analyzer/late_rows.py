"""Which series of the live cache gained late samples: those the store's write log lists as written
since the cache read them (``TelemetryStore.written_since``), or — for a store without a log —
those whose count in the late window differs between the store and the cache.

The late window (``analysis.late_window_s``) used to be re-read in full every cycle, so a 60 s
window at a 10 s cycle read seven times the rows that were actually new. Samples in the window are
only ever added (the store keeps the first write of a (device, metric, ts) and prunes only old
data), so a series whose stored count equals the cached count holds exactly the cached rows: one
count per series (``TelemetryStore.counts_by_device``, one row per series) finds the few series
worth re-reading. That count still cost a ``GROUP BY`` over every series each cycle (0.27 s at
30,000 rigs); the SQLite store's write log answers with the series written since, at the cost of
what was written."""

from __future__ import annotations

import numpy as np
import pandas as pd


def cached_counts(df: pd.DataFrame, lo: int, hi: int) -> pd.Series:
    """Samples per device stamped in ``[lo, hi)`` in a cache frame (categorical ``device``)."""
    ts = df["ts"].to_numpy()
    dev = df["device"].array
    codes = dev.codes[(ts >= lo) & (ts < hi)]
    codes = codes[codes >= 0]
    cats = dev.categories
    return pd.Series(np.bincount(codes, minlength=len(cats)).astype(np.float64), index=cats)


def changed_devices(stored: pd.Series | None, cached: pd.Series) -> list[str]:
    """Devices whose stored count differs from the cached one (either side may lack a device).
    Aligned through the cache's category index (hashed once), not a sorted union of both."""
    counts = cached.to_numpy()
    if stored is None:
        return [str(d) for d in cached.index[counts > 0]]
    pos = cached.index.get_indexer(stored.index)
    differs = stored.to_numpy(np.float64) != np.append(counts, np.nan)[pos]  # -1: not cached
    matched = np.zeros(len(counts), bool)
    matched[pos[pos >= 0]] = True
    return [str(d) for d in stored.index[differs]] + [
        str(d) for d in cached.index[~matched & (counts > 0)]
    ]


def written_devices(written: pd.DataFrame, metrics: list[str]) -> list[str]:
    """Devices that ``written`` (``TelemetryStore.written_since``: series with late samples)
    lists for any of ``metrics``, sorted."""
    return sorted(set(written.loc[written["metric"].isin(metrics), "device"].tolist()))
