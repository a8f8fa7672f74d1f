"""End to end through real parts: simulator → Mosquitto → MQTT collector → SQLite → analyzer → API.

An overheat injected through the API's admin endpoint fires an alert that the API serves, and the
alert resolves once the fault is cleared and the rig has cooled. The parts are wired by
``minewatch.runtime.Runtime``, the same code ``minewatch demo`` runs; only the broker is the test
harness's Mosquitto, and a test compliance profile makes it quick (80 °C for 1 s, clear below 77 °C:
the simulated chips idle at 62-76 °C and head for their limit + 15 °C when overheating).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from minewatch.api.auth import TokenTable
from minewatch.config import load_facility
from minewatch.resources import demo_config
from minewatch.runtime import Runtime
from tests.support import waiting
from tests.support.api import TOKENS, TOKENS_ENV
from tests.support.mosquitto import Broker

RIG = "BMS21-000002"

E2E_PROFILE = {
    "id": "e2e",
    "title": "End-to-end overheat",
    "jurisdiction": "test",
    "version": "1",
    "rules": [
        {
            "id": "TH-E2E",
            "title": "Chip over-temperature (test)",
            "kind": "threshold",
            "family": "thermal",
            "severity": "critical",
            "selector": {"role": "rig"},
            "for": "1s",
            "params": {
                "metric": "chip_temp_c",
                "above": 80,
                "clear_above": 77,
                "max_age": "10s",
                "unit": "°C",
            },
            "source": "test threshold",
        }
    ],
}


def e2e_facility(tmp_path: Path, broker: Broker) -> Path:
    """The demo facility cut down to three rigs and its hall sensors, on the test broker, evaluated
    every 0.7 s."""
    rows = (demo_config().parent / "registry.csv").read_text().splitlines()
    keep = [rows[0], *rows[1:4], *(r for r in rows if r.startswith("env-"))]
    (tmp_path / "registry.csv").write_text("\n".join(keep) + "\n")
    (tmp_path / "e2e.yaml").write_text(yaml.safe_dump(E2E_PROFILE))
    cfg = yaml.safe_load(demo_config().read_text())
    cfg["registry"] = "registry.csv"
    cfg["storage"]["data_dir"] = "data"
    cfg["mqtt"].update(host=broker.host, port=broker.port, client_id="e2e-collector")
    # 0.7 s, not a multiple of the simulator's 0.5 s: no phase lock between publishing and
    # evaluation;
    # the device table re-read every second (the default 30 s leaves a fresh analyzer blind that
    # long)
    cfg["analysis"] = {"compliance_profile": "e2e.yaml", "interval_s": 0.7, "devices_refresh_s": 1}
    (tmp_path / "facility.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path / "facility.yaml"


@pytest.fixture
def running(tmp_path: Path, mosquitto: Broker) -> Iterator[Runtime]:
    rt = Runtime(load_facility(e2e_facility(tmp_path, mosquitto)))
    rt.tokens = TokenTable.parse(TOKENS_ENV, "test tokens")
    rt.simulate([], interval_s=0.5)
    rt.add_analyzer(required=True)
    rt.add_api(port=0)
    rt.supervisor.start_all()
    yield rt
    rt.supervisor.stop_all()


def wait_for(what: str, probe: Callable[[], Any], timeout_s: float = 90.0) -> Any:
    return waiting.wait_for(probe, timeout_s, what, poll_s=0.25)


def test_injected_overheat_fires_and_resolves(running: Runtime) -> None:
    api = httpx.Client(
        base_url=running.api_url or "",
        timeout=10,
        headers={"Authorization": f"Bearer {TOKENS['admin']}"},
    )
    names = {n for n, _ in running.supervisor.parts}
    assert {"broker", "mqtt_collector", "simulator", "analyzer", "api"} - {"broker"} <= names

    def alerts(state: str) -> list[dict[str, Any]]:
        return [
            a
            for a in api.get("/api/v1/alerts", params={"state": state}).json()["items"]
            if a["rule_id"] == "TH-E2E" and a["subject"] == RIG
        ]

    # telemetry flows: every rig is online, power comes from the rigs (the demo has no meter over
    # MQTT)
    facility = wait_for(
        "three rigs online",
        lambda: (
            (f := api.get("/api/v1/facility").json())["devices"]["by_role"]
            .get("rig", {})
            .get("online")
            == 3
            and f
        ),
    )
    assert facility["power"]["source"] == "rigs_sum" and facility["power"]["kw"] > 5
    assert alerts("firing") == []

    resp = api.post("/api/v1/admin/faults", json={"fault": "overheat", "target": RIG})
    assert resp.status_code == 200, resp.text
    [alert] = wait_for("the overheat alert to fire", lambda: alerts("firing"))
    assert alert["severity"] == "critical" and alert["value"] > 80 and alert["threshold"] == 80
    summary = api.get("/api/v1/facility").json()["alerts"]
    assert summary["firing"] >= 1 and summary["firing_by_severity"]["critical"] >= 1
    assert RIG in [a["subject"] for a in api.get(f"/api/v1/devices/{RIG}").json()["active_alerts"]]

    assert (
        api.delete("/api/v1/admin/faults", params={"fault": "overheat", "target": RIG}).status_code
        == 200
    )
    [resolved] = wait_for("the alert to resolve as the rig cools", lambda: alerts("resolved"))
    assert resolved["id"] == alert["id"] and resolved["resolved_at"] > resolved["fired_at"]
    states = [t["to_state"] for t in api.get(f"/api/v1/alerts/{alert['id']}").json()["transitions"]]
    assert states == ["pending", "firing", "resolved"]
    health = api.get("/health").json()["components"]
    assert health["mqtt_collector"]["stored_samples"] > 0 and health["analyzer"]["cycles"] > 0
