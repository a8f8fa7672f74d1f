"""Config mistakes: each kind gives a message naming the file, the path inside it and what was
expected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from minewatch.config import load_facility
from minewatch.simulator.layout import registry_csv
from minewatch.validation import check_facility

ROOT = Path(__file__).parents[1]
DEMO = ROOT / "examples" / "demo" / "facility.yaml"


def write_facility(tmp_path: Path, edit: Any = None, registry: str | None = None) -> Path:
    data = yaml.safe_load(DEMO.read_text())
    if edit:
        edit(data)
    path = tmp_path / "facility.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    (tmp_path / "registry.csv").write_text(registry if registry is not None else registry_csv(20))
    return path


def problems_of(tmp_path: Path, edit: Any = None, registry: str | None = None) -> list[str]:
    return check_facility(write_facility(tmp_path, edit, registry))


@pytest.mark.parametrize("config", [DEMO, ROOT / "examples" / "facility.example.yaml"])
def test_shipped_examples_are_valid(config: Path) -> None:
    assert check_facility(config) == []


def test_demo_registry_is_the_generated_layout() -> None:
    assert (ROOT / "examples" / "demo" / "registry.csv").read_text() == registry_csv(200)


def test_bad_type(tmp_path: Path) -> None:
    probs = problems_of(tmp_path, lambda d: d["mqtt"].update(port="abc"))
    assert len(probs) == 1
    assert (
        probs[0].startswith(f"{tmp_path / 'facility.yaml'}: mqtt.port: ")
        and "valid integer" in probs[0]
    )
    assert "(got 'abc')" in probs[0]


def test_missing_key(tmp_path: Path) -> None:
    probs = problems_of(tmp_path, lambda d: d.pop("licence"))
    assert probs == [f"{tmp_path / 'facility.yaml'}: licence: Field required"]


def test_several_mistakes_are_all_reported(tmp_path: Path) -> None:
    def edit(d: dict) -> None:
        d["licence"]["capacity_kw"] = -5
        d["mqtt"]["qos"] = 3
        d["mqtt"]["colour"] = "blue"

    probs = problems_of(tmp_path, edit)
    assert [p.split(": ")[1] for p in probs] == ["licence.capacity_kw", "mqtt.qos", "mqtt.colour"]
    assert "Extra inputs are not permitted" in probs[2]


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("site/demo/rigs/+/status", "exactly one level that is '{device}'"),
        ("site/{device}/rigs/{device}", "exactly one level that is '{device}'"),
        ("site/demo/rig-{device}/status", "exactly one level that is '{device}'"),
        ("site/#/{device}", "'#' only the last level"),
        ("site/a+b/{device}", "'+' must be a whole level"),
        ("$share/g/site/{device}", "must not start with '$'"),
    ],
)
def test_bad_topic_pattern(tmp_path: Path, topic: str, expected: str) -> None:
    probs = problems_of(tmp_path, lambda d: d["device_groups"][0].update(topic=topic))
    assert len(probs) == 1 and ": device_groups[0].topic: " in probs[0] and expected in probs[0]


def test_unknown_profile(tmp_path: Path) -> None:
    probs = problems_of(tmp_path, lambda d: d["device_groups"][1].update(profile="hall-sensor-xyz"))
    assert len(probs) == 1
    assert "device_groups[1].profile: unknown device profile 'hall-sensor-xyz'" in probs[0]
    assert "antminer-s21" in probs[0]  # lists the known ones


def test_inconsistent_mqtt_settings(tmp_path: Path) -> None:
    probs = problems_of(
        tmp_path, lambda d: d["mqtt"].update(protocol="3.1.1", shared_group="hall1")
    )
    assert len(probs) == 1 and "mqtt: Value error, shared_group needs protocol '5'" in probs[0]


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = write_facility(tmp_path)
    lines = path.read_text().splitlines()
    lines.insert(3, "  name: [unclosed")
    path.write_text("\n".join(lines) + "\n")
    probs = check_facility(path)
    assert len(probs) == 1 and probs[0].startswith(f"{path}: line ") and "invalid YAML" in probs[0]
    assert int(probs[0].split("line ")[1].split()[0]) in (4, 5)


def test_bad_registry_rows(tmp_path: Path) -> None:
    reg = (
        registry_csv(3)
        + "BMS21-000001,antminer-s21,hall1,A01\n"
        + ",antminer-s21,hall1,A01\n"
        + "X-1,antminer-s99,hall1,A02\n"
    )
    probs = problems_of(tmp_path, registry=reg)
    reg_path = tmp_path / "registry.csv"
    assert probs == [
        f"{reg_path}: line 7: serial: duplicate 'BMS21-000001'",
        f"{reg_path}: line 8: serial: must not be empty",
        f"{reg_path}: line 9: model: unknown device profile 'antminer-s99'",
    ]


def test_registry_missing_column(tmp_path: Path) -> None:
    probs = problems_of(tmp_path, registry="serial,model,zone\nA,antminer-s21,hall1\n")
    assert probs == [
        f"{tmp_path / 'registry.csv'}: header: missing column(s) rack; expected serial, model, "
        "zone, rack"
    ]


def _bad_profile(tmp_path: Path, mqtt: dict) -> list[str]:
    pdir = tmp_path / "profiles"
    pdir.mkdir()
    (pdir / "my-sensor.yaml").write_text(
        yaml.safe_dump({"kind": "env_sensor", "vendor": "x", "model": "y", "mqtt": mqtt})
    )
    return problems_of(tmp_path, lambda d: d.update(device_profiles_dir="profiles"))


def test_bad_metric_name_in_a_profile(tmp_path: Path) -> None:
    probs = _bad_profile(tmp_path, {"fields": {"temperature": {"path": "t"}}})
    assert len(probs) == 1
    assert probs[0].startswith(f"{tmp_path / 'profiles' / 'my-sensor.yaml'}: mqtt.fields: ")
    assert "metric name 'temperature' must be snake_case and end with its unit" in probs[0]


def test_bad_payload_path_in_a_profile(tmp_path: Path) -> None:
    probs = _bad_profile(tmp_path, {"fields": {"ambient_temp_c": {"path": "temps[x]"}}})
    assert len(probs) == 1 and "mqtt.fields.ambient_temp_c.path: " in probs[0]
    assert "bad payload path 'temps[x]'" in probs[0]


def test_two_fields_reading_one_path(tmp_path: Path) -> None:
    probs = _bad_profile(
        tmp_path, {"fields": {"ambient_temp_c": {"path": "t"}, "inlet_temp_c": {"path": "t"}}}
    )
    assert len(probs) == 1 and "read the same path 't'" in probs[0]


def test_check_config_cli_exits_non_zero_and_lists_problems(tmp_path: Path) -> None:
    path = write_facility(
        tmp_path, lambda d: (d["mqtt"].update(port=0), d["device_groups"][0].update(topic="x"))
    )
    res = subprocess.run(
        [sys.executable, "-m", "minewatch.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert res.returncode == 1
    assert "mqtt.port" in res.stderr and "device_groups[0].topic" in res.stderr
    assert "2 problem(s) found" in res.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "minewatch.cli", "check-config", str(DEMO)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert ok.returncode == 0 and ok.stdout.strip().endswith("OK")


def test_config_error_has_one_root_and_its_old_import_still_works() -> None:
    from minewatch.configfile import ConfigError as FromConfigfile
    from minewatch.errors import ConfigError, MinewatchError

    assert FromConfigfile is ConfigError
    with pytest.raises(MinewatchError) as info:
        load_facility(Path("/nonexistent/facility.yaml"))
    assert isinstance(info.value, ConfigError)
    assert info.value.problems == [
        "/nonexistent/facility.yaml: cannot read: No such file or directory"
    ]


def test_every_file_is_checked_even_when_the_facility_file_is_broken(tmp_path: Path) -> None:
    """11 mistakes in three files, one run: the facility's own, the registry rows and the unknown
    compliance profile (which used to show only once facility.yaml was valid)."""

    def edit(d: dict) -> None:
        d["mqtt"].update(reconnect_min_s=10, reconnect_max_s=5, ca_file="ca.pem", tls=False)
        d["grid"].update(frequency_hz="fifty")
        d["licence"].pop("number")
        d["timezone"] = "Mars/Olympus"
        d["storage"]["backend"] = "oracle"
        d["analysis"]["compliance_profile"] = "tm-2099"
        d["analysis"]["interval_s"] = -1

    good = registry_csv(20).splitlines()
    rows = [*good[:3], "BMS21-000001,antminer-s21,H1,R1", ",antminer-s21,H1,R1", "X1,nosuch,H1,R1"]
    probs = problems_of(tmp_path, edit, "\n".join(rows) + "\n")
    facility = [p for p in probs if p.startswith(str(tmp_path / "facility.yaml"))]
    registry = [p for p in probs if p.startswith(str(tmp_path / "registry.csv"))]
    compliance = [p for p in probs if "tm-2099" in p]
    # frequency, the mqtt pair (one line), number, timezone, backend, interval
    assert len(facility) == 6, facility
    assert "reconnect_max_s 5 must be >= reconnect_min_s 10; ca_file is set but tls is false" in (
        "\n".join(facility)
    )
    assert len(registry) == 3, registry  # duplicate serial, empty serial, unknown model
    assert len(compliance) == 1 and "compliance profile not found" in compliance[0]
    assert len(probs) == 10


def test_client_certificate_settings_go_together(tmp_path: Path) -> None:
    probs = problems_of(tmp_path, lambda d: d["mqtt"].update(cert_file="client.pem"))
    assert probs == [
        f"{tmp_path / 'facility.yaml'}: mqtt: Value error, cert_file is set but tls is false; "
        "cert_file and key_file go together: set both or neither"
    ]
