"""A long report screened on the store's hourly roll-ups gives exactly the raw path's breaches,
verdicts and coverage (issue #11), on a small site with a planted breach of every rule kind
tm-2026 uses, including data written late into hours already rolled up and redelivered batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from minewatch.analyzer.curtailment import add_order
from minewatch.analyzer.report import build_report
from minewatch.analyzer.state import AlertStore
from minewatch.sample import DeviceMeta, Sample
from minewatch.store import SqliteStore
from tests.support.analyzer import T0, S, device_profiles, facility_cfg

DAYS = 3
H, D = 3600, 86400
RIGS = [f"rig-{i}" for i in range(6)] + [f"rig-{i}" for i in range(10, 30)]  # 10..: healthy


def _in(t: int, day: int, lo_h: float, hi_h: float) -> bool:
    return day * D + lo_h * H <= t < day * D + hi_h * H


def _samples(t: int, rng: np.random.Generator) -> list[Sample]:
    """One minute of the site at ``t`` seconds after T0: the faults are planted by time."""
    ts = T0 + t * S
    out: list[Sample] = []
    for i, rig in enumerate(RIGS):
        if rig == "rig-2" and _in(t, 2, 5, 6.6):
            continue  # silent 96 min: stale (DQ-03) and missing for over an hour (RG-02)
        hot = rig == "rig-1" and _in(t, 1, 10, 10.4)
        out.append(Sample(ts, rig, "chip_temp_c", 100.0 if hot else 70.0 + rng.normal(0, 1)))
        stopped = rig == "rig-3" and _in(t, 1, 3, 3.25)
        if i < 4:  # some rigs report fans (TH-06 reads two metrics)
            for m in ("fan_rpm_1", "fan_rpm_2"):
                out.append(Sample(ts, rig, m, 0.0 if stopped else 5000.0))
    gap = _in(t, 1, 14, 14.5)  # a 30-minute metering gap (EN-06)
    if not gap:
        kw = 60.0 + rng.normal(0, 0.5)
        if _in(t, 0, 6, 6.5):
            kw = 120.0  # over the licensed 100 kW (EN-01)
        if _in(t, 2, 8, 8.5):
            kw = 61.25  # frozen reading (DQ-04)
        if _in(t, 1, 18, 20):
            kw = 40.0  # a curtailment order to 20 kW not met (EN-03)
        volts = 180.0 if _in(t, 2, 12, 12.2) else 230.0
        out.append(Sample(ts, "meter-1", "power_w", kw * 1000))
        out += [Sample(ts, "meter-1", f"voltage_v_{p}", volts) for p in ("l1", "l2", "l3")]
        out.append(Sample(ts, "meter-1", "frequency_hz", 50.0))
        out.append(Sample(ts, "meter-1", "power_factor", 0.97))
    if t % 300 == 0:
        share = 0.5
        if _in(t, 0, 12, 16):
            share = 0.35  # unmetered load: the meter above its sub-meters (EN-04)
        if _in(t, 1, 4, 6.5):
            share = 0.65  # the meter below its sub-meters (EN-04B)
        for p in ("pdu-0", "pdu-1"):
            out.append(Sample(ts, p, "power_w", 60_000.0 * share))
        wet = _in(t, 0, 20, 21)
        out.append(Sample(ts, "hall-0", "ambient_temp_c", 25.0))
        out.append(Sample(ts, "hall-0", "humidity_pct", 90.0 if wet else 45.0))
    return out


def _site(tmp_path: Path):
    (tmp_path / "registry.csv").write_text(
        "serial,model,zone,rack\n"
        + "".join(
            f"{r},s21,hall1,r1\n" for r in ["rig-0", "rig-1", "rig-2", "rig-3", "rig-9", *RIGS[6:]]
        )
        + "rig-5,s19,hall1,r1\n"  # rig-5 reports model s21: a mismatch (RG-03); rig-4 unregistered
    )
    cfg = facility_cfg(tmp_path).model_copy(update={"registry": "registry.csv"})
    store = SqliteStore(cfg.telemetry_db)
    store.upsert_devices(
        [DeviceMeta(r, "asic_miner", "s21", "hall1", "r1", "rig") for r in RIGS]
        + [DeviceMeta("meter-1", "power_meter", "meter", role="revenue_meter")]
        + [DeviceMeta(p, "pdu", "pdu", role="rack_pdu") for p in ("pdu-0", "pdu-1")]
        + [DeviceMeta("hall-0", "env_sensor", "env", role="hall_sensor")]
    )
    rng = np.random.default_rng(3)
    for hour in range(-24, DAYS * 24):  # a day before the period, as a site running already has
        batch = [s for t in range(hour * H, (hour + 1) * H, 60) for s in _samples(t, rng)]
        store.write(batch)
    alerts = AlertStore(cfg.state_db)
    alerts.clock = lambda: T0
    add_order(
        alerts,
        target_kw=20,
        starts_at_ns=T0 + (D + 18 * H) * S,
        ends_at_ns=T0 + (D + 19 * H) * S,
        response_s=300,
        issued_by="dispatcher",
    )
    profiles = device_profiles(
        {
            "s21": {
                "kind": "asic_miner",
                "limits": {"chip_temp_c": {"max_above": 95, "warn_above": 85, "source": "test"}},
            }
        }
    )
    return cfg, store, alerts, profiles


def _found(rep):
    """What must not differ: breaches (rule, subject, start, end, peak), verdicts and coverage."""
    return (
        [
            (b["rule_id"], b["subject"], b["start_ns"], b["end_ns"], b["peak"])
            for b in rep["breaches"]
        ],
        [
            (
                r["rule_id"],
                r["verdict"],
                r["subjects"],
                r["data_coverage_pct"],
                r["coverage_in_operation_pct"],
            )
            for r in rep["rules"]
        ],
        rep["summary"],
    )


def _reports(cfg, store, alerts, profiles, step_s, reads=("raw", "screened")):
    return {
        read: build_report(
            cfg,
            store,
            alerts,
            "tm-2026",
            T0,
            T0 + DAYS * D * S,
            device_profiles=profiles,
            report_step_s=step_s,
            read=read,
        )
        for read in reads
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return _site(tmp_path_factory.mktemp("screened"))


# 300 s: coverage counted from the hourly roll-ups; the live interval (10 s): from roll-ups at the
# step, as on the roll-up path
@pytest.mark.parametrize("step_s", [None, 300.0])
def test_screened_report_equals_raw(site, step_s):
    cfg, store, alerts, profiles = site
    rows = {"n": 0}
    rollup = store.rollup

    def counting(*args, **kwargs):
        df = rollup(*args, **kwargs)
        rows["n"] += len(df)
        return df

    store.rollup = counting
    try:
        reps = _reports(cfg, store, alerts, profiles, step_s, ("raw", "screened", "rollup"))
        screened_rows = rows["n"]
    finally:
        del store.rollup
    raw, screened = _found(reps["raw"]), _found(reps["screened"])
    rules = {b[0] for b in raw[0]}
    # every planted fault is found (and so every kind is exercised with a breach)
    assert {
        "TH-05",
        "TH-06",
        "DQ-03",
        "RG-01",
        "RG-02",
        "RG-03",
        "EN-01",
        "EN-03",
        "EN-04",
        "EN-04B",
        "EN-06",
        "DQ-04",
        "TH-04",
    } <= rules, rules
    assert screened == raw
    assert _found(reps["rollup"]) == raw
    assert reps["screened"]["evaluation"]["read"] == "rollup"
    assert "screened" in reps["screened"]["evaluation"]["note"]
    assert screened_rows > 0  # the screens left work to the full evaluation of some devices


def test_screened_report_reads_few_roll_up_rows(site):
    """The point of it: most device-days of rigs are settled by the hourly screen, so few of their
    roll-up buckets are read (the meter's and PDUs' rules are evaluated in full either way)."""
    cfg, store, alerts, profiles = site
    counts = {}
    rollup = store.rollup
    for read in ("rollup", "screened"):
        n = [0]

        def counting(*args, _n=n, **kwargs):
            df = rollup(*args, **kwargs)
            _n[0] += len(df) if args[2] == "chip_temp_c" else 0
            return df

        store.rollup = counting
        try:
            _reports(cfg, store, alerts, profiles, 300.0, (read,))
        finally:
            del store.rollup
        counts[read] = n[0]
    assert counts["screened"] < counts["rollup"] / 3, counts


def test_late_and_redelivered_data_reach_the_screened_report(tmp_path):
    cfg, store, alerts, profiles = _site(tmp_path)
    before = _reports(cfg, store, alerts, profiles, None)  # materialises every hour
    assert _found(before["screened"]) == _found(before["raw"])
    # late: rig-2's silent stretch arrives now, hot, into hours already rolled up
    late = [
        Sample(T0 + (2 * D + 5 * H + k * 60) * S, "rig-2", "chip_temp_c", 101.0) for k in range(96)
    ]
    store.write(late)
    store.write(late[:50])  # redelivered: no double count
    after = _reports(cfg, store, alerts, profiles, None)
    assert _found(after["screened"]) == _found(after["raw"])
    found = {(b["rule_id"], b["subject"]) for b in after["screened"]["breaches"]}
    was = {(b["rule_id"], b["subject"]) for b in before["screened"]["breaches"]}
    assert ("TH-05", "rig-2") in found - was
    assert ("DQ-03", "rig-2") in was - found


def test_screened_report_shows_progress(site):
    """The terminal's progress bar (``analyzer/report_progress.py``) is fed on the screened path."""
    cfg, store, alerts, profiles = site
    seen: list[tuple[int, int]] = []
    build_report(
        cfg,
        store,
        alerts,
        "tm-2026",
        T0,
        T0 + DAYS * D * S,
        device_profiles=profiles,
        report_step_s=300.0,
        read="screened",
        progress=lambda done, total: seen.append((done, total)),
    )
    assert len(seen) > DAYS  # a call per replayed day, then the end
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert seen[-1] == (DAYS * D * S, DAYS * D * S)
