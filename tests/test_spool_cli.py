"""``minewatch store init|spool-status|replay`` on a real InfluxDB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.config import load_facility
from minewatch.sample import NS_PER_S, Sample
from minewatch.store import open_store
from tests.support.influx import ADMIN_PASSWORD, ADMIN_USER, Server, influxql
from tests.support.ports import free_port

T0 = 1_767_225_600 * NS_PER_S
runner = CliRunner()


def _config(tmp_path: Path, url: str, db: str = "mw_cli") -> Path:
    f = tmp_path / "facility.yaml"
    f.write_text(f"""
facility: {{id: cli-site, name: CLI site}}
licence: {{number: L-1, capacity_kw: 100}}
storage:
  backend: influxdb
  data_dir: data
  influxdb:
    {{url: "{url}", api: v1, database: {db}, username: {ADMIN_USER}, password_env: CLI_INFLUX_PW}}
""")
    return f


def test_spool_status_and_replay_after_an_outage(
    influxd_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLI_INFLUX_PW", ADMIN_PASSWORD)
    down = _config(tmp_path, f"http://127.0.0.1:{free_port()}")
    store = open_store(load_facility(down))
    store.write([Sample(T0 + i * NS_PER_S, "rig-1", "power_w", float(i)) for i in range(25)])
    store.close()

    status = runner.invoke(app, ["store", "spool-status", "-c", str(down)])
    assert status.exit_code == 0 and json.loads(status.stdout)["spool_samples"] == 25
    assert (
        runner.invoke(app, ["store", "replay", "-c", str(down)]).exit_code == 1
    )  # still down: kept

    up = _config(tmp_path, influxd_server.url)  # the server is back (same data_dir, same spool)
    result = runner.invoke(app, ["store", "replay", "-c", str(up)])
    assert result.exit_code == 0, result.output
    assert "replayed 25 samples" in result.stdout
    rows = influxql(influxd_server, 'SELECT count("power_w") FROM "unclassified"', "mw_cli")
    assert rows[0]["series"][0]["values"][0][1] == 25


def test_init_creates_the_database_and_reports_bad_credentials(
    influxd_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config(tmp_path, influxd_server.url, db="mw_cli_init")
    monkeypatch.setenv("CLI_INFLUX_PW", "wrong")
    bad = runner.invoke(app, ["store", "init", "-c", str(cfg)])
    assert bad.exit_code == 1 and "refused user 'admin'" in bad.output
    monkeypatch.setenv("CLI_INFLUX_PW", ADMIN_PASSWORD)
    assert runner.invoke(app, ["store", "init", "-c", str(cfg)]).exit_code == 0
    dbs = influxql(influxd_server, "SHOW DATABASES")[0]["series"][0]["values"]
    assert ["mw_cli_init"] in dbs
