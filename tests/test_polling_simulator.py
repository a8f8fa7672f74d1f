"""The simulated facility equipment: coherent values and every fault the demo can inject."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from minewatch.collector.minerapi.miner import MinerPoller
from minewatch.config.polling import MinerTarget, ModbusTarget
from minewatch.counters import Counters
from minewatch.profiles import load_profiles
from minewatch.sample import now_ns
from minewatch.simulator.facility import SimFacility
from minewatch.simulator.layout import rig_layout
from minewatch.simulator.modbus_runner import PollingSimulator
from tests.support.modbus import device_for, two_rack_facility

PROFILES = load_profiles()


def _read(target: ModbusTarget) -> dict[str, float]:
    async def go() -> dict[str, float]:
        dev = device_for(target.model_copy(update={"timeout_s": 0.3}), PROFILES[target.profile])
        try:
            return {s.metric: s.value for s in (await dev.poll(now_ns())).samples}
        finally:
            dev.link.close()

    return asyncio.run(go())


@pytest.fixture
def sim():  # type: ignore[no-untyped-def]
    s = PollingSimulator(two_rack_facility(), PROFILES)
    s.start()
    yield s
    s.stop()


def test_faults_change_what_the_devices_report(sim: PollingSimulator) -> None:
    by_name = {t.name: t for t in sim.modbus.targets()}
    meter, cooling, fire = by_name["revenue-meter"], by_name["cooling-cdu"], by_name["fire-panel"]
    normal = _read(meter)
    assert normal["voltage_v_l1"] == pytest.approx(220.0, rel=0.02)
    assert normal["current_a_l1"] == pytest.approx(normal["current_a_l3"], rel=0.02)
    assert normal["power_w"] == pytest.approx(
        sum(normal[f"power_w_l{i}"] for i in (1, 2, 3)), rel=1e-6
    )

    sim.inject("over_voltage")
    sim.inject("phase_imbalance")
    faulty = _read(meter)
    assert faulty["voltage_v_l1"] > 240 and faulty["current_a_l1"] > 1.5 * faulty["current_a_l3"]

    assert _read(cooling)["pump_state"] == 1.0
    sim.inject("coolant_pump_failure")
    pump = _read(cooling)
    assert (
        pump["pump_state"] == 0.0
        and pump["pump_fault_bool"] == 1.0
        and pump["coolant_flow_lpm"] == 0.0
    )

    sim.inject("smoke_alarm")
    assert _read(fire)["smoke_bool"] == 1.0 and _read(fire)["fire_fault_bool"] == 0.0
    sim.clear("smoke_alarm")
    assert _read(fire)["smoke_bool"] == 0.0

    sim.inject("modbus_silent", "cooling-cdu")
    assert _read(cooling) == {"up": 0.0}
    sim.clear("modbus_silent", "cooling-cdu")
    assert _read(cooling)["up"] == 1.0


def test_every_rig_answers_its_api_and_a_hang_can_be_injected(sim: PollingSimulator) -> None:
    settings = sim.polling_settings(miner_interval_s=10)
    assert (
        len(settings["miners"]) == 8 and len(settings["modbus"]) == 8
    )  # incl. the cooling feeder's sub-meter
    first = settings["miners"][0]

    def poll() -> dict[str, float]:
        target = MinerTarget(**{**first, "timeout_s": 0.5})
        return {
            s.metric: s.value
            for s in asyncio.run(MinerPoller(target, PROFILES, Counters(), None).poll(now_ns()))
        }

    assert (
        poll()["power_w"] == 3000.0
    )  # the facility model's rig power, reported as a firmware estimate
    sim.inject("miner_api_hang", first["serial"])
    assert poll() == {"up": 0.0, "api_state": 0.0}
    with pytest.raises(ValueError, match="unknown"):
        sim.inject("meteor_strike")


async def test_facility_model_drives_meter_and_rig_apis_and_discovery_finds_an_unregistered_rig(
    tmp_path,
) -> None:  # type: ignore[no-untyped-def]
    """With the demo's SimFacility: the meter reads rigs + cooling, and a rig switched on without
    registration answers its API and is found by discovery over the fleet's range."""
    from minewatch.collector.discovery import compare, hosts_of, scan
    from minewatch.simulator.facility import SimFacility
    from minewatch.simulator.layout import rig_layout

    layout = rig_layout(20)
    facility = SimFacility(layout, PROFILES, seed=3)
    facility.step(1_780_000_000.0)
    sim = PollingSimulator(facility, PROFILES)
    await asyncio.to_thread(sim.start)
    try:
        settings = sim.polling_settings()
        meter = next(ModbusTarget(**t) for t in settings["modbus"] if t["role"] == "revenue_meter")
        values = await asyncio.to_thread(_read, meter)
        assert values["power_w"] == pytest.approx(
            facility.facility_power_w(), rel=0.01
        )  # with meter noise
        rogue = await asyncio.to_thread(
            sim.inject, "unregistered", None
        )  # the facility model's own fault
        await asyncio.sleep(1.5)  # the runner gives the new rig its API within a second
        disc = settings["discovery"]
        found = await scan(
            hosts_of(disc["subnets"], 4096),
            PROFILES,
            miner_ports=disc["miner_ports"],
            timeout_s=1.0,
        )
    finally:
        await asyncio.to_thread(sim.stop)
    registry = {e.serial: e for e in layout}
    result = compare(
        found, registry, {f"{m['host']}:{m['port']}": m["serial"] for m in settings["miners"]}
    )
    # the rogue copies the first rig's model, a stock Antminer S21: no serial on its API, so
    # discovery lists
    # it as seen-but-unidentified (on an address no configured miner uses) rather than guessing an
    # identity
    assert facility.rig(rogue).profile_id == "antminer-s21" and result.unregistered == []
    assert [(r["host"], r["profile"]) for r in result.unidentified] == [
        (sim.fleet.servers[rogue].host, "antminer-s21")
    ]
    assert not result.registered_missing and len(result.registered_seen) == 20


