"""`minewatch notify` as its own process, `keys` with a facility config, and the documented
config."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.config import load_facility
from minewatch.config.notify import NotifySettings
from minewatch.events import EventBus
from minewatch.ledger import Ledger
from minewatch.notifier.service import Notifier
from tests.support.notify import ReceiverServer, SmtpServer, WebhookSink, transition, wait_until

ROOT = Path(__file__).resolve().parents[1]


def _facility_yaml(tmp_path: Path, notify: dict) -> Path:
    p = tmp_path / "facility.yaml"
    p.write_text(
        yaml.safe_dump(
            {
                "facility": {"id": "ashgabat-01", "name": "Ashgabat Test Facility"},
                "licence": {"number": "TM-CB-2026-0042", "capacity_kw": 5000},
                "storage": {"data_dir": "data"},
                "notify": notify,
            }
        )
    )
    return p


def test_standalone_notify_delivers_what_another_process_queued(
    tmp_path: Path, receiver: ReceiverServer, key_dir: Path
) -> None:
    path = _facility_yaml(
        tmp_path,
        {
            "central_bank": {
                "enabled": True,
                "url": receiver.url,
                "key_dir": "keys",
                "daily_report_at": None,
                "backoff": {"initial_s": 0.05, "max_s": 0.2},
            },
            "poll_interval_s": 0.05,
        },
    )
    cfg = load_facility(path)
    bus = EventBus()
    analyzer_side = Notifier(cfg, bus, deliver=False)  # records and queues only
    bus.publish(transition("EL-01", "firing", alert_id=1))
    analyzer_side.process_once()
    assert analyzer_side.outbox.counts() == {"central_bank": {"pending": 1}}
    proc = subprocess.Popen(
        [sys.executable, "-m", "minewatch.cli", "notify", "--config", str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(
            lambda: {m["kind"] for m in receiver.received()} >= {"breach_opened", "heartbeat"},
            what="standalone delivery",
        )
        bus.publish(
            transition("EL-01", "resolved", alert_id=1, from_state="firing")
        )  # ledgered here, sent there
        wait_until(lambda: receiver.received("breach_resolved"), what="cross-process pick-up")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "notifier running for ashgabat-01; destinations: central_bank" in out
    r = CliRunner().invoke(app, ["notify", "--config", str(path), "--status"])
    assert r.exit_code == 0 and '"delivered": 3' in r.output and "ledger head #" in r.output


def test_keys_generate_with_config_is_ledgered(tmp_path: Path) -> None:
    path = _facility_yaml(tmp_path, {"central_bank": {"key_dir": "secrets/keys"}})
    r = CliRunner().invoke(app, ["keys", "generate", "--config", str(path)])
    assert r.exit_code == 0, r.output
    kid = re.search(r"generated key (mw-[0-9a-f]{16})", r.output).group(1)
    assert (tmp_path / "secrets" / "keys" / f"{kid}.key").stat().st_mode & 0o777 == 0o600
    entries = Ledger(tmp_path / "data" / "state.db").entries()
    assert [(e.kind, e.payload["key_id"]) for e in entries] == [("key.generated", kid)]
    assert "PRIVATE" not in str(entries[0].payload)


def test_documented_notify_section_is_valid() -> None:
    text = (ROOT / "docs" / "notifications.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    section = NotifySettings.model_validate(yaml.safe_load(block)["notify"])
    assert [c.name for c in section.channels] == ["ops-mail", "ops-slack", "pager", "scada"]
    assert [r.name for r in section.routes] == ["emergency", "fire", "critical", "rest"]
    assert section.repeat_interval_for("critical", None) == 1800


def test_notify_test_sends_to_every_channel_and_reports_failures(
    tmp_path: Path,
    smtp_server: SmtpServer,
    webhook_sink: WebhookSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMTP_PW", smtp_server.password)
    email = {
        "name": "ops-mail",
        "type": "email",
        "from": "minewatch@facility.tm",
        "to": ["ops@facility.tm"],
        "smtp": {
            "host": smtp_server.host,
            "port": smtp_server.port,
            "username": smtp_server.username,
            "password_env": "SMTP_PW",
            "ca_file": str(smtp_server.ca_file),
        },
    }
    path = _facility_yaml(
        tmp_path,
        {
            "channels": [
                email,
                {"name": "hook", "type": "webhook", "url": webhook_sink.url},
                {
                    "name": "dead-hook",
                    "type": "webhook",
                    "url": "http://127.0.0.1:9/nothing-listens",
                },
            ]
        },
    )
    r = CliRunner().invoke(app, ["notify", "--config", str(path), "--test"])
    assert r.exit_code == 1, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("ops-mail: OK (250)") and lines[1].startswith("hook: OK (200)")
    assert lines[2].startswith("dead-hook: FAILED (None) ConnectError")
    assert smtp_server.wait_for(1)[0]["Subject"] == "[minewatch ashgabat-01] TEST notification"
    assert webhook_sink.bodies()[0]["kind"] == "test"
