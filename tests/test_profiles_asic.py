"""The shipped ASIC and hall-sensor profiles: complete, sourced and self-consistent."""

from __future__ import annotations

import pytest

from minewatch.profiles import DeviceKind, load_profiles

PROFILES = load_profiles()
ASICS = sorted(pid for pid, p in PROFILES.items() if p.kind == DeviceKind.asic_miner)


def test_required_models_ship() -> None:
    assert {"antminer-s21", "antminer-s21-hydro", "whatsminer-m60", "antminer-s19-xp"} <= set(ASICS)
    assert PROFILES["hall-sensor-mqtt"].kind == DeviceKind.env_sensor


@pytest.mark.parametrize("pid", ASICS)
def test_asic_profile_is_rated_sourced_and_consistent(pid: str) -> None:
    p = PROFILES[pid]
    power, hashrate, eff = (
        p.rated[k].value for k in ("power_w", "hashrate_ths", "efficiency_j_th")
    )
    assert abs(power - hashrate * eff) / power < 0.03, "power must equal hashrate x J/TH within 3 %"
    assert all(
        "research/miners.md" in r.source or "github" in r.source or "/" in r.source
        for r in p.rated.values()
    )
    assert "chip_temp_c" in p.limits and all(len(lim.source) > 20 for lim in p.limits.values())
    assert p.mqtt is not None and p.mqtt.fields["power_w"].estimate is True
    assert {"up", "power_w", "hashrate_ths", "chip_temp_c"} <= set(p.mqtt.fields)


def test_cooling_shape_matches_the_model() -> None:
    hydro = PROFILES["antminer-s21-hydro"].mqtt
    assert hydro is not None and not any(m.startswith("fan_rpm") for m in hydro.fields)
    assert {"coolant_in_temp_c", "coolant_out_temp_c"} <= set(hydro.fields)
    assert "coolant_in_temp_c" in PROFILES["antminer-s21-hydro"].limits
    fans = {pid: sum(m.startswith("fan_rpm") for m in PROFILES[pid].mqtt.fields) for pid in ASICS}
    assert fans == {
        "antminer-s19-xp": 4,
        "antminer-s21": 4,
        "antminer-s21-hydro": 0,
        "whatsminer-m60": 2,
        "luxos-antminer-s19j-pro": 4,
    }
