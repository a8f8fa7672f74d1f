"""The simulated facility equipment: coherent values and every fault the demo can inject."""

from __future__ import annotations

import asyncio

import pytest

from collector.minerapi.miner import MinerPoller
from minewatch.config.polling import MinerTarget, ModbusTarget
from minewatch.counters import Counters
from minewatch.profiles import load_profiles
from minewatch.sample import now_ns
from simulator.modbus_runner import PollingSimulator
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
    assert normal["voltage_v_l1"] == 220.0 and normal["current_a_l1"] == pytest.approx(normal["current_a_l3"])
    assert normal["power_w"] == pytest.approx(sum(normal[f"power_w_l{i}"] for i in (1, 2, 3)), rel=1e-6)

    sim.inject("over_voltage")
    sim.inject("phase_imbalance")
    faulty = _read(meter)
    assert faulty["voltage_v_l1"] > 240 and faulty["current_a_l1"] > 1.5 * faulty["current_a_l3"]

    assert _read(cooling)["pump_state"] == 1.0
    sim.inject("coolant_pump_failure")
    pump = _read(cooling)
    assert pump["pump_state"] == 0.0 and pump["pump_fault_bool"] == 1.0 and pump["coolant_flow_lpm"] == 0.0

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
    assert len(settings["miners"]) == 8 and len(settings["modbus"]) == 7
    first = settings["miners"][0]

    def poll() -> dict[str, float]:
        target = MinerTarget(**{**first, "timeout_s": 0.5})
        return {s.metric: s.value for s in asyncio.run(MinerPoller(target, PROFILES, Counters(), None).poll(now_ns()))}

    assert poll()["power_w"] == 3000.0  # the facility model's rig power, reported as a firmware estimate
    sim.inject("miner_api_hang", first["serial"])
    assert poll() == {"up": 0.0}
    with pytest.raises(ValueError, match="unknown"):
        sim.inject("meteor_strike")
