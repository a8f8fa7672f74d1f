"""Period reports: same engine as live, deterministic bytes, a stated SHA-256, schema-conformant."""

from __future__ import annotations

import json

import orjson
import pytest
from typer.testing import CliRunner

from minewatch.analyzer.report import SCHEMA_PATH, build_report, to_csv, to_json, to_text, verify
from minewatch.analyzer.report_schema import Report, json_schema
from tests.support.analyzer import T0, S, site_with_history

END = T0 + 7200 * S


@pytest.fixture
def site(tmp_path):
    return site_with_history(tmp_path)


@pytest.fixture
def report(site):
    cfg, store, alerts, profiles = site
    return build_report(cfg, store, alerts, "tm-2026", T0, END, device_profiles=profiles)


def test_report_is_byte_identical_and_states_its_own_sha256(site, report):
    cfg, store, alerts, profiles = site
    again = build_report(cfg, store, alerts, "tm-2026", T0, END, device_profiles=profiles)
    assert to_json(report) == to_json(again)
    assert verify(report)
    tampered = json.loads(to_json(report))
    tampered["breaches"][0]["duration_s"] += 1
    assert not verify(tampered)


def test_report_conforms_to_the_published_schema(report):
    Report.model_validate(orjson.loads(to_json(report)))
    assert json.loads(SCHEMA_PATH.read_text()) == json_schema()


def test_breaches_with_start_end_peak_threshold_and_evidence(report):
    by_rule = {}
    for b in report["breaches"]:
        by_rule.setdefault(b["rule_id"], []).append(b)
    (cap,) = by_rule[
        "EN-01"
    ]  # 120 kW from 30 min vs 100: the 15-min mean passes 100 kW with 61 high 10-s buckets
    assert cap["subject"] == "facility" and cap["start"] == "2026-01-01T00:40:10Z"
    assert cap["peak"] == 120000.0 and cap["threshold"] == 100000.0
    assert cap["evidence"]["metric"] == "power_w" and cap["evidence"]["points"]
    assert "licence.capacity_kw" in cap["threshold_source"]
    (hot,) = by_rule["TH-05"]  # 100 °C from 100 min, seen at 100:10, `for` 30 s → 100:40
    assert (hot["subject"], hot["condition_since"], hot["start"]) == (
        "rig-1",
        "2026-01-01T01:40:10Z",
        "2026-01-01T01:40:40Z",
    )
    assert (
        hot["end"] == "2026-01-01T01:45:10Z" and hot["duration_s"] == 270.0 and hot["peak"] == 100.0
    )
    assert (
        hot["threshold"] == 95.0
        and "device profile limit chip_temp_c.max_above" in hot["threshold_source"]
    )
    (unreg,) = by_rule["RG-01"]
    assert (
        unreg["subject"] == "rig-2"
        and unreg["regulator_notifiable"]
        and unreg["open_at_period_end"]
    )
    assert [b["subject"] for b in by_rule["RG-02"]] == ["rig-9"]
    statuses = {r["rule_id"]: r["status"] for r in report["rules"]}
    assert statuses["EN-01"] == "breached" and statuses["EL-03"] == "compliant"
    assert statuses["FS-01"] == "not_applicable" and statuses["EN-03"] == "compliant"


def test_energy_curtailment_availability_and_equipment(report):
    e = report["energy"]
    # 60 kW for 2 h, plus 60 kW extra for 20 min, minus 45 kW for 27 min: 120 + 20 - 20.25
    assert (
        e["total_kwh"] == pytest.approx(119.75) and e["hours"] == 2 and e["substituted_hours"] == 0
    )
    assert e["peak_demand_kw"] == 120.0 and e["peak_utilisation_pct"] == 120.0
    (o,) = report["curtailment"]
    assert o["target_kw"] == 20 and o["reached_target_at"] == "2026-01-01T01:04:00Z"
    assert o["actual_response_s"] == 240.0 and o["compliant"] and o["breaches"] == 0
    eq = report["equipment"]
    assert eq["unregistered_online"] == ["rig-2"] and eq["registered_never_seen"] == ["rig-9"]
    avail = {(a["device"], a["metric"]): a["availability_pct"] for a in report["data_availability"]}
    assert avail[("meter-1", "power_w")] == 100.0


