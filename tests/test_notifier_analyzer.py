"""With the real analyzer: a fire alarm in telemetry, silenced and acknowledged by the operator,
reaches the central bank signed and annotated; the operator's webhook stays quiet; the ledger holds
it all.
"""

from __future__ import annotations

from pathlib import Path

from minewatch.analyzer.engine import Analyzer
from minewatch.analyzer.state import AlertStore
from minewatch.config.notify import NotifySettings
from minewatch.events import EventBus
from minewatch.notifier.service import Notifier
from minewatch.store import SqliteStore
from tests.support.analyzer import T0, S, facility_cfg, fill_store
from tests.support.notify import (
    ReceiverServer,
    WebhookSink,
    fast_backoff,
    fire_alarm_profile,
    running,
    wait_until,
)


def test_fire_alarm_silenced_and_acknowledged_reaches_the_bank_not_the_operator(
    tmp_path: Path, receiver: ReceiverServer, key_dir: Path, webhook_sink: WebhookSink
) -> None:
    cfg = facility_cfg(tmp_path)
    cfg = cfg.model_copy(
        update={
            "notify": NotifySettings.model_validate(
                {
                    "central_bank": {
                        "enabled": True,
                        "url": receiver.url,
                        "key_dir": str(key_dir),
                        "backoff": fast_backoff(),
                        "heartbeat_interval_s": 3600,
                        "daily_report_at": None,
                    },
                    "channels": [{"name": "ops", "type": "webhook", "url": webhook_sink.url}],
                    "group_wait_s": 0,
                    "group_interval_s": 0,
                    "poll_interval_s": 0.05,
                }
            )
        }
    )
    store = SqliteStore(cfg.telemetry_db)
    fill_store(
        store,
        [
            {
                "ts": t,
                "device": "panel-1",
                "metric": "fire_alarm_bool",
                "value": 1 if t >= 50 else 0,
            }
            for t in range(0, 300, 10)
        ],
        [{"device": "panel-1", "kind": "fire_panel", "role": "fire_panel"}],
    )
    bus = EventBus()
    notifier = Notifier(cfg, bus)
    alerts = AlertStore(cfg.state_db, bus)
    analyzer = Analyzer(cfg, store, alerts, bus, {}, compliance=fire_alarm_profile())
    with running(notifier):
        alerts.add_silence(
            {"family": "fire"}, T0, T0 + 3600 * S, "night shift", "panel maintenance"
        )
        for t in range(10, 100, 10):
            analyzer.evaluate_once(T0 + t * S)
        (alert,) = alerts.list_alerts("firing")
        alerts.clock = lambda: T0 + 95 * S
        alerts.acknowledge(alert["id"], "amir", "crew on the way", T0 + 3600 * S)
        wait_until(
            lambda: receiver.received("breach_updated"), what="the acknowledgement at the bank"
        )
    got = {m["kind"]: m["body"] for m in receiver.received() if m["kind"] != "heartbeat"}
    assert set(got) == {"breach_opened", "breach_updated"}
    opened = got["breach_opened"]["breach"]
    assert opened["rule"] == {
        "id": "FS-01",
        "title": "Fire alarm",
        "severity": "critical",
        "family": "fire",
        "source": "NFPA 72 (fire alarm signal)",
    }
    assert opened["subject"] == "panel-1" and opened["operator"]["silenced"] is True
    assert got["breach_opened"]["occurred_at"] == "2026-01-01T00:01:00.000Z"
    assert got["breach_updated"]["breach"]["operator"]["ack_by"] == "amir"
    assert (
        webhook_sink.posts == []
    )  # the operator silenced fire alerts: nothing on the operator channel
    kinds = [e.kind for e in notifier.ledger.entries()]
    for k in ("silence.created", "alert.transition", "alert.ack", "message.delivered"):
        assert k in kinds
    assert notifier.ledger.verify(receiver.store.anchors("test-site")).ok
