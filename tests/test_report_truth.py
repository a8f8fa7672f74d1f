"""A report says only what the data supports: each test is written from a failure measured on a real
facility's history (issue #11) — verdicts on no data, substitution before operation, band limits,
clear levels, curtailment still in progress, evidence starved by a cap."""

from __future__ import annotations

from typing import Any

import pytest

from minewatch.alerting import AlertState
from minewatch.analyzer.curtailment import add_order
from minewatch.analyzer.evaluator import Evaluator
from minewatch.analyzer.profile_loader import load_compliance_profile, validate_profile
from minewatch.analyzer.report import MAX_EVIDENCE, build_report, to_text
from minewatch.analyzer.state import AlertStore
from minewatch.store import SqliteStore
from tests.support.analyzer import T0, S, device_profiles, facility_cfg, fill_store

H = 3600
METER = {"device": "meter-1", "kind": "power_meter", "model": "meter", "role": "revenue_meter"}
RIG = {"device": "rig-1", "kind": "asic_miner", "model": "s21", "role": "rig"}
PROFILES = device_profiles(
    {
        "s21": {
            "kind": "asic_miner",
            "limits": {"chip_temp_c": {"max_above": 95, "source": "test limit"}},
        }
    }
)


def _meter_rows(
    start_s: int, end_s: int, kw: float = 60.0, volts=lambda t: 230.0, gap=None, every: int = 10
) -> list[dict[str, Any]]:
    rows = []
    for t in range(start_s, end_s, every):
        if gap is not None and gap[0] <= t < gap[1]:
            continue
        rows.append({"ts": t, "device": "meter-1", "metric": "power_w", "value": kw * 1000})
        for ph in ("l1", "l2", "l3"):
            rows.append(
                {"ts": t, "device": "meter-1", "metric": f"voltage_v_{ph}", "value": volts(t)}
            )
        rows.append({"ts": t, "device": "meter-1", "metric": "frequency_hz", "value": 50.0})
    return rows


def _site(tmp_path, rows, devices=(METER,), **cfg_extra):
    cfg = facility_cfg(tmp_path, **cfg_extra)
    store = SqliteStore(cfg.telemetry_db)
    fill_store(store, rows, list(devices))
    alerts = AlertStore(cfg.state_db)
    alerts.clock = lambda: T0
    return cfg, store, alerts


def test_four_minutes_of_data_in_a_week_report_is_not_a_pass(tmp_path):
    """Measured: a 7-day report on a demo that had run 4 minutes marked 24 rules compliant at
    0.07 % coverage and substituted 100 % of the licence for days before the facility existed."""
    cfg, store, alerts = _site(tmp_path, _meter_rows(0, 240))
    start = T0 - 7 * 24 * H * S + 240 * S  # the week that ends 4 minutes after the first sample
    report = build_report(cfg, store, alerts, "tm-2026", start, T0 + 240 * S, PROFILES)
    judged = {r["rule_id"]: r for r in report["rules"]}
    for r in judged.values():
        assert r["verdict"] != "compliant" or r["coverage_in_operation_pct"] >= 90.0, r
    assert report["operation"]["start_ns"] == T0
    assert report["operation"]["not_in_operation_s"] == 7 * 24 * H - 240
    # a 15-minute demand rule cannot be judged on 4 minutes
    assert judged["EN-01"]["verdict"] == "insufficient_data"
    assert {"rule_id": "EN-01"}.items() <= next(
        n for n in report["not_judged"] if n["rule_id"] == "EN-01"
    ).items()
    energy = report["energy"]
    assert energy["substituted_kwh"] == 0.0 and energy["not_in_operation_hours"] == 7 * 24 - 1
    assert all(h["energy_kwh"]["quality"] == "N" for h in report["hourly"])
    text = to_text(report)
    # the summary leads with what could not be judged, before the rule table
    assert text.index("NOT IN OPERATION") < text.index("NOT JUDGED EN-01") < text.index("rule  ")


