"""``minewatch run --config``: collector, analyzer, notifier and API in one process, on a real
broker.

A rig status message published to the test's Mosquitto is served by the API of the ``run`` process,
and SIGTERM stops every part with exit code 0.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.api import TOKENS, TOKENS_ENV
from tests.support.mosquitto import Broker
from tests.support.ports import free_port, wait_listening
from tests.test_e2e_overheat import RIG, e2e_facility

ROOT = Path(__file__).resolve().parents[1]


def test_run_collects_analyzes_serves_and_stops(tmp_path: Path, mosquitto: Broker) -> None:
    config, port = e2e_facility(tmp_path, mosquitto), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "minewatch.cli",
            "run",
            "--config",
            str(config),
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "MINEWATCH_TOKENS": TOKENS_ENV},
    )
    try:
        wait_listening(port, timeout_s=60)
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            timeout=10,
            headers={"Authorization": f"Bearer {TOKENS['operator']}"},
        )
        parts = api.get("/health").json()["components"]
        assert {"mqtt_collector", "analyzer", "notifier"} <= set(parts) and "simulator" not in parts

        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="run-test-agent")
        pub.connect(mosquitto.host, mosquitto.port)
        pub.loop_start()
        payload = {
            "model": "antminer-s21",
            "ts": time.time(),
            "status": "mining",
            "power_w": 3510.0,
            "temp": {"chip_max": 71.5},
        }
        pub.publish(f"site/demo/rigs/{RIG}/status", json.dumps(payload), qos=1).wait_for_publish(10)
        pub.loop_stop()
        pub.disconnect()
        deadline = time.monotonic() + 30
        while True:
            resp = api.get(f"/api/v1/devices/{RIG}")
            if (
                resp.status_code == 200 and "chip_temp_c" in resp.json()["metrics"]
            ) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert resp.status_code == 200, resp.text
        metrics = resp.json()["metrics"]
        assert (
            resp.json()["online"] is True
            and metrics["chip_temp_c"]["value"] == 71.5
            and metrics["up"]["value"] == 1
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    out = proc.stdout.read() if proc.stdout else ""
    assert code == 0, out
    assert "stopped mqtt_collector" in out and "stopped analyzer" in out
