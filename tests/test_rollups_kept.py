"""Hourly roll-ups are built as a facility runs and after an import, not by the first long report:
the analyzer's loop builds each hour once it has closed (and its late window passed), and
``minewatch import`` builds the hours it wrote."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from minewatch.analyzer.engine import Analyzer
from minewatch.analyzer.state import AlertStore
from minewatch.cli import app
from minewatch.events import EventBus
from minewatch.sample import Sample
from minewatch.store import SqliteStore
from tests.support.analyzer import T0, S, facility_cfg, facility_yaml

H = 3600 * S


def test_the_analyzer_builds_each_closed_hour_once(tmp_path: Path) -> None:
    cfg = facility_cfg(tmp_path)
    store = SqliteStore(cfg.telemetry_db)
    # hour 0: 360 samples; hour 1 (still open at the first call): 100
    store.write([Sample(T0 + i * 10 * S, "rig-1", "chip_temp_c", 70.0) for i in range(360)])
    store.write([Sample(T0 + H + i * 10 * S, "rig-1", "chip_temp_c", 71.0) for i in range(100)])
    an = Analyzer(cfg, store, AlertStore(cfg.state_db), EventBus(), {})
    late = cfg.analysis.late_window_s * S
    assert an.keep_rollups(T0 + H + late - S) == 0  # hour 0's late window still open
    assert an.keep_rollups(T0 + H + late) == 360  # hour 0 only: hour 1 is open
    assert an.keep_rollups(T0 + H + late + 600 * S) == 0  # nothing new in a closed hour
    store.write([Sample(T0 + 5 * S, "rig-1", "chip_temp_c", 90.0)])  # late into hour 0
    assert an.keep_rollups(T0 + 2 * H + late) == 361 + 100  # hour 0 again, and hour 1
    assert store.materialise_rollups() == 0  # nothing left for a report to build
    hourly = store.hourly(T0, T0 + 2 * H, "chip_temp_c")
    assert hourly is not None and list(hourly["count"]) == [361, 100]
    assert list(hourly["max"]) == [90.0, 71.0]


def test_an_import_leaves_its_hours_built(tmp_path: Path) -> None:
    config = facility_yaml(tmp_path)
    src = tmp_path / "history.jsonl"
    t0 = T0 // S
    src.write_text(
        "".join(
            orjson.dumps(
                {"ts": t0 + 60 * i, "device": "rig-1", "metric": "chip_temp_c", "value": 60}
            ).decode()
            + "\n"
            for i in range(3 * 60)  # three hours at one a minute
        )
    )
    res = CliRunner().invoke(app, ["import", str(src), "--config", str(config)])
    assert res.exit_code == 0, res.output
    out = orjson.loads(res.stdout)
    assert out["samples"] == 180 and out["rollup_samples"] == 180
    store = SqliteStore(facility_cfg(tmp_path).telemetry_db)
    assert store.materialise_rollups() == 0