def test_commissioning_date_is_the_start_of_operation(tmp_path):
    """Before the commissioning date nothing is judged even if test telemetry exists."""
    cfg, store, alerts = _site(
        tmp_path, _meter_rows(0, 3 * H), facility={"commissioned": "2026-01-01"}
    )
    cfg = cfg.model_copy(update={"timezone": "UTC"})
    report = build_report(cfg, store, alerts, "tm-2026", T0 - 2 * H * S, T0 + 3 * H * S, PROFILES)
    assert report["operation"]["commissioned"] == "2026-01-01"
    assert report["operation"]["not_in_operation_s"] == 2 * H
    assert [h["in_operation"] for h in report["hourly"]] == [False, False, True, True, True]


def test_a_meter_gap_early_in_operation_is_not_filled_at_the_licence(tmp_path):
    """Measured: hours before the first telemetry counted as missing (5 % availability), so a
    25-minute meter gap was filled at the licensed maximum (480 kWh for 447)."""
    rows = _meter_rows(0, 4 * H, kw=60.0, gap=(H + 600, H + 2100))
    cfg, store, alerts = _site(tmp_path, rows)
    report = build_report(cfg, store, alerts, "tm-2026", T0 - 48 * H * S, T0 + 4 * H * S, PROFILES)
    (gap_hour,) = [h for h in report["hourly"] if h["in_operation"] and not h["valid"]]
    assert gap_hour["energy_kwh"]["quality"] == "S"
    assert gap_hour["energy_kwh"]["method"].startswith("avg_before_after")
    assert gap_hour["energy_kwh"]["value"] == pytest.approx(60.0)
    assert report["energy"]["total_kwh"] == pytest.approx(4 * 60.0)


def test_under_voltage_reads_its_minimum_against_the_lower_limit(tmp_path):
    """Measured: "peak 197.63 V, threshold 242.0 V (+10 %)" for an under-voltage; the resolve
    message quoted the trigger level, not the clear level."""
    rows = _meter_rows(0, 2 * H, volts=lambda t: 195.0 if 1800 <= t < 3600 else 230.0)
    cfg, store, alerts = _site(tmp_path, rows)
    report = build_report(cfg, store, alerts, "tm-2026", T0, T0 + 2 * H * S, PROFILES)
    (b,) = [b for b in report["breaches"] if b["rule_id"] == "EL-03"]
    assert b["threshold"] == pytest.approx(198.0)  # 220 V - 10 %
    assert b["peak"] == pytest.approx(195.0)
    profile = load_compliance_profile("tm-2026")
    ev = Evaluator(cfg, store, profile, PROFILES, alerts)
    resolved = [
        tr
        for rule, _, trs, _ in ev.replay(T0, T0 + 2 * H * S)
        if rule.id == "EL-03"
        for tr in trs
        if tr.to_state == AlertState.RESOLVED
    ]
    assert resolved and "clear threshold 200.2" in resolved[0].reason  # 220 V - 9 %


def test_over_temperature_resolve_quotes_the_clear_level(tmp_path):
    prof = validate_profile(
        {
            "id": "t",
            "title": "t",
            "jurisdiction": "t",
            "version": "1",
            "rules": [
                {
                    "id": "TH-01",
                    "title": "Hot hall",
                    "kind": "threshold",
                    "family": "thermal",
                    "severity": "warning",
                    "source": "test",
                    "selector": {"role": "rig"},
                    "params": {"metric": "chip_temp_c", "above": 95, "clear_above": 85},
                }
            ],
        },
        "inline",
    )
    temps = [70, 100, 100, 90, 80, 80]
    rows = [
        {"ts": i * 10, "device": "rig-1", "metric": "chip_temp_c", "value": v}
        for i, v in enumerate(temps)
    ]
    cfg, store, alerts = _site(tmp_path, rows, devices=(RIG,))
    ev = Evaluator(cfg, store, prof, PROFILES, alerts)
    trs = [tr for _, _, trs, _ in ev.replay(T0 + 10 * S, T0 + 60 * S) for tr in trs]
    assert [t.to_state for t in trs] == [AlertState.FIRING, AlertState.RESOLVED]
    assert trs[-1].reason == "value 80 within clear threshold 85"


