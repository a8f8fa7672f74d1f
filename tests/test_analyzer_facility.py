"""A realistic multi-rate facility: rigs every 60 s, the revenue meter every 10 s, PDUs and the
cooling feed every 30 s, a hall sensor every 60 s and a fire panel every 30 s, for 26 hours, with
breaches planted at known times. The ``tm-2026`` report is scored against the planted list: recall
and precision must both be 1.0 — a breach missed, or one reported that was not planted (say, DQ-03
assuming a 10 s rig interval), fails it."""

from __future__ import annotations

import math
from typing import Any

from minewatch.analyzer.curtailment import add_order
from minewatch.analyzer.report import build_report
from minewatch.analyzer.state import AlertStore
from minewatch.store import SqliteStore
from tests.support.analyzer import T0, S, device_profiles, facility_cfg, fill_store

H, M = 3600, 60
HOURS = 26
RIGS = [f"rig-{i:02d}" for i in range(1, 21)]
PDUS = ["pdu-A", "pdu-B", "pdu-C", "pdu-D"]
FEEDS = {**{p: 0.2 for p in PDUS}, "pdu-cooling": 0.2}  # shares of the facility load

#: (rule, subject, planted from s, to s, how late the breach may start, how late it may end): the
#: slack is each rule's own `for`, window and keep-firing time
PLANTED = [
    ("TH-05", "rig-03", 2 * H, 2 * H + 10 * M, 3 * M, 3 * M),  # chip 100 °C (limit 95), 10 min
    ("DQ-03", "rig-07", 5 * H, 5 * H + 20 * M, 5 * M, 2 * M),  # rig silent 20 min
    ("EN-01", "facility", 7 * H, 7 * H + 40 * M, 20 * M, 25 * M),  # 120 kW on a 100 kW licence
    ("FS-01", "fire-panel", 9 * H, 9 * H + 5 * M, 2 * M, 2 * M),  # fire alarm
    ("EL-03", "meter-1", 10 * H, 10 * H + 30 * M, 15 * M, 15 * M),  # supply at 195 V
    ("EN-04B", "facility", 12 * H, 15 * H, 2 * H, 1 * H),  # meter 7 % below sub-meters: bypass
    ("EN-04", "facility", 16 * H, 19 * H, 3 * H, 1 * H),  # meter 7 % above: unmetered load
    ("EN-06", "meter-1", 21 * H, 21 * H + 20 * M, 20 * M, 2 * M),  # metering gap of 20 min
    ("EN-03", "order:1", 23 * H, 24 * H, 15 * M, 2 * M),  # curtailment order not met
]


def _within(t: int, rule: str) -> bool:
    return any(r == rule and a <= t < b for r, _, a, b, _, _ in PLANTED)


def _facility_kw(t: int) -> float:
    return 120.0 if _within(t, "EN-01") else 60.0


def _noise(t: int, k: float) -> float:
    """Small, never-repeating measurement noise (a real meter is never frozen)."""
    return 1 + 0.002 * math.sin(t / 37.0 + k)


def _rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(t: int, device: str, metric: str, value: float) -> None:
        rows.append({"ts": t, "device": device, "metric": metric, "value": value})

    end = HOURS * H
    for t in range(0, end, 10):  # revenue meter, 10 s
        if _within(t, "EN-06"):
            continue
        ratio = 0.93 if _within(t, "EN-04B") else 1.07 if _within(t, "EN-04") else 1.0
        add(t, "meter-1", "power_w", _facility_kw(t) * 1000 * ratio * _noise(t, 0))
        volts = 195.0 if _within(t, "EL-03") else 230.0
        for i, ph in enumerate(("l1", "l2", "l3")):
            add(t, "meter-1", f"voltage_v_{ph}", volts * _noise(t, i + 1))
        add(t, "meter-1", "frequency_hz", 50.0 * (1 + 0.0001 * math.sin(t / 53.0)))
    for t in range(0, end, 30):  # sub-meters and fire panel, 30 s
        for k, (pdu, share) in enumerate(FEEDS.items()):
            add(t, pdu, "power_w", _facility_kw(t) * 1000 * share * _noise(t, 10 + k))
        fire = 1.0 if _within(t, "FS-01") else 0.0
        for m, v in (("fire_alarm_bool", fire), ("smoke_bool", fire)):
            add(t, "fire-panel", m, v)
        for m in ("fire_fault_bool", "suppression_disabled_bool", "epo_bool"):
            add(t, "fire-panel", m, 0.0)
    for t in range(0, end, 60):  # rigs and the hall sensor, 60 s
        add(t, "hall-1", "ambient_temp_c", 24.0 + 0.1 * math.sin(t / 900.0))
        add(t, "hall-1", "humidity_pct", 40.0)
        for rig in RIGS:
            if rig == "rig-07" and _within(t, "DQ-03"):
                continue
            hot = rig == "rig-03" and _within(t, "TH-05")
            add(t, rig, "chip_temp_c", 100.0 if hot else 70.0)
            add(t, rig, "fan_rpm_1", 5000.0)
            add(t, rig, "fan_rpm_2", 5000.0)
    return rows


