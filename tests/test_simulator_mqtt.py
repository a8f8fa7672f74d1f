"""The simulator on a real broker: publishing, run-time fault commands, the CLI, and the
collector storing exactly what the simulator sent."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import orjson

from minewatch.collector.mqtt import MqttCollector
from minewatch.config import load_facility
from minewatch.profiles import load_facility_profiles
from minewatch.registry import facility_registry
from minewatch.simulator.build import build_facility
from minewatch.simulator.publisher import SimPublisher
from minewatch.store import SqliteStore
from tests.support.mosquitto import Broker
from tests.support.mqtt import (
    Publisher,
    Subscriber,
    facility_file,
    publish_sim_rounds,
    simulate_command,
    wait_for,
)

ROOT = Path(__file__).parents[1]


def latest_payload(sub: Subscriber, serial: str) -> dict:
    msgs = [m for m in sub.snapshot() if m.topic == f"site/demo/rigs/{serial}/status"]
    return orjson.loads(msgs[-1].payload) if msgs else {}


def test_publisher_and_run_time_fault_commands(tmp_path: Path, mosquitto: Broker) -> None:
    cfg = load_facility(facility_file(tmp_path, mosquitto.port, n_rigs=20))
    facility = build_facility(cfg)
    sub = Subscriber(mosquitto.port, "site/demo/#")
    results = Subscriber(mosquitto.port, "minewatch/sim/fault/result", client_id="results")
    pub = SimPublisher(facility, "127.0.0.1", mosquitto.port, interval_s=0.2)
    pub.start()
    assert pub.wait_ready(10)
    try:
        everyone = {f"site/demo/rigs/{r.serial}/status" for r in facility.rigs} | {
            "site/demo/env/env-hall1",
            "site/demo/env/env-hall2",
        }
        wait_for(
            lambda: {m.topic for m in sub.snapshot()} >= everyone,
            what="every rig and sensor published",
        )
        ctl = Publisher(mosquitto.port, client_id="ctl")
        ctl.publish_all(
            [
                (
                    "minewatch/sim/fault",
                    orjson.dumps(
                        {"fault": "overheat", "target": "BMS21-000001", "action": "inject"}
                    ),
                ),
                (
                    "minewatch/sim/fault",
                    orjson.dumps({"fault": "fan_fail", "target": "BMS21H-000011"}),
                ),
                ("minewatch/sim/fault", b"not json"),
            ]
        )
        wait_for(lambda: len(results.snapshot()) == 3, what="three command results")
        replies = [orjson.loads(m.payload) for m in results.snapshot()]
        assert (
            replies[0]["ok"] is True
            and {"fault": "overheat", "target": "BMS21-000001"} in replies[0]["active"]
        )
        assert replies[1] == {
            "ok": False,
            "error": "rig BMS21H-000011 (antminer-s21-hydro) has no fans to fail",
            "active": [{"fault": "overheat", "target": "BMS21-000001"}],
        }
        assert replies[2]["ok"] is False
        wait_for(
            lambda: latest_payload(sub, "BMS21-000001").get("error_code") == 361,
            what="overheat reported",
        )
        ctl.publish_all(
            [("minewatch/sim/fault", orjson.dumps({"fault": "overheat", "action": "clear"}))]
        )
        wait_for(lambda: len(results.snapshot()) == 4, what="clear result")
        assert orjson.loads(results.snapshot()[-1].payload) == {
            "ok": True,
            "fault": "overheat",
            "target": None,
            "action": "clear",
            "active": [],
        }
        ctl.close()
    finally:
        pub.stop()
        sub.close()
        results.close()
    assert pub.stats()["published"] >= 22 and "publish_errors" not in pub.stats()


def test_simulate_cli_with_start_faults(tmp_path: Path, mosquitto: Broker) -> None:
    config = facility_file(tmp_path, 1, n_rigs=20)  # wrong port on purpose: --broker overrides it
    sub = Subscriber(mosquitto.port, "site/demo/rigs/#")
    proc = subprocess.Popen(
        simulate_command(
            config,
            mosquitto.port,
            6,
            0.2,
            *("--fault", "silent:BMS21-000002", "--fault", "unregistered:ROGUE-1"),
        ),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        expected = {f"BMS21-00000{i}" for i in (1, 3, 4, 5, 6)} | {"ROGUE-1"}
        wait_for(
            lambda: {m.topic.split("/")[3] for m in sub.snapshot()} >= expected,
            what="rigs publishing",
        )
        fault = subprocess.run(
            [
                sys.executable,
                "-m",
                "minewatch.cli",
                "sim-fault",
                "overheat",
                "--target",
                "BMS21-000003",
                "--broker",
                f"127.0.0.1:{mosquitto.port}",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert fault.returncode == 0, fault.stderr
        assert orjson.loads(fault.stdout)["active"] == [
            {"fault": "silent", "target": "BMS21-000002"},
            {"fault": "overheat", "target": "BMS21-000003"},
            {"fault": "unregistered", "target": "ROGUE-1"},
        ]
        wait_for(
            lambda: latest_payload(sub, "BMS21-000003").get("error_code") == 361,
            what="overheat published",
        )
        rounds = len([m for m in sub.snapshot() if "BMS21-000001" in m.topic])
        wait_for(
            lambda: len([m for m in sub.snapshot() if "BMS21-000001" in m.topic]) >= rounds + 3,
            what="three more rounds",
        )
        assert {
            m.topic.split("/")[3] for m in sub.snapshot()
        } == expected  # the silent rig never spoke
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        sub.close()
    assert proc.returncode == 0, err
    assert "simulating 7 rigs of demo" in out and "messages published" in out


def test_simulate_cli_rejects_a_bad_fault(tmp_path: Path) -> None:
    config = facility_file(tmp_path, 1883, n_rigs=5)
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "minewatch.cli",
            "simulate",
            "--config",
            str(config),
            "--fault",
            "overheat:NOPE",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2 and "no simulated rig 'NOPE'" in res.stderr


def test_simulator_to_collector_stores_every_value(tmp_path: Path, mosquitto: Broker) -> None:
    """The spine up to the store: every value the simulator publishes lands in the store,
    unchanged."""
    cfg = load_facility(facility_file(tmp_path, mosquitto.port, n_rigs=40))
    profiles = load_facility_profiles(cfg)
    store = SqliteStore(tmp_path / "t.db")
    col = MqttCollector(cfg, store, profiles, facility_registry(cfg, set(profiles)))
    col.start()
    assert col.wait_ready(10)
    facility = build_facility(cfg)
    sent = publish_sim_rounds(facility, mosquitto.port, rounds=5)
    assert sent == 5 * 42
    wait_for(lambda: col.stats()["acked"] == sent, what="collector acked every message")
    col.stop()
    assert col.stats()["rejected_total"] == {}
    per_round = (
        20 * 12 + 20 * 8 + 2 * 2
    )  # first 40 rigs of the layout: 20 S21, 20 S21 Hydro; 2 sensors
    assert col.stats()["stored_samples"] == 5 * per_round
    latest = store.latest(devices=["BMS21-000001"], metrics=["power_w"])
    assert latest["value"].iloc[0] == round(facility.rig("BMS21-000001").power_w, 1)
    assert latest["ts"].iloc[0] == (1_795_600_000 + 4 * 5) * 1_000_000_000
