"""The registry as operators keep it (issue #11): the serial registered with the regulator, the id
seen in telemetry, the model as the vendor writes it; check-config says each problem once."""

from __future__ import annotations

from pathlib import Path

import pytest

from minewatch.config.facility import FacilityConfig
from minewatch.configfile import validate
from minewatch.errors import ConfigError
from minewatch.profiles import load_facility_profiles
from minewatch.registry import load_registry


@pytest.fixture(scope="module")
def profiles():
    cfg = validate(
        FacilityConfig,
        {"facility": {"id": "t", "name": "t"}, "licence": {"number": "1", "capacity_kw": 1}},
        "t",
    )
    return load_facility_profiles(cfg)


def test_vendor_model_names_and_telemetry_ids(tmp_path: Path, profiles) -> None:
    reg = tmp_path / "registry.csv"
    reg.write_text(
        "serial,device_id,model,zone,rack\n"
        "SMTTA1234567,rig-a01-01,Antminer S21,hall1,A01\n"
        "SMTTA1234568,,bitmain  antminer s21,hall1,A01\n"
        "WM-1,rig-b01-01,whatsminer-m60,hall1,B01\n"
    )
    entries = load_registry(reg, profiles)
    assert set(entries) == {"rig-a01-01", "SMTTA1234568", "rig-b01-01"}
    a = entries["rig-a01-01"]
    assert (a.serial, a.model, a.model_as_filed) == ("SMTTA1234567", "antminer-s21", "Antminer S21")
    assert entries["SMTTA1234568"].model == "antminer-s21"
    assert entries["SMTTA1234568"].device_id == "SMTTA1234568"


def test_a_repeated_problem_is_reported_once_with_its_count(tmp_path: Path, profiles) -> None:
    rows = [f"S{i},Antminer S99,hall1,A01" for i in range(120)]
    reg = tmp_path / "registry.csv"
    reg.write_text("serial,model,zone,rack\n" + "\n".join(rows) + "\n,Antminer S21,hall1,A01\n")
    with pytest.raises(ConfigError) as exc:
        load_registry(reg, profiles)
    assert exc.value.problems == [
        f"{reg}: lines 2, 3, 4 and 117 more: model: unknown device profile 'Antminer S99' "
        "(120 rows)",
        f"{reg}: line 122: serial: must not be empty",
    ]


def test_the_analyzer_keeps_an_unknown_model_as_written(tmp_path: Path, profiles) -> None:
    reg = tmp_path / "registry.csv"
    reg.write_text("serial,model,zone,rack\nS1,Antminer S99,hall1,A01\n")
    assert load_registry(reg, profiles, strict=False)["S1"].model == "Antminer S99"