def _devices() -> list[dict[str, str]]:
    devs = [{"device": "meter-1", "kind": "power_meter", "model": "m", "role": "revenue_meter"}]
    devs += [{"device": p, "kind": "pdu", "model": "p", "role": "rack_pdu"} for p in PDUS]
    devs += [{"device": "pdu-cooling", "kind": "pdu", "model": "p", "role": "cooling_feed"}]
    devs += [{"device": "fire-panel", "kind": "fire_panel", "model": "f", "role": "fire_panel"}]
    devs += [{"device": "hall-1", "kind": "env_sensor", "model": "h", "role": "hall_sensor"}]
    devs += [{"device": r, "kind": "asic_miner", "model": "s21", "role": "rig"} for r in RIGS]
    return devs


def score(breaches: list[dict[str, Any]]) -> tuple[float, float, list, list]:
    """(recall, precision, planted not found, reported not planted): a breach matches a plant with
    the same rule and subject when it starts and ends inside the plant's acceptance windows."""
    found, matched = set(), set()
    for i, b in enumerate(breaches):
        start = (b["start_ns"] - T0) // S
        end = None if b["end_ns"] is None else (b["end_ns"] - T0) // S
        for j, (rule, subject, a, z, late, late_end) in enumerate(PLANTED):
            if (
                (b["rule_id"], b["subject"]) == (rule, subject)
                and a <= start <= a + late
                and end is not None
                and z <= end <= z + late_end
            ):
                found.add(j)
                matched.add(i)
    missed = [PLANTED[j] for j in range(len(PLANTED)) if j not in found]
    extra = [
        (b["rule_id"], b["subject"], b["start"], b["end"])
        for i, b in enumerate(breaches)
        if i not in matched
    ]
    return len(found) / len(PLANTED), len(matched) / max(1, len(breaches)), missed, extra


def test_multi_rate_facility_recall_and_precision(tmp_path):
    cfg = facility_cfg(tmp_path, analysis={"interval_s": 10})
    store = SqliteStore(cfg.telemetry_db)
    fill_store(store, _rows(), _devices())
    alerts = AlertStore(cfg.state_db)
    alerts.clock = lambda: T0
    add_order(
        alerts,
        target_kw=20,
        starts_at_ns=T0 + 23 * H * S,
        ends_at_ns=T0 + 24 * H * S,
        response_s=600,
        issued_by="Ministry of Energy dispatcher",
    )
    profiles = device_profiles(
        {
            "s21": {
                "kind": "asic_miner",
                "limits": {"chip_temp_c": {"max_above": 95, "source": "test limit"}},
            }
        }
    )
    report = build_report(cfg, store, alerts, "tm-2026", T0, T0 + HOURS * H * S, profiles)
    recall, precision, missed, extra = score(report["breaches"])
    assert (recall, precision) == (1.0, 1.0), f"missed {missed}; not planted {extra}"
    verdicts = {r["rule_id"]: r["verdict"] for r in report["rules"]}
    # the rigs report every 60 s: DQ-03 found the one silent rig and judged every other one
    assert verdicts["DQ-03"] == "breached" and verdicts["TH-06"] == "compliant"
    assert report["operation"]["not_in_operation_s"] == 0
