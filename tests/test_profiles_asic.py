"""The shipped ASIC and hall-sensor profiles: complete, sourced and self-consistent."""

from __future__ import annotations

import pytest

from minewatch.profiles import DeviceKind, load_profiles

PROFILES = load_profiles()
ASICS = sorted(pid for pid, p in PROFILES.items() if p.kind == DeviceKind.asic_miner)
GENERIC = sorted(pid for pid in ASICS if (api := PROFILES[pid].miner_api) and api.generic)
#: Rows of the model table: a family's mapping and limits with the model's rating.
ROWS = sorted(pid for pid in GENERIC if PROFILES[pid].rated)
FAMILIES = sorted(set(GENERIC) - set(ROWS))
EXACT = sorted(set(ASICS) - set(GENERIC))


def test_required_models_ship() -> None:
    assert {"antminer-s21", "antminer-s21-hydro", "whatsminer-m60", "antminer-s19-xp"} <= set(EXACT)
    families = {"antminer-x9", "antminer-s9k", "antminer-x17-x19", "antminer-x21"}
    assert families | {"whatsminer-m2x-m3x", "whatsminer-m5x-m6x"} <= set(FAMILIES)
    assert {"antminer-s9", "antminer-s19-pro", "whatsminer-m30s", "whatsminer-m50"} <= set(ROWS)
    assert PROFILES["hall-sensor-mqtt"].kind == DeviceKind.env_sensor


@pytest.mark.parametrize("pid", EXACT)
def test_model_profile_is_rated_sourced_and_consistent(pid: str) -> None:
    p = PROFILES[pid]
    power, hashrate, eff = (
        p.rated[k].value for k in ("power_w", "hashrate_ths", "efficiency_j_th")
    )
    assert abs(power - hashrate * eff) / power < 0.03, "power must equal hashrate x J/TH within 3 %"
    assert "chip_temp_c" in p.limits and all(len(lim.source) > 20 for lim in p.limits.values())
    assert p.mqtt is not None and p.mqtt.fields["power_w"].estimate is True
    assert {"up", "power_w", "hashrate_ths", "chip_temp_c"} <= set(p.mqtt.fields)


@pytest.mark.parametrize("pid", FAMILIES)
def test_family_profile_has_sourced_limits_and_claims_no_rating(pid: str) -> None:
    """A family covers models with different ratings: it must not pretend to one."""
    p = PROFILES[pid]
    assert not p.rated and "chip_temp_c" in p.limits
    assert all(len(lim.source) > 40 for lim in p.limits.values())


@pytest.mark.parametrize("pid", ROWS)
def test_model_row_is_rated_sourced_and_on_its_family(pid: str) -> None:
    p = PROFILES[pid]
    power, hashrate, eff = (
        p.rated[k].value for k in ("power_w", "hashrate_ths", "efficiency_j_th")
    )
    assert power == pytest.approx(hashrate * eff, rel=0.001)
    assert all("/" in r.source and "TH/s" in r.source for r in p.rated.values())
    (family,) = [f for f in FAMILIES if f in p.description]
    assert p.miner_api.fields == PROFILES[family].miner_api.fields  # type: ignore[union-attr]
    assert p.limits == PROFILES[family].limits


@pytest.mark.parametrize(
    ("model", "pid"),
    [
        ("Antminer S9", "antminer-x9"),
        ("Antminer S9j", "antminer-x9"),
        ("Antminer T9+", "antminer-x9"),
        ("Antminer S9k", "antminer-s9k"),
        ("Antminer S17 Pro", "antminer-x17-x19"),
        ("Antminer T17+", "antminer-x17-x19"),
        ("Antminer S19j Pro", "antminer-x17-x19"),
        ("Antminer S19k Pro", "antminer-x17-x19"),
        ("Antminer T19", "antminer-x17-x19"),
        ("Antminer S21 Pro", "antminer-x21"),
        ("Antminer T21", "antminer-x21"),
    ],
)
def test_family_patterns_take_their_models_and_no_other(model: str, pid: str) -> None:
    import re

    matching = [
        p
        for p in FAMILIES
        if PROFILES[p].miner_api.dialect == "antminer"  # type: ignore[union-attr]
        and re.search(PROFILES[p].miner_api.match["model"], model)  # type: ignore[union-attr]
    ]
    assert matching == [pid]


@pytest.mark.parametrize("model", ["Antminer S19 XP", "Antminer S21", "Antminer S21 Hyd."])
def test_models_with_their_own_profile_fall_in_no_family(model: str) -> None:
    import re

    assert not [
        p
        for p in FAMILIES
        if re.search(PROFILES[p].miner_api.match["model"], model)  # type: ignore[union-attr]
    ]


def test_cooling_shape_matches_the_model() -> None:
    hydro = PROFILES["antminer-s21-hydro"].mqtt
    assert hydro is not None and not any(m.startswith("fan_rpm") for m in hydro.fields)
    assert {"coolant_in_temp_c", "coolant_out_temp_c"} <= set(hydro.fields)
    assert "coolant_in_temp_c" in PROFILES["antminer-s21-hydro"].limits
    fans = {
        pid: sum(m.startswith("fan_rpm") for m in PROFILES[pid].miner_api.fields)  # type: ignore[union-attr]
        for pid in EXACT + FAMILIES
    }
    assert fans == {
        "antminer-s19-xp": 4,
        "antminer-s21": 4,
        "antminer-s21-hydro": 0,
        "antminer-s9k": 2,
        "antminer-x17-x19": 4,
        "antminer-x21": 4,
        "antminer-x9": 2,
        "avalon-a1x": 2,
        "whatsminer-m2x-m3x": 2,
        "whatsminer-m5x-m6x": 2,
        "whatsminer-m60": 2,
        "luxos-antminer-s19j-pro": 4,
    }