def test_csv_and_text(report):
    csv_text = to_csv(report)
    assert csv_text.splitlines()[0].startswith("rule_id,subject,severity")
    assert len(csv_text.splitlines()) == len(report["breaches"]) + 1
    text = to_text(report, generated_at="2026-01-02T00:00:00Z")
    assert "EN-01" in text and report["sha256"] in text and "compliant" in text
    assert "None" not in text and "nan" not in text.lower().split()
    assert "Generated 2026-01-02T00:00:00Z by minewatch " in text


def test_text_shows_missing_values_and_flags_as_a_person_reads_them(report):
    """A value the report does not have prints as "no data", never Python's None; a flag rule's
    breach is a state that was raised, never "peak 1.0 (threshold 0.5)"."""
    import copy

    blank = copy.deepcopy(report)
    blank["energy"]["peak_demand_kw"] = None
    blank["energy"]["peak_utilisation_pct"] = None
    flag_rule = next(r for r in blank["rules"] if r["kind"] == "event")
    blank["breaches"].append(
        {**blank["breaches"][0], "rule_id": flag_rule["rule_id"], "peak": 1.0, "threshold": 0.5}
    )
    text = to_text(blank)
    assert "None" not in text
    assert "peak demand no data" in text
    flag_line = next(line for line in text.splitlines() if f" {flag_rule['rule_id']} " in line)
    assert "raised" in flag_line and "0.5" not in flag_line


def test_report_cli(site, tmp_path):  # `site` fills the data folder the CLI reads
    from minewatch.cli import app

    (tmp_path / "dp").mkdir()
    (tmp_path / "dp" / "s21.yaml").write_text(
        "id: s21\nkind: asic_miner\nvendor: test\nmodel: s21\nmqtt: {fields: {power_w: {path: "
        "p}}}\nlimits: {chip_temp_c: {max_above: 95, warn_above: 85, source: test limit}}\n"
    )
    (tmp_path / "facility.yaml").write_text(
        "facility: {id: test-site, name: Test site}\nlicence: {number: CBT-0001, capacity_kw: 100, "
        "region: Mary}\n"
        "storage: {data_dir: data}\nanalysis: {interval_s: 10}\nregistry: "
        "registry.csv\ndevice_profiles_dir: dp\n"
    )
    out = tmp_path / "r.json"
    res = CliRunner().invoke(
        app,
        [
            "report",
            "--config",
            str(tmp_path / "facility.yaml"),
            "--from",
            "2026-01-01T00:00:00Z",
            "--to",
            "2026-01-01T02:00:00Z",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    rep = json.loads(out.read_bytes())
    assert verify(rep) and rep["summary"]["breaches"] >= 4
    bad = CliRunner().invoke(
        app,
        [
            "report",
            "--config",
            str(tmp_path / "facility.yaml"),
            "--from",
            "yesterday",
            "--to",
            "2026-01-01T02:00:00Z",
        ],
    )
    assert bad.exit_code != 0 and "RFC 3339" in bad.output


def test_curtail_cli_stores_and_validates(site, tmp_path):
    from minewatch.analyzer.curtailment import orders
    from minewatch.cli import app

    (tmp_path / "facility.yaml").write_text(
        "facility: {id: test-site, name: Test site}\nlicence: {number: CBT-0001, capacity_kw: "
        "100}\nstorage: {data_dir: data}\n"
    )
    args = [
        "curtail",
        "--config",
        str(tmp_path / "facility.yaml"),
        "--target-kw",
        "10",
        "--from",
        "2026-02-01T18:00:00Z",
        "--to",
        "2026-02-01T22:00:00Z",
        "--response-s",
        "600",
        "--by",
        "dispatcher",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["target_kw"] == 10.0
    _, _, alerts, _ = site
    assert orders(alerts)[-1]["issued_by"] == "dispatcher"
    bad = CliRunner().invoke(app, [*args[:-2], "--by", " "])
    assert bad.exit_code != 0 and "issued_by is required" in bad.output