def test_an_order_still_open_at_period_end_is_in_progress(tmp_path):
    """Measured: an order whose response window was still open at the end of the period read "NOT
    compliant, reached None" while EN-03 said compliant."""
    cfg, store, alerts = _site(tmp_path, _meter_rows(0, 2 * H, kw=60.0))
    add_order(
        alerts,
        target_kw=20,
        starts_at_ns=T0 + (2 * H - 300) * S,
        ends_at_ns=T0 + 3 * H * S,
        response_s=600,
        issued_by="dispatcher",
    )
    report = build_report(cfg, store, alerts, "tm-2026", T0, T0 + 2 * H * S, PROFILES)
    (order,) = report["curtailment"]
    assert order["verdict"] == "in_progress" and not order["compliant"]
    en03 = next(r for r in report["rules"] if r["rule_id"] == "EN-03")
    assert en03["verdict"] == "in_progress"
    assert "in progress at period end" in to_text(report) and "NOT compliant" not in to_text(report)


def test_every_regulator_notifiable_breach_gets_evidence_whatever_the_cap(tmp_path):
    """Measured: evidence went to the first 200 episodes in rule order — all DQ-03 — and none to the
    regulator-notified EN-01."""
    rigs = [dict(RIG, device=f"rig-{i:03d}") for i in range(MAX_EVIDENCE + 20)]
    rows = _meter_rows(0, 2 * H, kw=60.0)
    rows = [r for r in rows if not (r["metric"] == "power_w" and 1800 <= r["ts"] < 4200)]
    rows += [
        {"ts": t, "device": "meter-1", "metric": "power_w", "value": 150_000}
        for t in range(1800, 4200, 10)
    ]
    # every rig reports for 10 minutes, then goes silent: one data-quality breach each
    rows += [
        {"ts": t, "device": r["device"], "metric": "chip_temp_c", "value": 70}
        for r in rigs
        for t in range(0, 600, 60)
    ]
    cfg, store, alerts = _site(tmp_path, rows, devices=(METER, *rigs))
    report = build_report(cfg, store, alerts, "tm-2026", T0, T0 + 2 * H * S, PROFILES)
    by_rule: dict[str, list] = {}
    for b in report["breaches"]:
        by_rule.setdefault(b["rule_id"], []).append(b)
    assert len(by_rule["DQ-03"]) == len(rigs)
    (en01,) = by_rule["EN-01"]
    assert en01["evidence"] is not None and en01["evidence"]["points"]
    assert all(b["evidence"] is not None for b in report["breaches"] if b["regulator_notifiable"])
    with_evidence = sum(b["evidence"] is not None for b in report["breaches"])
    assert with_evidence >= MAX_EVIDENCE
    assert any("evidence attached to" in p for p in report["problems"])


def test_a_long_report_says_how_far_it_is(tmp_path):
    """Measured: a 366-day report ran 680 s with no progress output."""
    from minewatch.analyzer.report_progress import report_progress

    cfg, store, alerts = _site(tmp_path, _meter_rows(0, H, every=60))
    calls: list[tuple[int, int]] = []
    with report_progress(force=True) as bar:
        assert bar is not None

        def progress(done: int, total: int) -> None:
            calls.append((done, total))
            bar(done, total)

        build_report(
            cfg, store, alerts, "tm-2026", T0, T0 + 3 * 24 * H * S, PROFILES, None, progress
        )
    done = [d for d, _ in calls]
    assert len(calls) == 4 and done == sorted(done) and calls[-1] == (3 * 24 * H * S,) * 2
