"""Each device's expected reporting interval, so that no rule hard-codes one rate for every device.

Sources, first that knows: the polling configuration (a Modbus device's or miner's
``interval_s``), the MQTT device group the device belongs to (``expected_interval_s``; a group
matches a device by its ``profile`` = the device's model, else by its ``role``), and the cadence
observed in the telemetry (the median gap between a device's consecutive samples of the metric).
A device with none of these gets the rule's fallback."""

from __future__ import annotations

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
    codes = device_codes(df, devices)
    ts = df["ts"].to_numpy(np.int64)
    keep = codes >= 0
    codes, ts = codes[keep], ts[keep]
    # Raw frames hold each device's rows in time order (a store read is sorted by device and ts,
    # the live cache appends later reads), so a stable sort by device alone — a merge of a few
    # sorted runs — yields (device, ts) order; the full lexsort is the fallback.
    order = np.argsort(codes, kind="stable")
    codes, ts = codes[order], ts[order]
    same = codes[1:] == codes[:-1]
    if (np.diff(ts)[same] < 0).any():
        order = np.lexsort((ts, codes))
        codes, ts = codes[order], ts[order]
    gaps = pd.Series(np.diff(ts)[same] / 1e9)
    gaps = gaps[gaps > 0]
    med = gaps.groupby(codes[1:][same][gaps.index.to_numpy()]).median()
    out[med.index.to_numpy(np.int64)] = med.to_numpy(np.float64)
    return out


def expected_intervals(
    cfg: FacilityConfig,
    devices_table: pd.DataFrame,
    devices: list[str],
    df: pd.DataFrame,
    fallback_s: float,
) -> np.ndarray:
    """Per device in ``devices``: configured, else observed in ``df``, else ``fallback_s``."""
    conf = configured_intervals(cfg, devices_table)
    given = np.array([conf.get(d, np.nan) for d in devices], dtype=np.float64)
    seen = observed_intervals(df, devices)
    return np.where(np.isnan(given), np.where(np.isnan(seen), fallback_s, seen), given)
