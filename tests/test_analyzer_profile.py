"""Compliance profiles are data validated by one schema: errors name the file, the rule and the
field."""

from __future__ import annotations

import pytest
import yaml

from minewatch.analyzer.profile import load_compliance_profile, parse_duration, validate_profile
from minewatch.configfile import ConfigError
from minewatch.resources import compliance_profiles_dir

BASE = {"id": "t", "title": "t", "jurisdiction": "t", "version": "1"}
RULE = {
    "id": "R-1",
    "title": "Hot chip",
    "kind": "threshold",
    "family": "thermal",
    "severity": "critical",
    "selector": {"role": "rig"},
    "params": {"metric": "chip_temp_c", "above": 90},
    "source": "test",
}


def _problems(rule_changes: dict, params: dict | None = None) -> list[str]:
    rule = {**RULE, **rule_changes}
    if params is not None:
        rule["params"] = params
    with pytest.raises(ConfigError) as exc:
        validate_profile({**BASE, "rules": [rule]}, "p.yaml")
    return exc.value.problems


@pytest.mark.parametrize(
    "changes, params, expected",
    [
        ({"kind": "thresold"}, None, "p.yaml: rules[0] (R-1).kind: unknown rule kind 'thresold'"),
        ({}, {"metric": "chip_temp", "above": 90}, "p.yaml: rules[0] (R-1).params"),
        (
            {},
            {"metric": "chip_temp_c", "above": 90, "clear_above": 95},
            "clear_above must be on the safe side",
        ),
        ({}, {"metric": "chip_temp_c"}, "give above and/or below"),
        ({}, {"metric": "chip_temp_c", "above": 90, "window": "soon"}, "(R-1).params.window"),
        (
            {},
            {"metric": "chip_temp_c", "above": {"limit": "chip_temp_c.hot"}},
            "(R-1).params.above.limit",
        ),
        (
            {"selector": {"facility": True}},
            None,
            "(R-1).selector: a threshold rule needs a device selector",
        ),
        ({"severity": "fatal"}, None, "rules[0].severity"),
        ({"for": "-5m"}, None, "rules[0].for"),
    ],
)
def test_profile_errors_name_rule_and_field(changes, params, expected):
    problems = _problems(changes, params)
    assert any(expected in p for p in problems), problems


def test_duplicate_rule_ids_and_unknown_inhibition_source_are_reported_together():
    with pytest.raises(ConfigError) as exc:
        validate_profile(
            {**BASE, "rules": [RULE, RULE], "inhibit": [{"source": "NOPE", "targets": ["x"]}]},
            "p.yaml",
        )
    text = "\n".join(exc.value.problems)
    assert (
        "rules[1] (R-1).id: duplicate rule id" in text
        and "inhibit[0].source: unknown rule id 'NOPE'" in text
    )


@pytest.mark.parametrize(
    "path", sorted(compliance_profiles_dir().glob("*.yaml")), ids=lambda p: p.stem
)
def test_shipped_profiles_load_and_every_rule_states_its_source(path):
    prof = load_compliance_profile(str(path))
    assert prof.id == path.stem and prof.rules
    assert all(len(r.source) > 10 for r in prof.rules)
    assert "not legal text" in prof.disclaimer or "verify against" in prof.disclaimer


def test_tm_2026_covers_every_rule_kind_family_and_the_grid_defaults():
    prof = load_compliance_profile("tm-2026")
    kinds = {r.kind for r in prof.rules}
    assert {
        "threshold",
        "aggregate",
        "stale",
        "frozen",
        "rate_of_change",
        "share_of_time",
        "event",
        "reconciliation",
        "registry",
        "schedule",
        "imbalance",
    } <= kinds
    assert {r.family for r in prof.rules} >= {
        "electrical",
        "thermal",
        "fire",
        "registry",
        "capacity",
        "data_quality",
        "curtailment",
    }
    el03 = prof.rule("EL-03")
    assert el03.p.above.facility == "grid.voltage_ln_v" and el03.p.above.factor == 1.10


def test_missing_profile_names_the_shipped_ones(tmp_path):
    with pytest.raises(ConfigError, match="tm-2026"):
        load_compliance_profile("nope")


def test_yaml_syntax_error_names_the_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("id: x\nrules: [\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: line"):
        load_compliance_profile(str(p))


@pytest.mark.parametrize(
    "text, secs",
    [
        ("90", 90),
        (90, 90),
        ("15m", 900),
        ("3h", 10800),
        ("7d", 604800),
        ("1.5s", 1.5),
        ("250ms", 0.25),
    ],
)
def test_durations(text, secs):
    assert parse_duration(text) == secs


def test_params_reject_unknown_keys_so_typos_do_not_silently_default():
    problems = _problems({}, {"metric": "chip_temp_c", "above": 90, "windw": "5m"})
    assert any("(R-1).params.windw" in p for p in problems), problems


def test_round_trip_yaml_of_tm_2026_is_plain_data():
    data = yaml.safe_load((compliance_profiles_dir() / "tm-2026.yaml").read_text())
    assert validate_profile(data, "tm").id == "tm-2026"


def test_check_config_reports_compliance_profile_errors(tmp_path):
    from minewatch.validation import check_facility

    (tmp_path / "mine.yaml").write_text(
        yaml.safe_dump({**BASE, "rules": [{**RULE, "kind": "thresold"}]})
    )
    (tmp_path / "facility.yaml").write_text(
        "facility: {id: s, name: S}\nlicence: {number: L-1, capacity_kw: 10}\nanalysis: "
        "{compliance_profile: mine.yaml}\n"
    )
    problems = check_facility(tmp_path / "facility.yaml")
    assert any("(R-1).kind: unknown rule kind 'thresold'" in p for p in problems), problems
