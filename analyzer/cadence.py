"""Each device's expected reporting interval, so that no rule hard-codes one rate for every device.

Sources, first that knows: the polling configuration (a Modbus device's or miner's ``interval_s``),
the MQTT device group the device belongs to (``expected_interval_s``; a group matches a device by
its ``profile`` = the device's model, else by its ``role``), and the cadence observed in the
telemetry (the median gap between a device's consecutive samples of the metric). A device with none
of these gets the rule's fallback."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from minewatch.analyzer.series import device_codes
from minewatch.config.facility import FacilityConfig


def configured_intervals(cfg: FacilityConfig, devices: pd.DataFrame) -> dict[str, float]:
    """Intervals (s) the configuration states per device id."""
    out: dict[str, float] = {}
    groups = [g for g in cfg.device_groups if g.expected_interval_s is not None]
    if groups and len(devices):
        for dev, model, role in zip(
            devices["device"], devices["model"], devices["role"], strict=True
        ):
            for g in groups:
                if (g.profile is not None and g.profile == model) or (
                    g.profile is None and g.role is not None and g.role == role
                ):
                    out[str(dev)] = float(g.expected_interval_s or 0.0)
                    break
    for m in cfg.polling.miners:
        if m.serial:
            out[m.serial] = m.interval_s
    for t in cfg.polling.modbus:
        out[t.name] = t.interval_s
    return out


def observed_intervals(df: pd.DataFrame, devices: list[str]) -> np.ndarray:
    """Median gap (s) between consecutive samples per device (NaN: fewer than two samples)."""
    out = np.full(len(devices), np.nan)
    if not len(df):
        return out
    codes, ts = by_device(df, devices)
    same = codes[1:] == codes[:-1]
    gaps = pd.Series(np.diff(ts)[same] / 1e9)
    gaps = gaps[gaps > 0]
    med = gaps.groupby(codes[1:][same][gaps.index.to_numpy()]).median()
    out[med.index.to_numpy(np.int64)] = med.to_numpy(np.float64)
    return out


def by_device(df: pd.DataFrame, devices: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(position in ``devices``, ts) of the rows of ``devices``, in (device, ts) order."""
    codes = device_codes(df, devices)
    ts = df["ts"].to_numpy(np.int64)
    keep = codes >= 0
    codes, ts = codes[keep], ts[keep]
    # Raw frames hold each device's rows in time order (a store read is sorted by device and ts,
    # the live cache appends later reads), so a stable sort by device alone — a merge of a few
    # sorted runs — yields (device, ts) order; the full lexsort is the fallback.
    order = np.argsort(codes, kind="stable")
    codes, ts = codes[order], ts[order]
    if (np.diff(ts)[codes[1:] == codes[:-1]] < 0).any():
        order = np.lexsort((ts, codes))
        codes, ts = codes[order], ts[order]
    return codes, ts


def observed_from_counts(counts: np.ndarray, bucket_s: float) -> np.ndarray:
    """Interval (s) per column of a (bucket, device) count matrix (NaN: no sample) — what a
    store-side count gives without reading raw samples. A device with several samples a bucket: the
    bucket over the median count of its non-empty buckets (the median ignores buckets an outage cut
    short). One a bucket or fewer: the span from its first to its last non-empty bucket over its
    samples (a rate slower than the bucket shows as empty buckets between full ones)."""
    n, s = counts.shape
    out = np.full(s, np.nan)
    has = counts > 0
    seen = has.any(axis=0)
    if not n or not seen.any():
        return out
    med = np.nanmedian(np.where(has[:, seen], counts[:, seen], np.nan), axis=0)
    first = has[:, seen].argmax(axis=0)
    last = n - 1 - has[::-1, seen].argmax(axis=0)
    span = (last - first + 1) * bucket_s / counts[:, seen].sum(axis=0)
    out[seen] = np.where(med >= 2, bucket_s / med, np.maximum(bucket_s, span))
    return out


def _configured(cfg: FacilityConfig, devices_table: pd.DataFrame, devices: list[str]) -> np.ndarray:
    """The configured interval (s) per device in ``devices`` (NaN: none configured)."""
    conf = configured_intervals(cfg, devices_table)
    if not conf:  # the common MQTT site: no per-device lookup at all
        return np.full(len(devices), np.nan)
    return pd.Series(conf, dtype=np.float64).reindex(devices).to_numpy(np.float64)


def _first_known(given: np.ndarray, seen: np.ndarray, fallback_s: float) -> np.ndarray:
    return np.where(np.isnan(given), np.where(np.isnan(seen), fallback_s, seen), given)


def expected_intervals(
    cfg: FacilityConfig,
    devices_table: pd.DataFrame,
    devices: list[str],
    observe: Callable[[list[str]], np.ndarray],
    fallback_s: float,
) -> np.ndarray:
    """Per device in ``devices``: configured, else observed (``observe``: the cadence of the
    devices it is given, e.g. ``observed_intervals`` over a frame), else ``fallback_s``. Only
    devices without a configured rate are observed: a polled site skips it."""
    given = _configured(cfg, devices_table, devices)
    unknown = np.isnan(given)
    seen = np.full(len(devices), np.nan)
    if unknown.all():
        seen = observe(devices)
    elif unknown.any():
        seen[unknown] = observe([d for d, u in zip(devices, unknown, strict=True) if u])
    return _first_known(given, seen, fallback_s)


def expected_intervals_from_counts(
    cfg: FacilityConfig,
    devices_table: pd.DataFrame,
    devices: list[str],
    counts: np.ndarray,
    bucket_s: float,
    fallback_s: float,
) -> np.ndarray:
    """Per device (column of ``counts``): configured, else observed from the counts per bucket, else
    ``fallback_s``."""
    seen = observed_from_counts(counts, bucket_s)
    return _first_known(_configured(cfg, devices_table, devices), seen, fallback_s)


def required_samples(
    intervals_s: np.ndarray, window_s: float, completeness_pct: float, at_least: int = 1
) -> np.ndarray:
    """Samples a window must hold per device to count as covered: ``completeness_pct`` of those the
    device's rate gives in it, never fewer than ``at_least``. A share rather than a fixed count, so
    the verdict does not depend on how fast a device reports."""
    expected = window_s / np.asarray(intervals_s, dtype=np.float64)
    return np.maximum(at_least, np.floor(completeness_pct / 100 * expected + 1e-9))
