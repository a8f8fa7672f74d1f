"""The cadence kept between live cycles equals the cadence computed afresh from the same rows, over
windows that slide, samples that arrive late, jitter, bursts and devices that come and go."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from minewatch.analyzer import sliding_cadence
from minewatch.analyzer.cadence import observed_intervals
from minewatch.analyzer.series import Buckets
from minewatch.analyzer.sliding_cadence import SlidingCadence

S = 10**9


def _frame(rows: list[tuple[int, str]]) -> pd.DataFrame:
    """A raw frame as the live cache holds it: devices categorical, each device's rows in time
    order but the devices interleaved (reads appended one after another)."""
    df = pd.DataFrame(rows, columns=["ts", "device"]).drop_duplicates()
    df = df.sort_values("ts", kind="stable")
    return df.assign(device=df["device"].astype("category"), value=1.0)[["ts", "device", "value"]]


@pytest.mark.parametrize("seed", range(40))
def test_sliding_equals_a_fresh_computation_every_cycle(seed):
    rng = np.random.default_rng(seed)
    names = [f"rig-{i}" for i in range(12)]
    period = {d: int(rng.choice([5, 10, 10, 10, 30, 60])) * S for d in names}
    jitter = int(rng.choice([0, 0, 3 * 10**6]))
    rows: list[tuple[int, str]] = []
    held: list[tuple[int, str]] = []  # written late: they show up a cycle or two later
    sliding = SlidingCadence()
    window, step = 120 * S, 10 * S
    devices = names[:10]
    kept = 0
    for cycle in range(40):
        hi = (200 + 10 * cycle) * S
        for d in names:
            t = hi - step
            while t < hi:
                if t % period[d] < step and rng.random() > 0.05:  # gaps: samples lost for good
                    stamp = t - t % period[d] + int(rng.integers(0, jitter + 1))
                    (held if rng.random() < 0.1 else rows).append((stamp, d))
                t += step
        if cycle % 2:
            rows += held
            held = []
        if rng.random() < 0.1:  # a burst: one device many times a step
            rows += [(hi - step + k * S // 10, names[0]) for k in range(int(rng.integers(1, 80)))]
        if cycle == 25:  # the selection changes (a device added to the table)
            devices = names[:11]
        df = _frame(rows)
        lo = hi - window
        got = sliding.observed(df, devices, lo, hi)
        want = observed_intervals(df[(df["ts"] >= lo) & (df["ts"] < hi)], devices)
        np.testing.assert_array_equal(got, want, err_msg=f"cycle {cycle}")
        newest = sliding.newest(devices, lo, hi)  # DQ-03's newest sample per device
        if newest is not None:
            kept += 1
            seen = Buckets(df, devices, np.array([hi]), step, window).last_seen()[0]
            np.testing.assert_array_equal(newest, seen, err_msg=f"cycle {cycle}")
        assert sliding.newest(devices, lo - step, hi) is None  # not the window it holds
    assert kept > 0


def test_a_steady_fleet_recomputes_only_the_device_with_a_late_sample(monkeypatch):
    """Every rig loses one 10 s gap and gains an equal one, so its median is kept without sorting
    anything; rig-3, whose late sample landed inside the window, is the one recomputed."""
    names = [f"rig-{i}" for i in range(50)]
    sliding = SlidingCadence()
    rows = [(t * S, d) for t in range(0, 200, 10) for d in names]
    sliding.observed(_frame(rows), names, 80 * S, 200 * S)
    sorted_rows: list[int] = []
    real = sliding_cadence._row_medians

    def counting(t: np.ndarray, n: np.ndarray) -> np.ndarray:
        sorted_rows.append(len(n))
        return real(t, n)

    monkeypatch.setattr(sliding_cadence, "_row_medians", counting)
    rows += [(200 * S, d) for d in names] + [(t * S, "rig-3") for t in range(151, 160)]
    got = sliding.observed(_frame(rows), names, 90 * S, 210 * S)
    assert sorted_rows == [1]
    assert got[0] == 10.0 and got[3] == 5.5  # rig-3: ten 1 s gaps and ten of 10 s
