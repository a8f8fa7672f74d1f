"""``minewatch poll --config`` against the simulated facility equipment."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.profiles import load_profiles
from minewatch.simulator.modbus_runner import PollingSimulator
from minewatch.store import SqliteStore
from tests.support.minerapi import ReplayMiner, serving_in_thread
from tests.support.modbus import two_rack_facility
from tests.support.ports import free_port


def test_poll_command_runs_the_collector_into_the_configured_store(tmp_path: Path) -> None:
    sim = PollingSimulator(two_rack_facility(), load_profiles())
    sim.start()
    try:
        polling = sim.polling_settings(miner_interval_s=1)
        polling["discovery"]["enabled"] = False
        (tmp_path / "facility.yaml").write_text(
            yaml.safe_dump(
                {
                    "facility": {"id": "t", "name": "T"},
                    "licence": {"number": "L", "capacity_kw": 100},
                    "storage": {"data_dir": "data"},
                    "polling": polling,
                }
            )
        )
        res = CliRunner().invoke(
            app, ["poll", "--config", str(tmp_path / "facility.yaml"), "--duration", "2.5"]
        )
    finally:
        sim.stop()
    assert res.exit_code == 0, res.output
    stats = json.loads(res.output.strip().splitlines()[-1])
    # meter, two rack PDUs + the cooling feeder's sub-meter, two hall sensors, cooling, fire panel
    assert (
        stats["modbus_devices_up"] == 8 and stats["miners_up"] == 8 and stats["written_total"] > 0
    )
    store = SqliteStore(tmp_path / "data" / "telemetry.db")
    latest = {(r.device, r.metric): r.value for r in store.latest().itertuples()}
    assert latest[("revenue-meter", "up")] == 1.0 and latest[("R000", "power_w")] == 3000.0


def test_miner_probe_identifies_a_real_capture_and_prints_units() -> None:
    with serving_in_thread([ReplayMiner("antminer-s19pro-overheat")]) as (server,):
        address = f"{server.host}:{server.port}"
        as_json = CliRunner().invoke(app, ["miner", "probe", address, "--json"])
        as_text = CliRunner().invoke(app, ["miner", "probe", address])
    assert as_json.exit_code == 0, as_json.output
    got = json.loads(as_json.output)
    assert got["read"] and got["profile"] == "antminer-s19" and got["generic_limits"]
    assert got["model"] == "Antminer S19" and got["state"] == "up"
    assert got["metrics"]["chip_temp_c"] == {"value": 97.0, "unit": "°C"}
    assert got["labels"]["pool_url"] == "stratum+tcp://aaa.com:9999#xnsub"
    assert as_text.exit_code == 0 and "generic limits" in as_text.output
    assert "chip_temp_c" in as_text.output and "°C" in as_text.output


def test_miner_probe_exits_non_zero_with_the_reason() -> None:
    with serving_in_thread([ReplayMiner("whatsminer-m20s")]) as (server,):
        unidentified = CliRunner().invoke(app, ["miner", "probe", f"{server.host}:{server.port}"])
    nobody = CliRunner().invoke(
        app, ["miner", "probe", f"127.0.0.1:{free_port()}", "--timeout", "1"]
    )
    assert unidentified.exit_code == 1 and "no profile matches" in unidentified.output
    assert nobody.exit_code == 1 and "does not answer" in nobody.output
    bad = CliRunner().invoke(app, ["miner", "probe", "10.0.0.1:http"])
    assert bad.exit_code != 0 and "port must be a number" in str(bad.exception)


def test_discover_names_the_model_and_flags_generic_limits() -> None:
    with serving_in_thread([ReplayMiner("antminer-s17pro")]) as (server,):
        args = ["discover", "--subnet", f"{server.host}/32", "--port", str(server.port)]
        text = CliRunner().invoke(app, args)
        as_json = CliRunner().invoke(app, [*args, "--json"])
    assert text.exit_code == 0, text.output
    line = next(ln for ln in text.output.splitlines() if "Antminer S17" in ln)
    assert "antminer-x17-x19 (generic limits)" in line
    (row,) = json.loads(as_json.output)["unidentified"]  # stock Antminers give no serial on 4028
    assert (row["model"], row["profile"], row["generic_limits"]) == (
        "Antminer S17",
        "antminer-x17-x19",
        True,
    )
