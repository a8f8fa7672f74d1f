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
from tests.support.modbus import two_rack_facility


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
