"""Long compliance reports for a 1,000-rig facility with the full tm-2026 profile (issue #11 goal: a
year at one-minute rig cadence within 60 s and 2 GB RSS).

Data (built once into --db): 1,000 rigs reporting chip temperature every 10 min, a revenue meter
with power, voltages, currents, frequency and power factor every minute, 10 PDUs and 2 hall sensors
every 5 min; faults injected: hot rigs, a capacity excursion, a metering gap, a curtailment order.
Rig timing parameters of tm-2026 are scaled to the 10-minute data rate (a 10 s rate for 30 days
would be 2.6 G rows). Baseline in the same run: the bucketing of one day of rig temperatures via
groupby().resample().

``--read raw,screened`` (the default) builds the report once per way of reading, on the same store,
each in a fresh process (so each max RSS, from ``resource.getrusage``, is its own): the first is the
baseline (``raw``: every sample; ``rollup``: roll-ups at each rule's step, main's long-report path)
and every other (``screened``: hourly roll-ups screened per rule kind, what ``build_report`` does
for periods over a week) is checked to give the same breaches and verdicts.

The store is built with bulk SQL for the rigs (the bulk of the rows; the other devices through
``SqliteStore.write``), marking the hours dirty as ``write`` does, then each day's hourly roll-ups
are materialised as the store's materialiser does — timed separately (``--build-days`` > ``--days``
builds a longer store once and reports over its first days).

    .venv/bin/python bench/analyzer_report.py [--rigs 1000] [--days 30] [--db
    /work/tmp-bench/report] [--rig-every-s 60] [--read raw,screened] [--build-days 365]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sqlite3
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
from minewatch.store.sqlite_rollups import HourlyRollups

S = 10**9
T0 = 1_767_225_600 * S
DAY = 86400


def facility(db: Path) -> tuple[FacilityConfig, SqliteStore]:
    """The bench facility's config and its store, as it is."""
    cfg = FacilityConfig.model_validate(
        {
            "facility": {"id": "bench", "name": "Bench 3.5 MW"},
            "licence": {"number": "B-2", "capacity_kw": 4000},
            "storage": {"data_dir": str(db)},
            "analysis": {"interval_s": 10},
            "registry": str(db / "registry.csv"),
        }
    )
    return cfg, SqliteStore(db / "telemetry.db")


def build(
    db: Path, rigs: int, days: int, rig_every_s: int = 600
) -> tuple[FacilityConfig, SqliteStore]:
    """The bench facility's config and store (built on first use: see the module docstring)."""
    cfg, store = facility(db)
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
    store.write([Sample(T0 - S, r, "chip_temp_c", 75.0) for r in serials])  # the rigs' series
    conn = sqlite3.connect(db / "telemetry.db", isolation_level=None)
    ids = dict(
        conn.execute("SELECT device, id FROM series WHERE metric = 'chip_temp_c'").fetchall()
    )
    sid = np.array([ids[r] for r in serials], np.int64)
    t = time.perf_counter()
    n, t_mat, n_mat = rigs, 0.0, 0
    for day in range(days):
        rig_ts = T0 + (day * DAY + np.arange(0, DAY, rig_every_s, dtype=np.int64)) * S
        temps = rng.normal(75, 3, (len(rig_ts), rigs))
        if day % 7 == 3:
            hot = (rig_ts >= T0 + (day * DAY + 36000) * S) & (rig_ts < T0 + (day * DAY + 37800) * S)
            temps[hot, :5] = 99  # weekly hot spell on five rigs
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT OR IGNORE INTO samples (series_id, ts, value) VALUES (?, ?, ?)",
            zip(
                np.repeat(sid, len(rig_ts)).tolist(),
                np.tile(rig_ts, rigs).tolist(),
                temps.T.ravel().tolist(),
                strict=True,
            ),
        )
        HourlyRollups.mark_dirty(conn, rig_ts.tolist())
        conn.execute("COMMIT")
        n += temps.size
        batch: list[Sample] = []
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
        t1 = time.perf_counter()
        n_mat += store.materialise_rollups()
        t_mat += time.perf_counter() - t1
        if day % 30 == 29:
            print(f"  day {day + 1}: {n:,} samples, {time.perf_counter() - t:.0f} s", flush=True)
    conn.execute("UPDATE devices SET last_seen = ? WHERE kind = 'asic_miner'", (int(rig_ts[-1]),))
    conn.close()
    print(
        f"built store: {n:,} samples in {time.perf_counter() - t:.0f} s, of which materialising "
        f"the hourly roll-ups {t_mat:.0f} s ({t_mat / (days * 24) * 1000:.0f} ms per hour of "
        f"data, {n_mat / max(t_mat, 1e-9) / 1e6:.2f} M samples/s)"
    )
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
    cfg, store = facility(db_path)
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
        "load": os.getloadavg()[0],
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
    ap.add_argument(
        "--read",
        default="raw,screened",
        help="ways of reading, comma-separated (raw, rollup, screened); the first is the baseline",
    )
    ap.add_argument("--build-days", type=int, default=None, help="days the store holds")
    ap.add_argument(
        "--as-is",
        action="store_true",
        help="report on --db as it is (a store still being built: its first days are complete)",
    )
    a = ap.parse_args()
    db = a.db or Path(tempfile.mkdtemp(prefix="mw-bench-report-"))
    db.mkdir(parents=True, exist_ok=True)
    if a.as_is:
        _, store = facility(db)
    else:
        _, store = build(db, a.rigs, max(a.days, a.build_days or 0), a.rig_every_s)
    reads = a.read.split(",")
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
            f"max RSS {r['rss_mb']:.0f} MB (goal <= 2048 MB); load average {r['load']:.1f} at its "
            f"end; {len(r['breaches'])} breaches, {r['hourly']} hourly records, "
            f"{r['json_mb']:.1f} MB JSON; resolution {r['evaluation']['resolution_s']:g} s"
        )
    base = runs[reads[0]]
    for read in reads[1:]:
        r = runs[read]
        same = (base["breaches"], base["verdicts"]) == (r["breaches"], r["verdicts"])
        print(
            f"{read} vs {reads[0]}: {base['wall'] / r['wall']:.1f}x faster (wall), "
            f"{base['cpu'] / r['cpu']:.1f}x (CPU); same breaches and verdicts: {same}"
        )
    print(
        f"bucketing one day of rig temperatures: Buckets {fast * 1000:.0f} ms vs "
        f"groupby().resample() {slow * 1000:.0f} ms -> {slow / fast:.0f}x"
    )


if __name__ == "__main__":
    main()
