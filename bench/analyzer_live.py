"""Live cycle of the full tm-2026 profile over a 30,000-rig facility (goal: ≤ 1 s per cycle).

Builds a SqliteStore with 3 minutes of telemetry (rigs every 10 s: chip_temp_c, fan_rpm_1,
fan_rpm_2;
a revenue meter, 300 rack PDUs and hall sensors every 10 s), then times ``Analyzer.evaluate_once``
for
consecutive cycles, once with the cache reading only samples newer than its last read point
(``late_window_s`` 0, the baseline) and once re-reading the late window (default 60 s) so
late-written
samples are still evaluated. Second baseline in the same run: the bucketing step done the naive way,
``set_index(ts).groupby(device).resample(step).last()``, against
``minewatch.analyzer.series.Buckets``.

    /work/venv/bin/python bench/analyzer_live.py [--rigs 30000] [--db /tmp/mw-bench-live]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minewatch.analyzer.engine import Analyzer
from minewatch.analyzer.profile import load_compliance_profile
from minewatch.analyzer.series import Buckets
from minewatch.analyzer.state import AlertStore
from minewatch.config.facility import FacilityConfig
from minewatch.profiles import DeviceProfile
from minewatch.sample import DeviceMeta, Sample
from minewatch.store import SqliteStore

S = 10**9
T0 = 1_767_225_600 * S
STEP = 10


def build(db: Path, rigs: int, seconds: int) -> tuple[FacilityConfig, SqliteStore]:
    cfg = FacilityConfig.model_validate(
        {
            "facility": {"id": "bench", "name": "Bench 100 MW"},
            "licence": {"number": "B-1", "capacity_kw": 100_000},
            "storage": {"data_dir": str(db)},
            "analysis": {"interval_s": STEP},
            "registry": str(db / "registry.csv"),
        }
    )
    store = SqliteStore(db / "telemetry.db")
    if (db / "ready").exists():
        return cfg, store
    rng = np.random.default_rng(1)
    serials = [f"rig-{i:05d}" for i in range(rigs)]
    (db / "registry.csv").write_text(
        "serial,model,zone,rack\n"
        + "".join(f"{s},s21,hall{i % 10},r{i // 100}\n" for i, s in enumerate(serials[:-50]))
    )  # 50 unregistered
    metas = [
        DeviceMeta(s, "asic_miner", "s21", f"hall{i % 10}", f"r{i // 100}", "rig")
        for i, s in enumerate(serials)
    ]
    metas += [DeviceMeta("meter-1", "power_meter", "meter", role="revenue_meter")]
    metas += [DeviceMeta(f"pdu-{i:03d}", "pdu", "pdu", role="rack_pdu") for i in range(300)]
    metas += [DeviceMeta(f"hall-{i}", "env_sensor", "env", role="hall_sensor") for i in range(10)]
    metas += [DeviceMeta("panel-1", "fire_panel", "panel", role="fire_panel")]
    store.upsert_devices(metas)
    t_start = time.perf_counter()
    n = 0
    for t in range(0, seconds, STEP):
        ts = T0 + t * S
        temps = rng.normal(75, 4, rigs)
        temps[:20] = 99  # a few hot rigs
        batch = [
            Sample(ts, s, "chip_temp_c", float(v)) for s, v in zip(serials, temps, strict=True)
        ]
        batch += [Sample(ts, s, m, 5400.0) for s in serials for m in ("fan_rpm_1", "fan_rpm_2")]
        batch += [
            Sample(ts, "meter-1", "power_w", 98e6),
            Sample(ts, "meter-1", "frequency_hz", 50.0),
            Sample(ts, "meter-1", "power_factor", 0.95),
        ]
        batch += [
            Sample(ts, "meter-1", f"{m}_{p}", v)
            for m, v in (("voltage_v", 229.0), ("current_a", 150.0))
            for p in ("l1", "l2", "l3")
        ]
        batch += [
            Sample(ts, f"pdu-{i:03d}", m, v)
            for i in range(300)
            for m, v in (("power_w", 326e3), ("current_a", 40.0))
        ]
        batch += [
            Sample(ts, f"hall-{i}", m, v)
            for i in range(10)
            for m, v in (("ambient_temp_c", 24.0), ("humidity_pct", 40.0))
        ]
        batch += [
            Sample(ts, "panel-1", m, 0.0)
            for m in (
                "fire_alarm_bool",
                "smoke_bool",
                "fire_fault_bool",
                "suppression_disabled_bool",
                "epo_bool",
            )
        ]
        store.write(batch)
        n += len(batch)
    print(f"built store: {n:,} samples in {time.perf_counter() - t_start:.1f} s")
    (db / "ready").write_text("ok")
    return cfg, store


def profiles() -> dict[str, DeviceProfile]:
    base = {"vendor": "b", "mqtt": {"fields": {"power_w": {"path": "p"}}}}
    return {
        "s21": DeviceProfile.model_validate(
            {
                **base,
                "id": "s21",
                "kind": "asic_miner",
                "model": "S21",
                "limits": {"chip_temp_c": {"max_above": 95, "warn_above": 85, "source": "bench"}},
            }
        ),
        "pdu": DeviceProfile.model_validate(
            {
                **base,
                "id": "pdu",
                "kind": "pdu",
                "model": "PDU",
                "rated": {"current_a": {"value": 63, "source": "bench"}},
            }
        ),
    }


def baseline(store: SqliteStore, rigs: int, now: int) -> tuple[float, float]:
    """(Buckets s, groupby().resample() s) for the chip temperature of every rig over the last 60
    s."""
    df = store.query(now - 70 * S, now, metrics=["chip_temp_c"])
    devices = sorted(df["device"].unique())
    t = time.perf_counter()
    b = Buckets(df, devices, np.array([now], dtype=np.int64), STEP * S, 60 * S)
    b.latest(60 * S)
    fast = time.perf_counter() - t
    t = time.perf_counter()
    x = df.assign(ts=pd.to_datetime(df["ts"], utc=True)).set_index("ts")
    x.groupby("device")["value"].resample(f"{STEP}s").last()
    slow = time.perf_counter() - t
    return fast, slow


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rigs", type=int, default=30_000)
    ap.add_argument("--db", type=Path, default=None)
    ap.add_argument("--cycles", type=int, default=6)
    ap.add_argument(
        "--late-window-s", type=float, default=60.0, help="analysis.late_window_s to measure"
    )
    ap.add_argument(
        "--skip-resample", action="store_true", help="skip the (minute-long) resample baseline"
    )
    a = ap.parse_args()
    db = a.db or Path(tempfile.mkdtemp(prefix="mw-bench-live-"))
    db.mkdir(parents=True, exist_ok=True)
    seconds = 180 + a.cycles * STEP
    cfg, store = build(db, a.rigs, seconds)
    results = {}
    for late_s in sorted({0.0, a.late_window_s}):
        # baseline in the same run: the cache reading only what is newer than its last read point (0
        # s)
        run_cfg = cfg.model_copy(
            update={"analysis": cfg.analysis.model_copy(update={"late_window_s": late_s})}
        )
        (db / "state.db").unlink(missing_ok=True)
        alerts = AlertStore(db / "state.db")
        an = Analyzer(
            run_cfg, store, alerts, None, profiles(), compliance=load_compliance_profile("tm-2026")
        )
        times, cpu = [], []
        print(f"late_window_s = {late_s:g}")
        for c in range(a.cycles):
            now = T0 + (180 + c * STEP) * S
            t, p = time.perf_counter(), time.process_time()
            tr = an.evaluate_once(now)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - p)
            print(
                f"cycle {c}: {times[-1] * 1000:7.0f} ms wall, {cpu[-1] * 1000:7.0f} ms CPU, "
                f"{len(tr)} transitions"
            )
        alerts.close()
        results[late_s] = (times[0], statistics.median(times[1:]), statistics.median(cpu[1:]))
    print(
        f"\n{a.rigs:,} rigs + 312 other devices, {len(an.evaluator.rules)} rules; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    for late_s, (first, steady, steady_cpu) in results.items():
        print(
            f"late window {late_s:>4g} s: live cycle first {first:.2f} s, steady median "
            f"{steady:.2f} s wall, "
            f"{steady_cpu:.2f} s CPU (goal <= 1 s)"
        )
    if len(results) == 2:
        (_, b, bc), (_, w, wc) = results.values()
        print(
            f"late window costs {w / b:.2f}x wall, {wc / bc:.2f}x CPU of reading only newer samples"
        )
    if not a.skip_resample:
        fast, slow = baseline(store, a.rigs, T0 + 180 * S)
        print(
            f"bucketing chip_temp_c, 60 s look-back: Buckets {fast * 1000:.0f} ms vs "
            f"groupby().resample() {slow * 1000:.0f} ms -> {slow / fast:.0f}x"
        )
    if a.db is None:
        shutil.rmtree(db)


if __name__ == "__main__":
    main()
