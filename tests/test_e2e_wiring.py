"""Where a bus meets a store (``minewatch.wiring.event_bus``): every alert transition a process
publishes is ledgered by the notifier and, on InfluxDB, copied to ``minewatch_alerts`` for Grafana —
in ``demo``/``run`` (the Runtime that writes) and in ``serve`` (the read-only Runtime whose notifier
only queues)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from minewatch.config import FacilityConfig
from minewatch.config.storage import InfluxSettings
from minewatch.events import Event
from minewatch.ledger import Ledger
from minewatch.runtime import Runtime
from minewatch.sample import now_ns
from tests.support.api import facility_config
from tests.support.influx import Server, influxql


def influx_facility(data_dir: Path, influx: InfluxSettings) -> FacilityConfig:
    cfg = facility_config(data_dir)
    return cfg.model_copy(
        update={
            "storage": cfg.storage.model_copy(update={"backend": "influxdb", "influxdb": influx})
        }
    )


@pytest.mark.parametrize("writes", [True, False], ids=["run", "serve"])
def test_runtime_bus_ledgers_and_copies_alert_transitions(
    tmp_path: Path,
    influxd_server: Server,
    v1_settings: Callable[[Server], InfluxSettings],
    writes: bool,
) -> None:
    settings = v1_settings(influxd_server)
    rt = Runtime(influx_facility(tmp_path / "data", settings), writes=writes)
    assert rt.notifier is not None and rt.notifier.deliver is writes
    at = now_ns()
    rt.bus.publish(
        Event(
            "alert.transition",
            at,
            "analyzer",
            "FS-01:fire-panel",
            {
                "alert_id": 3,
                "rule_id": "FS-01",
                "family": "fire",
                "severity": "critical",
                "subject": "fire-panel",
                "from_state": "pending",
                "to_state": "firing",
                "value": 1.0,
                "threshold": 0.5,
                "unit": "",
                "reason": "smoke_bool active",
                "regulator_notifiable": True,
            },
        )
    )
    try:
        assert rt.bus.failures == 0
        [entry] = [
            e
            for e in Ledger(tmp_path / "data" / "state.db").entries()
            if e.kind == "alert.transition"
        ]
        assert entry.subject == "FS-01:fire-panel" and entry.payload["to_state"] == "firing"
        rows = influxql(
            influxd_server,
            'SELECT "state", "alert_id" FROM "minewatch_alerts" GROUP BY "rule_id"',
            settings.database,
        )[0]["series"]
        assert [(r["tags"], r["values"]) for r in rows] == [
            ({"rule_id": "FS-01"}, [[at, "firing", 3]])
        ]
    finally:
        rt.store.close()
