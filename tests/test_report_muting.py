"""A report lists every breach whatever muted it, and says what did: a silence suppresses an
operator alert (``suppressed_by``), a maintenance window over a regulator-notifiable breach only
mutes the operator's channels (``silenced_by``: the central bank heard of it). The live loop and the
report agree on the same golden case (tests/cases/silence/operator_and_regulator). A breach judged
against a vendor family's limit says so (``generic_limits``)."""

from __future__ import annotations

from minewatch.analyzer.report import build_report, to_text
from minewatch.analyzer.state import AlertStore
from minewatch.profiles.loader import load_profiles
from minewatch.resources import shipped
from minewatch.store import SqliteStore
from tests.support.analyzer import T0, S, facility_cfg, fill_store, load_cases, simple

CASE = next(c for c in load_cases() if c.id == "silence/operator_and_regulator")


def _report(tmp_path):
    cfg, store, profiles = CASE.setup(tmp_path)
    alerts = CASE.alert_store(cfg)
    inst = CASE.instants(cfg)
    return build_report(
        cfg,
        store,
        alerts,
        CASE.profile,
        T0 + inst.start * S,
        T0 + (inst.stop + 10) * S,
        profiles,
        report_step_s=10,
        read="raw",
    )


def test_each_muted_breach_is_listed_with_what_muted_it(tmp_path):
    report = _report(tmp_path)
    got = {
        (b["rule_id"], b["subject"]): (
            (b["start_ns"] - T0) / S,
            (b["end_ns"] - T0) / S,
            b["suppressed_by"],
            b["silenced_by"],
        )
        for b in report["breaches"]
    }
    assert set(got) == {("TH-05", "rig-1"), ("TH-05", "rig-2"), ("FS-01", "panel-1")}
    # the breaches' times are the live loop's firing and resolving times
    firing = {
        (t["rule"], t["subject"]): t["at"]
        for t in CASE.expected
        if t["from"] == "inactive" and t["to"] == "firing"
    }
    resolved = {(t["rule"], t["subject"]): t["at"] for t in CASE.expected if t["to"] == "resolved"}
    assert {k: v[:2] for k, v in got.items()} == {k: (firing[k], resolved[k]) for k in got}

    suppressed, silenced = got[("TH-05", "rig-1")][2:]
    assert suppressed is not None and suppressed.startswith("silence #") and silenced is None
    # the regulator-notifiable fire alarm in a maintenance window: never suppressed, muted only
    suppressed, silenced = got[("FS-01", "panel-1")][2:]
    assert suppressed is None
    assert silenced is not None and silenced.startswith("maintenance #")
    # rig-2 was hot inside a silence that names rig-1 only
    assert got[("TH-05", "rig-2")][2:] == (None, None)
    assert report["summary"]["breaches"] == 3


def test_the_text_report_says_what_muted_each_breach(tmp_path):
    text = to_text(_report(tmp_path), generated_at="2026-01-01T00:00:00Z")
    lines = {ln.split()[1] + " " + ln.split()[2]: ln for ln in text.splitlines() if "  TH-05" in ln}
    assert "operator alert suppressed: silence #" in lines["TH-05 rig-1"]
    assert "suppressed" not in lines["TH-05 rig-2"]
    fire = next(ln for ln in text.splitlines() if "  FS-01" in ln)
    assert "operator channels muted, regulator notified: maintenance #" in fire
    assert "[regulator]" in fire


def test_live_transitions_of_the_case_match_its_golden_file(tmp_path):
    """The report test above leans on the golden file: keep it honest against the live loop."""
    from minewatch.analyzer.engine import Analyzer
    from minewatch.events import EventBus

    cfg, store, profiles = CASE.setup(tmp_path)
    an = Analyzer(cfg, store, CASE.alert_store(cfg), EventBus(), profiles, compliance=CASE.profile)
    got = []
    for t in CASE.instants(cfg):
        got += an.evaluate_once(T0 + t * S)
    assert simple(got) == CASE.expected
    fire = [t for t in got if t.rule_id == "FS-01" and t.to_state == "firing"]
    assert [t.silenced for t in fire] == [True]


def test_a_breach_against_a_family_limit_says_generic_limits(tmp_path):
    """rig-x21 is an Antminer S21 Pro read through the 21-series family profile (generic: true),
    rig-s21 an S21 with its own profile; both overheat past the profiles' chip limit (95 °C)."""
    from minewatch.analyzer.profile_loader import validate_profile

    cfg = facility_cfg(tmp_path)
    store = SqliteStore(cfg.telemetry_db)
    devices = [
        {"device": "rig-x21", "kind": "asic_miner", "model": "antminer-x21", "role": "rig"},
        {"device": "rig-s21", "kind": "asic_miner", "model": "antminer-s21", "role": "rig"},
        {"device": "rig-cold", "kind": "asic_miner", "model": "antminer-x21", "role": "rig"},
    ]
    rows = [
        {"ts": t, "device": d, "metric": "chip_temp_c", "value": 99.0 if d != "rig-cold" else 60.0}
        for t in range(0, 300, 10)
        for d in ("rig-x21", "rig-s21", "rig-cold")
    ]
    fill_store(store, rows, devices)
    profile = validate_profile(
        {
            "id": "test",
            "title": "generic limits",
            "jurisdiction": "test",
            "version": "1",
            "rules": [
                {
                    "id": "TH-05",
                    "title": "Hot chip",
                    "kind": "threshold",
                    "family": "thermal",
                    "severity": "critical",
                    "source": "test",
                    "selector": {"role": "rig"},
                    "params": {
                        "metric": "chip_temp_c",
                        "above": {"limit": "chip_temp_c.max_above"},
                        "max_age": "60s",
                    },
                },
                {
                    "id": "TH-99",
                    "title": "Hot chip, literal limit",
                    "kind": "threshold",
                    "family": "thermal",
                    "severity": "major",
                    "source": "test",
                    "selector": {"role": "rig"},
                    "params": {"metric": "chip_temp_c", "above": 90, "max_age": "60s"},
                },
            ],
        },
        "test profile",
    )
    profiles = load_profiles(shipped("device_profiles"))
    assert profiles["antminer-x21"].miner_api.generic  # the premise: a family profile
    report = build_report(
        cfg,
        store,
        AlertStore(cfg.state_db),
        profile,
        T0 + 10 * S,
        T0 + 300 * S,
        profiles,
        report_step_s=10,
        read="raw",
    )
    got = {(b["rule_id"], b["subject"]): b["generic_limits"] for b in report["breaches"]}
    assert got == {
        ("TH-05", "rig-x21"): True,
        ("TH-05", "rig-s21"): False,
        # a literal limit in the compliance profile is nobody's family limit
        ("TH-99", "rig-x21"): False,
        ("TH-99", "rig-s21"): False,
    }
    text = to_text(report, generated_at="2026-01-01T00:00:00Z")
    assert [ln for ln in text.splitlines() if "(generic limits)" in ln] == [
        ln for ln in text.splitlines() if "  TH-05" in ln and "rig-x21" in ln
    ]
