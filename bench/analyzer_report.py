"""30-day compliance report for a 1,000-rig facility with the full tm-2026 profile (goal: ≤ 60 s).

Data (built once into --db): 1,000 rigs reporting chip temperature every 10 min, a revenue meter
with power, voltages, currents, frequency and power factor every minute, 10 PDUs and 2 hall sensors
every 5 min; faults injected: hot rigs, a capacity excursion, a metering gap, a curtailment order.
Rig timing parameters of tm-2026 are scaled to the 10-minute data rate (a 10 s rate for 30 days
would be 2.6 G rows). Baseline in the same run: the bucketing of one day of rig temperatures via
groupby().resample().

``--read both`` (the default) builds the report twice on the same store, each in a fresh process (so
each max RSS, from ``resource.getrusage``, is its own): on every raw sample (the baseline) and on
store-side roll-ups (what ``build_report`` does for periods over a week), and checks that both give
the same breaches and verdicts.

    /work/venv/bin/python bench/analyzer_report.py [--rigs 1000] [--days 30] [--db
    /tmp/mw-bench-report] [--rig-every-s 60] [--read both|raw|rollup]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from analyzer_live import profiles

from minewatch.analyzer.curtailment import add_order
from minewatch.analyzer.profile_loader import load_compliance_profile
from minewatch.analyzer.report import build_report, to_json
from minewatch.analyzer.series import Buckets
from minewatch.analyzer.state import AlertStore
from minewatch.config.facility import FacilityConfig
from minewatch.sample import DeviceMeta, Sample
from minewatch.store import SqliteStore

S = 10**9
T0 = 1_767_225_600 * S
DAY = 86400


def build(
    db: Path, rigs: int, days: int, rig_every_s: int = 600
) -> tuple[FacilityConfig, SqliteStore]:
    cfg = FacilityConfig.model_validate(
        {
            "facility": {"id": "bench", "name": "Bench 3.5 MW"},
            "licence": {"number": "B-2", "capacity_kw": 4000},
            "storage": {"data_dir": str(db)},
            "analysis": {"interval_s": 10},
            "registry": str(db / "registry.csv"),
        }
    )
    store = SqliteStore(db / "telemetry.db")
    if (db / "ready").exists():
        return cfg, store
    rng = np.random.default_rng(7)
    serials = [f"rig-{i:04d}" for i in range(rigs)]
    (db / "registry.csv").write_text(
        "serial,model,zone,rack\n"
        + "".join(f"{s},s21,h1,r{i // 50}\n" for i, s in enumerate(serials[:-3]))
    )
    store.upsert_devices(
        [
            DeviceMeta(s, "asic_miner", "s21", "h1", f"r{i // 50}", "rig")
            for i, s in enumerate(serials)
        ]
        + [DeviceMeta("meter-1", "power_meter", "meter", role="revenue_meter")]
        + [DeviceMeta(f"pdu-{i}", "pdu", "pdu", role="rack_pdu") for i in range(10)]
        + [DeviceMeta(f"hall-{i}", "env_sensor", "env", role="hall_sensor") for i in range(2)]
    )
    t = time.perf_counter()
    n = 0
    for day in range(days):
        batch: list[Sample] = []
        for sec in range(0, DAY, rig_every_s):
            ts = T0 + (day * DAY + sec) * S
            temps = rng.normal(75, 3, rigs)
            if day % 7 == 3 and 36000 <= sec < 37800:
                temps[:5] = 99  # weekly hot spell on five rigs
            batch += [
                Sample(ts, s, "chip_temp_c", float(v)) for s, v in zip(serials, temps, strict=True)
            ]
        for sec in range(0, DAY, 60):
            ts = T0 + (day * DAY + sec) * S
            if day == 12 and 3600 <= sec < 7200:
                continue  # one hour metering gap
            kw = 4300 if day == 5 and 50000 <= sec < 53000 else 3500
            batch += [
                Sample(ts, "meter-1", "power_w", kw * 1000.0),
                Sample(ts, "meter-1", "frequency_hz", 50.0),
                Sample(ts, "meter-1", "power_factor", 0.96),
            ]
            batch += [Sample(ts, "meter-1", f"voltage_v_{p}", 228.0) for p in ("l1", "l2", "l3")]
            batch += [Sample(ts, "meter-1", f"current_a_{p}", 5300.0) for p in ("l1", "l2", "l3")]
            if sec % 300 == 0:
                batch += [
                    Sample(ts, f"pdu-{i}", m, v)
                    for i in range(10)
                    for m, v in (("power_w", 345e3), ("current_a", 45.0))
                ]
                batch += [
                    Sample(ts, f"hall-{i}", m, v)
                    for i in range(2)
                    for m, v in (("ambient_temp_c", 25.0), ("humidity_pct", 45.0))
                ]
        store.write(batch)
        n += len(batch)
    print(f"built store: {n:,} samples in {time.perf_counter() - t:.0f} s")
    (db / "ready").write_text("ok")
    return cfg, store


def bench_profile(rig_every_s: int):
    """tm-2026 with rig timing scaled to the rig rate of this bench (DQ-03 needs no scaling: it
    judges each rig at its observed rate; only the longest rate it assumes is raised)."""
    prof = load_compliance_profile("tm-2026")
    r = float(rig_every_s)
    scaled = {
        "DQ-03": {"max_interval": max(120.0, 1.5 * r)},
        "TH-05": {"max_age": max(60.0, 1.5 * r)},
        "TH-06": {"max_age": max(60.0, 1.5 * r)},
        "RG-01": {"seen_within": max(120.0, 2 * r)},
        "RG-02": {"seen_within": max(120.0, 2 * r)},
        "RG-03": {"seen_within": max(120.0, 2 * r)},
    }
    for rule in prof.rules:
        for k, v in scaled.get(rule.id, {}).items():
            setattr(rule._params, k, v)
    return prof


def run_report(db: str, days: int, rig_every_s: int, step_s: float, read: str) -> dict:
    """One report in this (fresh) process: wall, CPU, max RSS and what it found."""
    db_path = Path(db)
    cfg, store = build(db_path, 0, 0, rig_every_s)  # the store is ready: opens it
    (db_path / "state.db").unlink(missing_ok=True)
    alerts = AlertStore(db_path / "state.db")
    alerts.clock = lambda: T0
    add_order(
        alerts,
        target_kw=1000,
        starts_at_ns=T0 + (20 * DAY + 64800) * S,
        ends_at_ns=T0 + (20 * DAY + 79200) * S,
        response_s=1800,
        issued_by="dispatcher",
    )
    prof = bench_profile(rig_every_s)
    end = T0 + days * DAY * S
    t, p = time.perf_counter(), time.process_time()
    rep = build_report(
        cfg,
        store,
        alerts,
        prof,
        T0,
        end,
        device_profiles=profiles(),
        report_step_s=step_s,
        read=read,
    )
    return {
        "wall": time.perf_counter() - t,
        "cpu": time.process_time() - p,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "json_mb": len(to_json(rep)) / 1e6,
        "rules": len(prof.rules),
        "hourly": len(rep["hourly"]),
        "evaluation": rep["evaluation"],
        "breaches": [
            (b["rule_id"], b["subject"], b["start_ns"], b["end_ns"]) for b in rep["breaches"]
        ],
        "verdicts": [
            (r["rule_id"], r["verdict"], r["coverage_in_operation_pct"]) for r in rep["rules"]
        ],
    }


def bucketing_baseline(store: SqliteStore) -> tuple[float, float]:
    """Seconds to bucket one day of rig temperatures: ``Buckets`` vs ``groupby().resample()``."""
    day = store.query(T0, T0 + DAY * S, metrics=["chip_temp_c"])
    devices = sorted(day["device"].unique())
    grid = np.arange(T0 + 600 * S, T0 + DAY * S + 1, 600 * S, dtype=np.int64)
    t1 = time.perf_counter()
    Buckets(day, devices, grid, 600 * S, 600 * S).latest(900 * S)
    fast = time.perf_counter() - t1
    t1 = time.perf_counter()
    day.assign(ts=pd.to_datetime(day["ts"], utc=True)).set_index("ts").groupby("device")[
        "value"
    ].resample("600s").last()
    return fast, time.perf_counter() - t1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rigs", type=int, default=1000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument(
        "--step-s", type=float, default=300.0, help="report evaluation step for frequent rules"
    )
    ap.add_argument("--db", type=Path, default=None)
    ap.add_argument("--rig-every-s", type=int, default=600, help="rig reporting interval")
    ap.add_argument("--read", choices=("both", "raw", "rollup"), default="both")
    a = ap.parse_args()
    db = a.db or Path(tempfile.mkdtemp(prefix="mw-bench-report-"))
    db.mkdir(parents=True, exist_ok=True)
    _, store = build(db, a.rigs, a.days, a.rig_every_s)
    reads = ["raw", "rollup"] if a.read == "both" else [a.read]
    runs = {}
    with mp.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        for read in reads:
            runs[read] = pool.apply(run_report, (str(db), a.days, a.rig_every_s, a.step_s, read))
    fast, slow = bucketing_baseline(store)
    first = runs[reads[0]]
    print(
        f"\n{a.days}-day report, {a.rigs:,} rigs + 13 devices, {first['rules']} rules, step "
        f"{a.step_s:g} s, rigs every {a.rig_every_s} s; load average {os.getloadavg()[0]:.1f}"
    )
    for read, r in runs.items():
        print(
            f"report ({read}): {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU (goal <= 60 s), "
            f"max RSS "
            f"{r['rss_mb']:.0f} MB; {len(r['breaches'])} breaches, {r['hourly']} hourly records, "
            f"{r['json_mb']:.1f} MB JSON; resolution {r['evaluation']['resolution_s']:g} s"
        )
    if len(runs) == 2:
        same = (runs["raw"]["breaches"], runs["raw"]["verdicts"]) == (
            runs["rollup"]["breaches"],
            runs["rollup"]["verdicts"],
        )
        print(
            f"roll-up vs raw: {runs['raw']['wall'] / runs['rollup']['wall']:.1f}x faster (wall), "
            f"{runs['raw']['cpu'] / runs['rollup']['cpu']:.1f}x (CPU); same breaches and verdicts: "
            f"{same}"
        )
    print(
        f"bucketing one day of rig temperatures: Buckets {fast * 1000:.0f} ms vs "
        f"groupby().resample() {slow * 1000:.0f} ms -> {slow / fast:.0f}x"
    )


if __name__ == "__main__":
    main()
