"""Outbox delivery to a real reference receiver: outages, 500s, timeouts, restarts, deadlines."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from minewatch.config.notify import Backoff
from minewatch.events import EventBus
from minewatch.notifier.delivery import backoff_delay_s
from minewatch.notifier.service import Notifier
from tests.support.notify import (
    ReceiverServer,
    SmtpServer,
    facility_config,
    fast_backoff,
    running,
    transition,
    wait_until,
)


def _notifier(
    tmp_path: Path,
    receiver: ReceiverServer,
    key_dir: Path,
    *,
    cb: dict[str, Any] | None = None,
    **notify: Any,
) -> tuple[EventBus, Notifier]:
    central = {
        "enabled": True,
        "url": receiver.url,
        "key_dir": str(key_dir),
        "backoff": fast_backoff(),
        "heartbeat_interval_s": 3600,
        "daily_report_at": None,
        "timeout_s": 0.3,
        **(cb or {}),
    }
    cfg = facility_config(
        tmp_path, notify={"central_bank": central, "poll_interval_s": 0.05, **notify}
    )
    bus = EventBus()
    return bus, Notifier(cfg, bus)


def _publish_breaches(bus: EventBus, n: int) -> None:
    """n alerts, each opened then resolved: 2n regulator messages in a known order."""
    for i in range(n):
        opened = transition(f"EL-{i:02d}", "firing", alert_id=100 + i)
        bus.publish(opened)
        bus.publish(
            transition(
                f"EL-{i:02d}",
                "resolved",
                alert_id=100 + i,
                from_state="firing",
                started_at_ns=opened.payload["started_at_ns"],
            )
        )


def _delivered(n: Notifier, count: int) -> bool:
    c = n.outbox.counts().get("central_bank", {})
    return c.get("delivered", 0) >= count and not c.get("pending")


def _assert_all_once_in_order(notifier: Notifier, receiver: ReceiverServer) -> None:
    sent = sorted(notifier.outbox.messages("central_bank", limit=10_000), key=lambda m: m.id)
    assert all(m.status == "delivered" for m in sent)
    got = receiver.received()
    # exactly once: one stored row per queued message, none extra; in order: same sequence
    assert [m["idempotency_key"] for m in got] == [m.idempotency_key for m in sent]
    assert [m["message_id"] for m in got] == [m.message_id for m in sent]


def test_receiver_down_then_back_gets_everything_in_order_once(
    tmp_path: Path, receiver: ReceiverServer, key_dir: Path
) -> None:
    receiver.stop()
    bus, n = _notifier(tmp_path, receiver, key_dir)
    with running(n):
        _publish_breaches(bus, 6)
        wait_until(
            lambda: n.counters.get("attempts_failed_total") >= 4, what="failed attempts while down"
        )
        receiver.start()
        wait_until(lambda: _delivered(n, 13), what="drain")
    _assert_all_once_in_order(n, receiver)
    kinds = [m["kind"] for m in receiver.received()]
    assert kinds.count("heartbeat") == 1
    assert [k for k in kinds if k != "heartbeat"] == ["breach_opened", "breach_resolved"] * 6
    # every ledger head the regulator received is an anchor the chain still matches
    assert n.ledger.verify(receiver.store.anchors("ashgabat-01")).ok


def test_intermittent_500s_and_timeouts_still_exactly_once_in_order(
    tmp_path: Path, receiver: ReceiverServer, key_dir: Path
) -> None:
    receiver.switch.set_modes(
        [
            "500",
            "hang",
            "ok",
            "500-after",
            "500",
            "hang-after",
            "ok",
            "500-after",
            "hang",
            "500",
            "ok",
            "hang-after",
        ]
    )
    bus, n = _notifier(tmp_path, receiver, key_dir)
    with running(n):
        _publish_breaches(bus, 5)
        wait_until(lambda: _delivered(n, 11), what="all delivered")
    _assert_all_once_in_order(n, receiver)
    assert (
        receiver.count("duplicates") >= 4
    )  # processed-then-failed answers were retried and de-duplicated
    # the delivery log keeps every attempt with its status code and timing
    logs = [row for m in n.outbox.messages("central_bank") for row in n.outbox.log(m.id)]
    assert {r["outcome"] for r in logs} == {"failed", "delivered"}
    assert any(r["status_code"] == 500 for r in logs) and any(
        r["status_code"] is None for r in logs
    )  # timeouts
    assert all(r["duration_ms"] >= 0 for r in logs)


def test_queue_survives_a_restart_of_the_notifier(
    tmp_path: Path, receiver: ReceiverServer, key_dir: Path
) -> None:
    receiver.stop()
    bus, first = _notifier(tmp_path, receiver, key_dir)
    first.start()
    _publish_breaches(bus, 3)
    wait_until(lambda: first.counters.get("attempts_failed_total") >= 1, what="a failed attempt")
    first.stop()
    receiver.start()
    bus2, second = _notifier(tmp_path, receiver, key_dir)
    with running(second):
        _publish_breaches(bus2, 1)
        wait_until(lambda: _delivered(second, 9), what="drain after restart")
    _assert_all_once_in_order(second, receiver)
    assert [m["kind"] for m in receiver.received()].count("breach_opened") == 4
    assert second.ledger.verify().ok


def test_dead_after_deadline_alerts_the_operator_loudly(
    tmp_path: Path,
    receiver: ReceiverServer,
    key_dir: Path,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver.stop()
    email = {
        "name": "ops-mail",
        "type": "email",
        "from": "minewatch@facility.tm",
        "to": ["ops@facility.tm"],
        "smtp": {
            "host": smtp_server.host,
            "port": smtp_server.port,
            "tls": "starttls",
            "username": smtp_server.username,
            "password_env": "TEST_SMTP_PASSWORD",
            "ca_file": str(smtp_server.ca_file),
        },
    }
    _bus, n = _notifier(
        tmp_path,
        receiver,
        key_dir,
        cb={"backoff": fast_backoff(dead_after_s=0.6)},
        channels=[email],
        group_wait_s=0,
        group_interval_s=0,
    )
    monkeypatch.setenv("TEST_SMTP_PASSWORD", smtp_server.password)
    with running(n):
        mails = smtp_server.wait_for(1)
        wait_until(
            lambda: n.outbox.counts()["central_bank"].get("dead", 0) >= 1, what="dead letter"
        )
    dead = n.outbox.messages("central_bank", status="dead")
    assert dead and dead[0].kind == "heartbeat" and dead[0].attempts >= 2
    subject = mails[0]["Subject"]
    assert "DELIVERY FAILED" in subject and "central_bank" in subject
    body = mails[0].get_content()
    assert "THE CENTRAL BANK HAS NOT RECEIVED IT" in body and "--requeue-dead" in body
    kinds = [e.kind for e in n.ledger.entries()]
    assert (
        "message.dead" in kinds and "message.delivered" in kinds
    )  # the dead letter and the e-mail receipt
    assert n.stats()["counters"]["dead_total"] == {"central_bank": 1}


def test_backoff_is_exponential_capped_and_jittered() -> None:
    pol = Backoff(initial_s=1, multiplier=2, max_s=30, jitter=0.2)
    rng = random.Random(7)
    for attempt, base in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16)]:
        for _ in range(50):
            assert base * 0.8 <= backoff_delay_s(pol, attempt, rng) <= base * 1.2
    assert all(backoff_delay_s(pol, a, rng) <= 30 for a in range(5, 60))
    assert len({round(backoff_delay_s(pol, 3, rng), 6) for _ in range(20)}) > 1


@pytest.mark.parametrize("bad", [{"enabled": True}, {"backoff": {"initial_s": 0}}])
def test_bad_central_bank_config_is_rejected_with_its_path(
    tmp_path: Path, bad: dict[str, Any]
) -> None:
    from minewatch.config.facility import FacilityConfig
    from minewatch.configfile import ConfigError, validate

    data = {
        "facility": {"id": "f", "name": "F"},
        "licence": {"number": "L", "capacity_kw": 1},
        "notify": {"central_bank": bad},
    }
    with pytest.raises(ConfigError) as exc:
        validate(FacilityConfig, data, "facility.yaml")
    assert "facility.yaml: notify.central_bank" in exc.value.problems[0]
