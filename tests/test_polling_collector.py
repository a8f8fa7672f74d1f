"""The polling collector end to end: simulated facility equipment and miners, a real SQLite
store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from minewatch.collector.polling import PollingCollector
from minewatch.config.facility import FacilityConfig
from minewatch.config.polling import ModbusTarget
from minewatch.configfile import validate
from minewatch.profiles import load_profiles
from minewatch.registry import load_registry
from minewatch.simulator.modbus_facility import FacilityModbus
from minewatch.store import SqliteStore
from tests.support.minerapi import running, sim_miner
from tests.support.modbus import two_rack_facility
from tests.support.ports import free_port

PROFILES = load_profiles()


def _config(tmp_path: Path, modbus: list, miners: list, port: int) -> FacilityConfig:
    (tmp_path / "registry.csv").write_text(
        "serial,model,zone,rack\nWM60-0001,whatsminer-m60,hall1,A01\n"
        "LUX-0002,luxos-antminer-s19j-pro,hall1,A01\n"
    )
    data = {
        "facility": {"id": "t", "name": "Test"},
        "licence": {"number": "L-1", "capacity_kw": 1000},
        "storage": {"data_dir": str(tmp_path / "data")},
        "registry": str(tmp_path / "registry.csv"),
        "polling": {
            "modbus": [t.model_dump() for t in modbus],
            "miners": miners,
            "write_wait_ms": 50,
            "jitter": 0,
            "discovery": {
                "enabled": True,
                "subnets": ["127.0.0.0/29"],
                "miner_ports": [port],
                "period_s": 10,
                "timeout_s": 0.5,
            },
        },
    }
    return validate(FacilityConfig, data, "test facility").model_copy(update={"base_dir": tmp_path})


async def test_collector_polls_everything_and_a_dead_device_stops_nobody(tmp_path: Path) -> None:
    sim = FacilityModbus(two_rack_facility(), PROFILES, free_port)
    await sim.start()
    sim.inject(
        "modbus_silent", "pdu-A01"
    )  # behind the same gateway as pdu-B01: only that unit is dead
    sim.inject("smoke_alarm")
    targets = [t.model_copy(update={"timeout_s": 0.3}) for t in sim.targets()]
    port = free_port()
    miners = [
        sim_miner("whatsminer-m60", "WM60-0001"),
        sim_miner("luxos-antminer-s19j-pro", "LUX-0002"),
        sim_miner("whatsminer-m60", "WM60-ROGUE"),
        sim_miner("whatsminer-m60", "WM60-HUNG"),
    ]
    miners[3].hang = True
    miner_cfg = [
        {"host": f"127.0.0.{i + 1}", "port": port, "interval_s": 1, "timeout_s": 0.5}
        for i in range(4)
    ]
    cfg = _config(tmp_path, targets, miner_cfg, port)
    store = SqliteStore(cfg.telemetry_db)
    collector = PollingCollector(
        cfg, store, PROFILES, registry=load_registry(tmp_path / "registry.csv", set(PROFILES))
    )
    try:
        async with running(miners, port=port):
            collector.start()
            await asyncio.sleep(4.5)
            await asyncio.to_thread(collector.stop)
    finally:
        await sim.stop()
    stats = collector.stats()
    devices = store.devices().set_index("device")
    latest = {(r.device, r.metric): r.value for r in store.latest().itertuples()}
    counts = store.query(0, 2**62, metrics=["up"]).groupby("device").size().to_dict()

    # every Modbus device registered with its role
    roles = devices["role"].to_dict()
    assert {
        roles[n] for n in ("revenue-meter", "pdu-A01", "pdu-B01", "cooling-cdu", "fire-panel")
    } == {"revenue_meter", "rack_pdu", "cooling", "fire_panel"}
    assert roles["env-hall1-modbus"] == "hall_sensor" and devices.loc["pdu-B01", "rack"] == "B01"
    # the dead PDU is down; its neighbour on the same gateway and every other device kept being
    # polled
    assert latest[("pdu-A01", "up")] == 0.0 and latest[("pdu-B01", "up")] == 1.0
    assert all(
        counts[d] >= 3
        for d in ("revenue-meter", "pdu-B01", "cooling-cdu", "fire-panel", "env-hall2-modbus")
    )
    # rigs 26,800 W + 1,500 W cooling overhead, read with the meter's measurement noise
    assert latest[("revenue-meter", "power_w")] == pytest.approx(28300.0, rel=0.01)
    assert latest[("fire-panel", "smoke_bool")] == 1.0
    # miners: the hung one is down (by its host:port until it ever answers), the others mapped by
    # serial
    assert latest[("WM60-0001", "power_w")] == 3250.0 and latest[("LUX-0002", "up")] == 1.0
    assert devices.loc["WM60-0001", "zone"] == "hall1" and devices.loc["WM60-0001", "role"] == "rig"
    assert counts["WM60-0001"] >= 3
    assert not any(d.startswith("127.0.0.4") for d in counts)  # never identified, so never a device
    assert stats["miner_errors_total"]["timeout"] >= 2
    # discovery ran once at start: the rogue miner is flagged for the analyzer
    assert (
        latest[("WM60-ROGUE", "registered_bool")] == 0.0
        and latest[("discovery", "unregistered_count")] == 1.0
    )
    assert latest[("WM60-0001", "registered_bool")] == 1.0
    # read-only: every request any simulated device received was a read (function codes 1-4)
    codes = sim.function_codes()
    assert codes and set(codes) <= {1, 2, 3, 4} and sum(codes.values()) == len(sim.requests())
    assert (
        stats["written_total"] > 0
        and stats["modbus_devices"] == 8
        and stats["modbus_devices_up"] == 7
    )  # incl. pdu-cooling


def test_unknown_or_unfit_profiles_are_refused_with_every_problem_named(tmp_path: Path) -> None:
    from minewatch.configfile import ConfigError

    target = ModbusTarget(name="m1", profile="no-such-meter", host="127.0.0.1")
    fit = ModbusTarget(
        name="m2", profile="whatsminer-m60", host="127.0.0.1", unit_id=2
    )  # a miner, not Modbus
    cfg = _config(
        tmp_path, [target, fit], [{"host": "127.0.0.9", "profile": "eastron-sdm630"}], 4028
    )
    with pytest.raises(ConfigError) as err:
        PollingCollector(cfg, SqliteStore(tmp_path / "t.db"), PROFILES)
    assert err.value.problems == [
        "polling.modbus[0].profile: unknown device profile 'no-such-meter' (device 'm1')",
        "polling.modbus[1].profile: device profile has no modbus: section 'whatsminer-m60' "
        "(device 'm2')",
        "polling.miners[0].profile: device profile has no miner_api: section 'eastron-sdm630' "
        "(miner 127.0.0.9)",
    ]
