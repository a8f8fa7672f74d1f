"""Hourly compliance records, CEMS-style (40 CFR Part 75, §75.10(g): hourly values recorded by an
automated data acquisition and handling system; https://www.ecfr.gov/current/title-40/part-75).

For each hour: facility energy, peak 15-minute demand, capacity utilisation and metering
availability, with the number of valid samples, validity (every quarter hour covered by every
meter), a quality code, and — for an invalid hour — a conservative substitute that never reports
less than was measured. The substitution method gets stricter as the percent monitor availability
(PMA) of the look-back falls:

| PMA        | gap ≤ limit                         | longer gap                                 |
|------------|-------------------------------------|--------------------------------------------|
| ≥ 95 %     | mean of the valid hours either side | max(90th percentile of look-back, mean)   |
| 90-95 %    | same, gap ≤ 8 h                     | max(95th percentile, mean)                 |
| 80-90 %    | maximum hourly value in look-back                                                |
| < 80 %     | maximum potential: licensed capacity x 1 h                                       |

(gap limit 24 h in the first tier, 8 h in the second.) The original measured value and the method
are kept beside the substitute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from minewatch.analyzer.cadence import expected_intervals_from_counts, required_samples
from minewatch.analyzer.operation import operation_start_ns
from minewatch.analyzer.profile import ComplianceProfile
from minewatch.config.facility import FacilityConfig
from minewatch.store.base import Aggregate, TelemetryStore

HOUR = 3600 * 10**9
QUARTER = 900 * 10**9


@dataclass
class HourFrame:
    """Per-hour measured facility values over ``[first, end)``; arrays indexed by hour."""

    starts: np.ndarray
    samples: np.ndarray
    quarters: np.ndarray  # quarters covered by every meter (0..4)
    expected: np.ndarray  # samples the meters' own rates give in an hour
    energy_kwh: np.ndarray  # measured (NaN if no sample at all)
    peak_kw: np.ndarray
    meters: list[str]


def measure(
    cfg: FacilityConfig,
    store: TelemetryStore,
    profile: ComplianceProfile,
    first: int,
    end: int,
    devices: pd.DataFrame | None = None,
    operation_ns: int | None = None,
) -> HourFrame:
    """Quarter-hour means and counts from the store (store-side aggregation), folded into hours.
    Quarters that end by ``operation_ns`` (before the facility operated) count as covered, at zero
    demand: the hour in which operation began is not invalid for the time before it."""
    rec = profile.records
    devs = devices if devices is not None else store.devices()
    meters = rec.meters.pick(devs)
    n_h = max(0, (end - first) // HOUR)
    starts = first + np.arange(n_h, dtype=np.int64) * HOUR
    nq = n_h * 4
    mean = np.full((nq, len(meters)), np.nan)
    count = np.zeros((nq, len(meters)))
    if meters and n_h:
        aggs: tuple[tuple[Aggregate, np.ndarray], ...] = (("mean", mean), ("count", count))
        for agg, out in aggs:
            df = store.query(
                first, end, devices=meters, metrics=[rec.metric], step_ns=QUARTER, agg=agg
            )
            if df.empty:
                continue
            q = (df["ts"].to_numpy(np.int64) - first) // QUARTER
            c = pd.Index(meters).get_indexer(pd.Index(df["device"]))
            keep = (q >= 0) & (q < nq) & (c >= 0)
            out[q[keep], c[keep]] = df["value"].to_numpy()[keep]
    need, per_hour = _quarter_need(cfg, profile, devs, meters, count)
    if operation_ns is not None and nq:
        before = first + (np.arange(nq, dtype=np.int64) + 1) * QUARTER <= operation_ns
        mean[before] = 0.0
        count[before] = need
    enough = count >= need
    all_meters = enough.all(axis=1) if meters else np.zeros(nq, bool)
    quarters = all_meters.reshape(n_h, 4).sum(axis=1) if n_h else np.zeros(0)
    samples = count.sum(axis=1).reshape(n_h, 4).sum(axis=1) if n_h else np.zeros(0)
    facility_q = (
        np.where(np.isnan(mean).all(axis=1), np.nan, np.nansum(mean, axis=1)) * rec.scale_to_kw
    )
    fq = facility_q.reshape(n_h, 4) if n_h else np.zeros((0, 4))
    # energy of an hour = mean of its covered quarter demands x 1 h (a missing quarter is not
    # counted as zero)
    n_q = (~np.isnan(fq)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        energy = np.where(n_q > 0, np.nansum(fq, axis=1) / n_q, np.nan)
    peak = np.fmax.reduce(fq, axis=1) if n_h else np.zeros(0)
    expected = np.full(n_h, per_hour)
    return HourFrame(
        starts, samples.astype(int), quarters.astype(int), expected, energy, peak, meters
    )


def _quarter_need(
    cfg: FacilityConfig,
    profile: ComplianceProfile,
    devices: pd.DataFrame,
    meters: list[str],
    count: np.ndarray,
) -> tuple[np.ndarray, float]:
    """Samples each meter must have in a quarter for the quarter to be covered (its share of what
    the meter's own rate gives, at least ``min_samples_per_quarter``), and the samples all meters
    together give in an hour. A meter's rate is configured, else observed from the quarter counts,
    else one a quarter."""
    rec = profile.records
    quarter_s = QUARTER / 1e9
    every = expected_intervals_from_counts(cfg, devices, meters, count, quarter_s, quarter_s)
    need = required_samples(every, quarter_s, rec.min_completeness_pct, rec.min_samples_per_quarter)
    return need, float(np.sum(HOUR / 1e9 / every))


def _substitute(
    h: int,
    frame: HourFrame,
    valid: np.ndarray,
    values: np.ndarray,
    lookback: int,
    max_potential: float,
    floor: int = 0,
) -> tuple[float, str, float]:
    """(substitute, method, PMA %) for invalid hour ``h`` following the Part 75 tiers. Hours before
    ``floor`` (the facility not yet in operation) are neither look-back nor neighbours."""
    lo = max(floor, h - lookback)
    look_valid = valid[lo:h]
    pma = 100.0 * look_valid.mean() if len(look_valid) else 0.0
    before = floor + np.flatnonzero(valid[floor:h])
    after = np.flatnonzero(valid[h + 1 :])
    b = int(before[-1]) if len(before) else None
    a = h + 1 + int(after[0]) if len(after) else None
    gap = (a if a is not None else len(valid)) - (b + 1 if b is not None else floor)
    pair = [values[i] for i in (b, a) if i is not None]
    avg = float(np.mean(pair)) if pair else np.nan
    hist = values[lo:h][look_valid]
    if not len(hist) or not pair:
        return max_potential, "max_potential (no valid look-back)", pma
    if pma >= 95 and gap <= 24:
        return avg, "avg_before_after (PMA >= 95 %, gap <= 24 h)", pma
    if pma >= 95:
        return (
            max(float(np.percentile(hist, 90)), avg),
            "p90_lookback (PMA >= 95 %, gap > 24 h)",
            pma,
        )
    if pma >= 90 and gap <= 8:
        return avg, "avg_before_after (PMA 90-95 %, gap <= 8 h)", pma
    if pma >= 90:
        return (
            max(float(np.percentile(hist, 95)), avg),
            "p95_lookback (PMA 90-95 %, gap > 8 h)",
            pma,
        )
    if pma >= 80:
        return float(hist.max()), "max_lookback (PMA 80-90 %)", pma
    return max_potential, "max_potential (PMA < 80 %)", pma


def hourly_records(
    cfg: FacilityConfig,
    store: TelemetryStore,
    profile: ComplianceProfile,
    start_ns: int,
    end_ns: int,
    devices: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """One record per whole hour in ``[start_ns, end_ns)`` (hours aligned to UTC). An hour wholly
    before the facility's operation (``analyzer.operation``) is recorded as not in operation
    (quality ``N``, no value): it is not missing data and is never substituted."""
    rec = profile.records
    h0 = -(-start_ns // HOUR) * HOUR
    h_end = end_ns // HOUR * HOUR
    if h_end <= h0:
        return []
    devs = devices if devices is not None else store.devices()
    op = operation_start_ns(cfg, devs)
    first = h0 - rec.lookback_hours * HOUR
    fr = measure(cfg, store, profile, first, h_end, devs, op)
    valid = fr.quarters == 4
    # index of the first hour in operation (no telemetry and no commissioning date: none is)
    floor = len(fr.starts) if op is None else int(np.searchsorted(fr.starts + HOUR, op, "right"))
    cap = cfg.licence.capacity_kw
    out = []
    for h in range(rec.lookback_hours, len(fr.starts)):
        e, p = float(fr.energy_kwh[h]), float(fr.peak_kw[h])
        record: dict[str, Any] = {
            "hour_start_ns": int(fr.starts[h]),
            "hour": pd.Timestamp(int(fr.starts[h]), tz="UTC").isoformat().replace("+00:00", "Z"),
            "samples": int(fr.samples[h]),
            "expected_samples": round(float(fr.expected[h])),
            "quarters_valid": int(fr.quarters[h]),
            "valid": bool(valid[h]),
            "in_operation": h >= floor,
            "metering_availability_pct": round(100.0 * int(fr.quarters[h]) / 4, 2),
        }
        if h < floor:
            record["valid"] = False
            none: dict[str, Any] = {
                "value": None,
                "original": None,
                "quality": "N",
                "method": "not_in_operation",
            }
            energy, peak = none, dict(none)
        elif valid[h]:
            energy = {"value": _r(e), "original": _r(e), "quality": "M", "method": "measured"}
            peak = {"value": _r(p), "original": _r(p), "quality": "M", "method": "measured"}
        else:
            se, method, pma = _substitute(
                h, fr, valid, fr.energy_kwh, rec.lookback_hours, cap, floor
            )
            sp, _, _ = _substitute(h, fr, valid, fr.peak_kw, rec.lookback_hours, cap, floor)
            # never report less than was measured in the hour
            se, sp = np.nanmax([se, e]), np.nanmax([sp, p])
            energy = {"value": _r(se), "original": _r(e), "quality": "S", "method": method}
            peak = {"value": _r(sp), "original": _r(p), "quality": "S", "method": method}
            record["pma_pct"] = round(pma, 2)
        record["energy_kwh"] = energy
        record["peak_demand_kw"] = peak
        peak_kw = peak["value"]
        util = None if not isinstance(peak_kw, float) else round(peak_kw / cap * 100, 3)
        record["capacity_utilisation_pct"] = {"value": util, "quality": peak["quality"]}
        out.append(record)
    return out


def monthly_availability(
    cfg: FacilityConfig,
    store: TelemetryStore,
    profile: ComplianceProfile,
    start_ns: int,
    end_ns: int,
    devices: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """Per calendar month (facility time zone), device and metric: % of hours with every quarter
    covered (holding the device's share of the samples its own rate gives, as for valid hours)."""
    devs = devices if devices is not None else store.devices()
    h0, h_end = -(-start_ns // HOUR) * HOUR, end_ns // HOUR * HOUR
    if h_end <= h0:
        return []
    hours = pd.to_datetime(np.arange(h0, h_end, HOUR), utc=True).tz_convert(cfg.timezone)
    month = np.asarray(hours.strftime("%Y-%m"))
    out = []
    for scope in profile.records.availability:
        meters = scope.selector.pick(devs)
        for metric in scope.metrics:
            df = (
                store.query(
                    h0, h_end, devices=meters, metrics=[metric], step_ns=QUARTER, agg="count"
                )
                if meters
                else None
            )
            count = np.zeros(((h_end - h0) // QUARTER, len(meters)))
            if df is not None and not df.empty:
                q = (df["ts"].to_numpy(np.int64) - h0) // QUARTER
                c = pd.Index(meters).get_indexer(pd.Index(df["device"]))
                count[q, c] = df["value"].to_numpy()
            need, _ = _quarter_need(cfg, profile, devs, meters, count)
            covered = (count >= need).reshape(len(count) // 4, 4, len(meters)).sum(axis=1)
            valid = covered == 4
            for m in sorted(set(month)):
                sel = month == m
                for j, dev in enumerate(meters):
                    out.append(
                        {
                            "month": m,
                            "device": dev,
                            "metric": metric,
                            "hours": int(sel.sum()),
                            "valid_hours": int(valid[sel, j].sum()),
                            "availability_pct": round(100.0 * valid[sel, j].mean(), 2),
                        }
                    )
    return out


def _r(v: float) -> float | None:
    return None if v is None or v != v else round(float(v), 6)
