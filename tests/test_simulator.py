"""The simulated facility: deterministic, physically plausible, and each fault does what it says."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from minewatch.collector.decode import PayloadDecoder
from minewatch.config import load_facility
from minewatch.simulator.build import build_facility, parse_fault
from minewatch.simulator.facility import SimFacility
from minewatch.simulator.layout import rig_layout
from minewatch.simulator.publisher import messages_at

DEMO = Path(__file__).parents[1] / "examples" / "demo" / "facility.yaml"
CFG = load_facility(DEMO)
T0 = datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("Asia/Ashgabat")).timestamp()


def demo(seed: int = 1) -> SimFacility:
    return build_facility(CFG, seed=seed)


def run(f: SimFacility, seconds: float, start: float = T0, every: float = 5.0) -> float:
    t = start
    while t < start + seconds:
        t += every
        f.step(t)
    return t


def test_same_seed_same_telemetry_different_seed_different() -> None:
    a, b, c = demo(7), demo(7), demo(8)
    rounds = [T0 + 5 * k for k in range(4)]
    ma = [messages_at(a, t, "demo") for t in rounds]
    assert ma == [messages_at(b, t, "demo") for t in rounds]
    assert ma != [messages_at(c, t, "demo") for t in rounds]


def test_demo_facility_shape_and_load() -> None:
    f = demo()
    f.step(T0)
    assert len(f.rigs) == 200 and sorted(f.halls) == ["hall1", "hall2"]
    assert {r.profile_id for r in f.rigs} == {
        "antminer-s21",
        "whatsminer-m60",
        "antminer-s21-hydro",
        "antminer-s19-xp",
    }
    share = f.facility_power_w() / (CFG.licence.capacity_kw * 1000)
    assert 0.80 <= share <= 0.90
    for r in f.rigs:
        assert 0.95 * r.rated_power_w < r.power_w < 1.06 * r.rated_power_w
        assert 0.9 * r.rated_hashrate_ths < r.hashrate_ths < 1.06 * r.rated_hashrate_ths
        assert r.chip_temp_c < r.chip_limit_c - 10 and r.board_temp_c < r.chip_temp_c
        assert len(r.fan_rpm) == r.n_fans and all(3000 <= x <= 6800 for x in r.fan_rpm)
        if r.cooling == "hydro":
            assert r.coolant_in_temp_c < r.coolant_out_temp_c < r.chip_temp_c


def test_every_simulated_payload_decodes_without_a_reject() -> None:
    f = demo()
    from minewatch.profiles import load_facility_profiles
    from minewatch.registry import facility_registry

    profiles = load_facility_profiles(CFG)
    dec = PayloadDecoder(CFG.device_groups, profiles, facility_registry(CFG, set(profiles)))
    msgs = messages_at(f, T0, "demo")
    assert len(msgs) == 202
    decoded = [dec.decode(t, p, int(T0 * 1e9)) for t, p in msgs]
    assert [r for d in decoded for r in d.rejects] == []
    by_model = {d.profile.id: len(d.samples) for d in decoded if d.profile}
    assert by_model == {
        "antminer-s21": 12,
        "whatsminer-m60": 10,
        "antminer-s21-hydro": 8,
        "antminer-s19-xp": 12,
        "hall-sensor-mqtt": 2,
    }


def test_hall_climate_follows_the_local_day() -> None:
    f = demo()
    afternoon = datetime(2026, 7, 1, 15, 0, tzinfo=ZoneInfo("Asia/Ashgabat")).timestamp()
    f.step(afternoon)
    hot = (f.halls["hall1"].ambient_temp_c, f.halls["hall1"].humidity_pct)
    f.step(afternoon + 12 * 3600)
    cool = (f.halls["hall1"].ambient_temp_c, f.halls["hall1"].humidity_pct)
    assert hot[0] - cool[0] > 8 and hot[1] < cool[1] - 15


def test_overheat_climbs_past_the_limit_with_thermal_lag_then_cools() -> None:
    f = demo()
    f.step(T0)
    rig = f.rigs[0]
    assert f.inject("overheat", rig.serial) == rig.serial
    f.step(T0 + 5)
    assert rig.chip_temp_c < rig.chip_limit_c  # not instantly
    run(f, 60, T0 + 5)
    assert rig.chip_temp_c > rig.chip_limit_c and rig.error_code == 361
    assert rig.hashrate_ths < 0.8 * rig.rated_hashrate_ths  # firmware throttles
    assert f.rigs[1].chip_temp_c < f.rigs[1].chip_limit_c - 10  # neighbours unaffected
    f.clear("overheat", rig.serial)
    run(f, 180, T0 + 65)
    assert rig.chip_temp_c < rig.chip_limit_c - 10 and rig.error_code == 0


def test_fan_failure() -> None:
    f = demo()
    f.step(T0)
    rig, peer = f.rig("WM60-000061"), f.rig("WM60-000062")
    f.inject("fan_fail", rig.serial)
    run(f, 120)
    assert rig.fan_rpm[0] == 0.0 and rig.fan_rpm[1] > 6500 and rig.error_code == 110
    assert rig.chip_temp_c > peer.chip_temp_c + 8
    with pytest.raises(ValueError, match="has no fans"):
        f.inject("fan_fail", f.rig("BMS21H-000011").serial)


def test_silent_rig_stops_publishing_but_still_draws_power() -> None:
    f = demo()
    serial = f.rigs[3].serial
    f.inject("silent", serial)
    msgs = messages_at(f, T0, "demo")
    assert all(serial not in t for t, _ in msgs) and len(msgs) == 201
    assert f.rig(serial).power_w > 3000
    f.clear("silent", serial)
    assert any(serial in t for t, _ in messages_at(f, T0 + 5, "demo"))


def test_unregistered_rig_appears_with_its_model() -> None:
    f = demo()
    f.step(T0)
    serial = f.inject("unregistered")
    assert serial == "UNREG-0001" and f.rig(serial).registered is False
    msgs = dict(messages_at(f, T0 + 5, "demo"))
    payload = orjson.loads(msgs[f"site/demo/rigs/{serial}/status"])
    assert payload["model"] == "antminer-s21" and payload["power_w"] > 3000
    assert {"fault": "unregistered", "target": serial} in f.active_faults()
    f.clear("unregistered")
    assert len(f.rigs) == 200


def test_overload_pushes_facility_load_over_the_licence() -> None:
    f = demo()
    f.step(T0)
    licensed_w = CFG.licence.capacity_kw * 1000
    f.inject("overload")
    f.step(T0 + 5)
    assert 1.05 * licensed_w < f.facility_power_w() < 1.2 * licensed_w
    f.clear("overload")
    f.step(T0 + 10)
    assert f.facility_power_w() < 0.9 * licensed_w


def test_unknown_fault_and_target_are_refused() -> None:
    f = demo()
    with pytest.raises(ValueError, match="unknown fault 'melt'"):
        f.inject("melt")
    with pytest.raises(KeyError, match="no simulated rig 'NOPE'"):
        f.inject("overheat", "NOPE")
    assert parse_fault("overheat:BMS21-000001") == ("overheat", "BMS21-000001")
    assert parse_fault("overload") == ("overload", None)


def test_layout_prefix_property() -> None:
    assert rig_layout(50) == rig_layout(200)[:50]
    assert build_facility(CFG, n_rigs=30).rigs[29].serial == rig_layout(30)[29].serial
