"""Discovery on loopback: 127.0.0.0/29 with miners on several 127.0.0.x addresses and one port."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.collector.discovery import as_samples, compare, hosts_of, miner_registry, scan
from minewatch.profiles import load_profiles
from minewatch.registry import load_registry
from minewatch.simulator.modbus_server import SimModbusServer, SimUnit
from tests.support.minerapi import running, sim_miner
from tests.support.ports import free_port

PROFILES = load_profiles()
REGISTRY = """serial,model,zone,rack
LUX-0001,luxos-antminer-s19j-pro,hall1,A01
WM60-0002,whatsminer-m60,hall1,A01
BMS21-0003,antminer-s21,hall1,A02
BMS21-0099,antminer-s21,hall1,A02
env-hall1,hall-sensor-mqtt,hall1,
"""


def _miners() -> list:
    return [
        sim_miner(
            "luxos-antminer-s19j-pro", "LUX-0001"
        ),  # 127.0.0.1: registered, serial from the API
        sim_miner("whatsminer-m60", "WM60-0002"),  # 127.0.0.2: registered
        sim_miner("antminer-s21", "BMS21-0003"),  # 127.0.0.3: no serial on 4028; known from config
        sim_miner("whatsminer-m60", "WM60-ROGUE"),  # 127.0.0.4: the injected unregistered miner
        sim_miner("antminer-s19-xp", "BMS19XP-NOCFG"),  # 127.0.0.5: no serial, not in config
    ]


def test_hosts_of_small_range_and_refuses_huge_ones() -> None:
    assert hosts_of(["127.0.0.0/29"], 256) == [f"127.0.0.{i}" for i in range(1, 7)]
    assert hosts_of(["127.0.0.9/32"], 1) == ["127.0.0.9"]
    try:
        hosts_of(["10.0.0.0/8"], 65536)
    except ValueError as exc:
        assert "more than max_hosts" in str(exc)
    else:
        raise AssertionError("a /8 must be refused")


async def test_discovery_finds_exactly_the_injected_unregistered_miner(tmp_path: Path) -> None:
    (tmp_path / "registry.csv").write_text(REGISTRY)
    registry = load_registry(tmp_path / "registry.csv", set(PROFILES))
    port = free_port()
    async with running(_miners(), port=port):
        found = await scan(
            hosts_of(["127.0.0.0/29"], 256), PROFILES, miner_ports=[port], timeout_s=1.0
        )
    result = compare(found, miner_registry(registry, PROFILES), {f"127.0.0.3:{port}": "BMS21-0003"})
    assert [(r["serial"], r["host"], r["profile"]) for r in result.unregistered] == [
        ("WM60-ROGUE", "127.0.0.4", "whatsminer-m60")
    ]
    assert sorted(r["serial"] for r in result.registered_seen) == [
        "BMS21-0003",
        "LUX-0001",
        "WM60-0002",
    ]
    assert [r["serial"] for r in result.registered_missing] == [
        "BMS21-0099"
    ]  # the hall sensor is no miner
    # a registered miner the scan missed but the poller hears from is seen, not missing
    polled = compare(
        found,
        miner_registry(registry, PROFILES),
        {f"127.0.0.3:{port}": "BMS21-0003"},
        {"BMS21-0099"},
    )
    assert polled.registered_missing == [] and polled.registered_seen[-1]["seen_by"] == "polling"
    assert [(r["host"], r["model"], r["profile"]) for r in result.unidentified] == [
        ("127.0.0.5", "Antminer S19 XP", "antminer-s19-xp")
    ]
    samples, metas = as_samples(result, 1)
    flags = {(s.device, s.metric): s.value for s in samples}
    assert (
        flags[("WM60-ROGUE", "registered_bool")] == 0.0
        and flags[("LUX-0001", "registered_bool")] == 1.0
    )
    assert flags[("BMS21-0099", "discovery_seen_bool")] == 0.0
    assert (
        flags[("discovery", "unregistered_count")] == 1.0
        and flags[("discovery", "discovered_count")] == 5.0
    )
    assert any(m.device == "WM60-ROGUE" and m.role == "rig" for m in metas)


async def test_discover_command_with_modbus_probe(tmp_path: Path) -> None:
    (tmp_path / "registry.csv").write_text(REGISTRY)
    port, mb_port = free_port(), free_port()
    meter = SimModbusServer(
        [SimUnit("m", PROFILES["generic-th-sensor"], 1, lambda: {"ambient_temp_c": 20.0})],
        mb_port,
        host="127.0.0.6",
    )
    await meter.start()
    try:
        async with running(_miners()[:4], port=port):
            # the CLI runs its own event loop: run it in a worker thread while this loop serves
            res = await asyncio.to_thread(
                CliRunner().invoke,
                app,
                [
                    "discover",
                    "--subnet",
                    "127.0.0.0/29",
                    "--port",
                    str(port),
                    "--registry",
                    str(tmp_path / "registry.csv"),
                    "--modbus",
                    "--modbus-port",
                    str(mb_port),
                    "--timeout",
                    "1",
                    "--json",
                ],
            )
    finally:
        await meter.stop()
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert [r["serial"] for r in out["unregistered"]] == ["WM60-ROGUE"]
    # without a config mapping 127.0.0.3 to its serial, the stock Antminer there is unidentified
    assert [r["serial"] for r in out["registered_missing"]] == ["BMS21-0003", "BMS21-0099"]
    assert [r["host"] for r in out["unidentified"]] == ["127.0.0.3"]
    assert [(r["host"], r["port"]) for r in out["modbus"]] == [("127.0.0.6", mb_port)]
    assert {fc for fc in (r.function_code for r in meter.requests)} <= {3}  # the probe only reads


def test_discover_refuses_a_bad_subnet() -> None:
    res = CliRunner().invoke(app, ["discover", "--subnet", "10.0.0.0/33"])
    assert res.exit_code != 0