@pytest.fixture
def demo_model() -> Iterator[tuple[SimFacility, PollingSimulator]]:
    facility = SimFacility(rig_layout(20), PROFILES, seed=5)
    facility.step(1_780_000_000.0)  # the model does not move again: only the meter's own noise can
    s = PollingSimulator(facility, PROFILES, miners=False)
    s.start()
    yield facility, s
    s.stop()


def test_meter_reads_like_a_real_one(demo_model: tuple[SimFacility, PollingSimulator]) -> None:
    """Every poll differs a little (a frozen register is a fault the analyzer's DQ-04 reports, so
    the healthy simulator must never look frozen), the energy counter only rises, voltage and
    frequency stay near nominal, and the sub-meters add up to the revenue meter."""
    facility, s = demo_model
    targets = {t.name: t for t in s.modbus.targets()}
    polls = []
    for _ in range(6):
        polls.append(_read(targets["revenue-meter"]))
        time.sleep(0.4)  # ~70 kW for 0.4 s: 8 Wh, above the float32 register's resolution
    for metric in ("power_w", "voltage_v_l1", "voltage_v_l2", "frequency_hz", "current_a_l1"):
        values = [p[metric] for p in polls]
        assert len(set(values)) == len(values), f"{metric} repeats across polls: {values}"
    energy = [p["energy_kwh"] for p in polls]
    assert energy == sorted(energy) and energy[-1] > energy[0]
    for p in polls:
        assert p["power_w"] == pytest.approx(facility.facility_power_w(), rel=0.01)
        assert all(p[f"voltage_v_l{i}"] == pytest.approx(220.0, rel=0.015) for i in (1, 2, 3))
        assert p["frequency_hz"] == pytest.approx(50.0, abs=0.1)
        assert p["voltage_v_l1_l2"] == pytest.approx(380.0, rel=0.015)
    # rack PDUs plus the cooling feeder's sub-meter account for the whole facility (EN-04 sees no
    # gap)
    sub = sum(
        _read(t)["power_w"] for t in targets.values() if t.role in ("rack_pdu", "cooling_feed")
    )
    assert "pdu-cooling" in targets and sub == pytest.approx(facility.facility_power_w(), rel=0.01)
