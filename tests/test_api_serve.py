"""``minewatch serve --config``: the API as its own process over a store another process wrote."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from tests.support.api import TOKENS, TOKENS_ENV, fill_known_facility
from tests.support.ports import free_port, wait_listening

ROOT = Path(__file__).resolve().parents[1]


def write_config(tmp_path: Path) -> Path:
    fac = fill_known_facility(tmp_path / "data")  # written "by another process": this one closes it
    fac.store.close()
    path = tmp_path / "facility.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                **fac.cfg.model_dump(mode="json", exclude={"base_dir"}),
                "api": {"tokens_env": "MW_TEST_TOKENS"},
            }
        )
    )
    return path


def test_serve_answers_from_the_shared_store_and_stops_on_sigterm(tmp_path: Path) -> None:
    config, port = write_config(tmp_path), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "minewatch.cli",
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "MW_TEST_TOKENS": TOKENS_ENV},
    )
    try:
        wait_listening(port, timeout_s=60)
        resp = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/devices?role=rig",
            headers={"Authorization": f"Bearer {TOKENS['inspector']}"},
        )
        assert resp.status_code == 200 and resp.json()["total"] == 5
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/facility").status_code == 401
        parts = httpx.get(f"http://127.0.0.1:{port}/health").json()["components"]
        assert (
            "notifier" in parts and "analyzer" not in parts
        )  # ledgers what the API does; analyzes nothing
    finally:
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    out = proc.stdout.read() if proc.stdout else ""
    assert code == 0, out
    assert "log in with a token from MW_TEST_TOKENS" in out
    assert all(tok not in out for tok in TOKENS.values())


def test_serve_without_tokens_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MW_TEST_TOKENS"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "minewatch.cli",
            "serve",
            "--config",
            str(write_config(tmp_path)),
            "--port",
            str(free_port()),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert "environment variable MW_TEST_TOKENS is not set" in done.stderr
