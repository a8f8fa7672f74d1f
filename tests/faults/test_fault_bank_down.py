"""Fault: the central bank unreachable while the notifier process is SIGKILLed twice.

Written against the notifier's public behaviour only: alert transitions recorded in the facility's
ledger (by whichever process observed them) are delivered by ``minewatch notify`` — once the bank
answers, every regulator message arrives exactly once, in the order the alerts happened, and the
bank's reference receiver accepted each signature."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from minewatch.events import EventBus
from minewatch.notifier.service import Notifier
from tests.support.notify import ReceiverServer, facility_config, fast_backoff, transition
from tests.support.waiting import wait_for

ALERTS = 7  # each opened then resolved: 14 regulator messages
ROOT = Path(__file__).parents[2]


def _notify(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "minewatch.cli", "notify", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


def test_bank_down_and_notifier_killed_delivers_everything_in_order(
    tmp_path: Path, receiver: ReceiverServer, key_dir: Path
) -> None:
    receiver.stop()  # the bank is down from the start
    notify = {
        "poll_interval_s": 0.05,
        "central_bank": {
            "enabled": True,
            "url": receiver.url,
            "key_dir": str(key_dir),
            "backoff": fast_backoff(dead_after_s=3600),
            "heartbeat_interval_s": 3600,
            "daily_report_at": None,
            "timeout_s": 0.3,
        },
    }
    cfg = facility_config(tmp_path, notify=notify)
    config = tmp_path / "facility.yaml"
    config.write_text(
        yaml.safe_dump(cfg.model_dump(mode="json", exclude_unset=True), sort_keys=False)
    )
    bus = EventBus()
    recorder = Notifier(cfg, bus)  # records into the ledger; delivery is the notify process's
    order = []
    for i in range(ALERTS):
        opened = transition(f"EL-{i:02d}", "firing", alert_id=100 + i)
        resolved = transition(
            f"EL-{i:02d}",
            "resolved",
            alert_id=100 + i,
            from_state="firing",
            started_at_ns=opened.payload["started_at_ns"],
        )
        bus.publish(opened)
        bus.publish(resolved)
        order += [(100 + i, "breach_opened"), (100 + i, "breach_resolved")]
    log = tmp_path / "notify.log"
    for _ in range(2):  # started, fails against the dead bank, SIGKILLed
        proc = _notify(config, log)
        wait_for(lambda: recorder.outbox.counts().get("central_bank", {}).get("pending", 0) > 0)
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert receiver.received() == []
    receiver.start()
    back_at = time.monotonic()
    proc = _notify(config, log)
    try:
        wait_for(
            lambda: (
                len([m for m in receiver.received() if m["kind"].startswith("breach")])
                >= 2 * ALERTS
            ),
            timeout_s=60,
            what="every regulator message at the bank",
        )
        delivered_s = time.monotonic() - back_at
        time.sleep(1.0)  # a duplicate would arrive late
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    got = [m for m in receiver.received() if m["kind"].startswith("breach")]
    assert len(got) == 2 * ALERTS == 14  # delivered, none twice (the receiver verified each)
    assert len({m["idempotency_key"] for m in got}) == 14
    print(f"bank down, notifier killed x2: 14/14 delivered {delivered_s:.1f} s after the bank")
    # in the order the alerts happened: (alert id, kind) as published
    assert [(m["body"]["breach"]["alert_id"], m["kind"]) for m in got] == order
    assert all(m["key_id"] for m in got)  # signed with the facility key the bank trusts
