"""Operator channels: silences vs the regulator channel, e-mail over real SMTP, webhooks, MQTT,
routing, grouping, repeat interval and escalation.

Lifecycle timing is tested against a fake clock by driving ``Notifier.process_once`` (no threads,
no sleeps); deliveries are tested end to end against real servers.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest

from minewatch.events import Event, EventBus
from minewatch.notifier.service import Notifier
from tests.support.mosquitto import Broker
from tests.support.notify import (
    ReceiverServer,
    SmtpServer,
    WebhookSink,
    facility_config,
    fast_backoff,
    running,
    transition,
    wait_until,
)

NS = 1_000_000_000


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * NS)


def _email(**smtp: Any) -> dict[str, Any]:
    return {
        "name": "ops-mail",
        "type": "email",
        "from": "minewatch@facility.tm",
        "to": ["ops@facility.tm"],
        "smtp": {"host": "127.0.0.1", "port": 25, "tls": "none", **smtp},
    }


def _hook(
    name: str = "ops-hook", url: str = "http://127.0.0.1:9/hook", fmt: str = "json"
) -> dict[str, Any]:
    return {"name": name, "type": "webhook", "url": url, "format": fmt}


def _offline(tmp_path: Path, clock: FakeClock, **notify: Any) -> tuple[EventBus, Notifier]:
    """A notifier that queues but does not deliver, on a fake clock: its outbox is the
    observable."""
    cfg = facility_config(
        tmp_path,
        notify={
            "channels": [_email(), _hook()],
            "group_wait_s": 30,
            "group_interval_s": 300,
            **notify,
        },
    )
    bus = EventBus()
    return bus, Notifier(cfg, bus, deliver=False, clock=clock)


def _queued(n: Notifier, dest: str) -> list[dict[str, Any]]:
    return [
        orjson.loads(m.body)
        for m in sorted(n.outbox.messages(dest, limit=1000), key=lambda m: m.id)
    ]


def _publish(bus: EventBus, clock: FakeClock, ev: Event) -> Event:
    ev = Event(ev.kind, clock.now, ev.actor, ev.subject, ev.payload)
    bus.publish(ev)
    return ev


def test_silenced_and_acknowledged_alert_reaches_the_central_bank_but_no_operator(
    tmp_path: Path,
    receiver: ReceiverServer,
    key_dir: Path,
    smtp_server: SmtpServer,
    webhook_sink: WebhookSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMTP_PW", smtp_server.password)
    email = _email(
        host=smtp_server.host,
        port=smtp_server.port,
        tls="starttls",
        username=smtp_server.username,
        password_env="SMTP_PW",
        ca_file=str(smtp_server.ca_file),
    )
    cfg = facility_config(
        tmp_path,
        notify={
            "central_bank": {
                "enabled": True,
                "url": receiver.url,
                "key_dir": str(key_dir),
                "backoff": fast_backoff(),
                "heartbeat_interval_s": 3600,
                "daily_report_at": None,
            },
            "channels": [email, _hook(url=webhook_sink.url)],
            "group_wait_s": 0,
            "group_interval_s": 0,
            "poll_interval_s": 0.05,
        },
    )
    bus = EventBus()
    n = Notifier(cfg, bus)
    with running(n):
        # silenced by flag (the analyzer applied a silence) and acknowledged by the operator
        bus.publish(
            transition(
                "FI-01", "firing", alert_id=1, family="fire", silenced=True, acknowledged=True
            )
        )
        # silenced by a silence the notifier saw created
        bus.publish(
            Event(
                "silence.created",
                0,
                "operator:ahmet",
                "silence-9",
                {
                    "id": "silence-9",
                    "matchers": {"rule_id": "EL-03"},
                    "starts_at_ns": 0,
                    "ends_at_ns": 2**62,
                    "reason": "maintenance",
                },
            )
        )
        bus.publish(transition("EL-03", "firing", alert_id=2, family="electrical"))
        bus.publish(
            Event(
                "alert.ack",
                0,
                "operator:ahmet",
                "2",
                {"alert_id": 2, "comment": "electrician on site", "expires_at_ns": 2**62},
            )
        )
        # a control alert nobody silenced: proves the operator channels work in this very run
        bus.publish(transition("TH-01", "firing", alert_id=3, regulator_notifiable=False))
        mails = smtp_server.wait_for(1)
        wait_until(lambda: len(webhook_sink.posts) >= 1, what="webhook")
        wait_until(lambda: len(receiver.received()) >= 4, what="regulator messages")
    got = {
        (m["kind"], m["body"]["breach"]["rule"]["id"]): m["body"]
        for m in receiver.received()
        if m["kind"] != "heartbeat"
    }
    assert set(got) == {
        ("breach_opened", "FI-01"),
        ("breach_opened", "EL-03"),
        ("breach_updated", "EL-03"),
    }
    assert got[("breach_opened", "FI-01")]["breach"]["operator"] == {
        "acknowledged": True,
        "silenced": True,
    }
    ack = got[("breach_updated", "EL-03")]["breach"]["operator"]
    assert (
        ack["acknowledged"]
        and ack["ack_by"] == "operator:ahmet"
        and ack["ack_comment"] == "electrician on site"
    )
    # operator channels: only the control alert, on both channels
    assert [m["Subject"] for m in mails] == [
        "[minewatch ashgabat-01] FIRING: 1 critical thermal alert: Rule TH-01 on rig-0007"
    ]
    hooks = webhook_sink.bodies()
    assert len(hooks) == 1 and [a["rule_id"] for a in hooks[0]["alerts"]] == ["TH-01"]
    assert n.stats()["operator_silenced"] == 2


def test_email_arrives_with_expected_subject_and_body(
    tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PW", smtp_server.password)
    email = _email(
        host=smtp_server.host,
        port=smtp_server.port,
        tls="starttls",
        username=smtp_server.username,
        password_env="SMTP_PW",
        ca_file=str(smtp_server.ca_file),
    )
    email["to"] = ["ops@facility.tm", "chief@facility.tm"]
    cfg = facility_config(
        tmp_path, notify={"channels": [email], "group_wait_s": 0, "poll_interval_s": 0.05}
    )
    bus = EventBus()
    n = Notifier(cfg, bus)
    with running(n):
        bus.publish(
            transition(
                "EL-01",
                "firing",
                alert_id=7,
                family="electrical",
                severity="major",
                subject="meter-main",
                value=5125.0,
            )
        )
        mails = smtp_server.wait_for(1)
    m = mails[0]
    assert (
        m["Subject"]
        == "[minewatch ashgabat-01] FIRING: 1 major electrical alert: Rule EL-01 on meter-main"
    )
    assert m["From"] == "minewatch@facility.tm" and m["To"] == "ops@facility.tm, chief@facility.tm"
    assert smtp_server.inbox.envelopes[0] == (
        "minewatch@facility.tm",
        ["ops@facility.tm", "chief@facility.tm"],
    )
    body = m.get_content()
    assert "Facility Ashgabat Test Facility (ashgabat-01), licence TM-CB-2026-0042" in body
    assert "- FIRING major EL-01 Rule EL-01 on meter-main: value 5125 C (threshold 85)" in body
    assert "[reported to the central bank]" in body and "EL-01 above threshold" in body
    receipt = [e for e in n.ledger.entries() if e.kind == "message.delivered"]
    assert (
        receipt
        and receipt[0].payload["destination"] == "ops-mail"
        and receipt[0].payload["status_code"] == 250
    )


def test_wrong_smtp_password_is_retried_not_crashed(
    tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PW", "wrong")
    email = _email(
        host=smtp_server.host,
        port=smtp_server.port,
        tls="starttls",
        username=smtp_server.username,
        password_env="SMTP_PW",
        ca_file=str(smtp_server.ca_file),
    )
    email["backoff"] = fast_backoff()
    cfg = facility_config(
        tmp_path, notify={"channels": [email], "group_wait_s": 0, "poll_interval_s": 0.05}
    )
    bus = EventBus()
    n = Notifier(cfg, bus)
    with running(n):
        bus.publish(transition("EL-01", "firing", alert_id=7))
        wait_until(lambda: n.counters.get("attempts_failed_total") >= 2, what="failed logins")
        monkeypatch.setenv("SMTP_PW", smtp_server.password)  # read at each attempt, never cached
        mails = smtp_server.wait_for(1)
    assert len(mails) == 1
    logs = n.outbox.log(n.outbox.messages("ops-mail")[0].id)
    assert (
        logs[0]["outcome"] == "failed"
        and logs[0]["status_code"] == 535
        and "SMTP_PW" not in str(logs)
    )


def test_slack_webhook_and_mqtt_alert_topic(
    tmp_path: Path, webhook_sink: WebhookSink, mosquitto: Broker
) -> None:
    got: list[dict[str, Any]] = []
    subscribed = threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-sub")
    sub.on_connect = lambda c, *_: c.subscribe("site/alerts", qos=1)
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.on_message = lambda c, u, m: got.append(orjson.loads(m.payload))
    sub.connect(mosquitto.host, mosquitto.port)
    sub.loop_start()
    assert subscribed.wait(10)
    cfg = facility_config(
        tmp_path,
        notify={
            "channels": [
                _hook("slack", webhook_sink.url, "slack"),
                {
                    "name": "bus",
                    "type": "mqtt",
                    "topic": "site/alerts",
                    "host": mosquitto.host,
                    "port": mosquitto.port,
                },
            ],
            "group_wait_s": 0,
            "poll_interval_s": 0.05,
        },
    )
    bus = EventBus()
    n = Notifier(cfg, bus)
    n.start()
    try:
        bus.publish(transition("FI-02", "firing", alert_id=5, family="fire"))
        wait_until(lambda: webhook_sink.posts and got, what="slack post and MQTT message")
    finally:
        n.stop()
        sub.loop_stop()
        sub.disconnect()
    slack = webhook_sink.bodies()[0]
    assert set(slack) == {"text"} and slack["text"].startswith(
        "*[minewatch ashgabat-01] FIRING: 1 critical fire"
    )
    assert (
        got[0]["version"] == 1
        and got[0]["status"] == "firing"
        and got[0]["alerts"][0]["rule_id"] == "FI-02"
    )


def test_routing_by_severity_and_family(tmp_path: Path) -> None:
    clock = FakeClock()
    bus, n = _offline(
        tmp_path,
        clock,
        group_wait_s=0,
        routes=[
            {"hints": ["emergency"], "channels": ["ops-mail", "ops-hook"]},
            {"severities": ["critical"], "families": ["fire"], "channels": ["ops-hook"]},
            {"families": ["electrical", "thermal"], "channels": ["ops-mail"]},
        ],
    )
    smoke = transition("FS-02", alert_id=4, family="fire", severity="major")
    _publish(
        bus,
        clock,
        Event(
            smoke.kind,
            0,
            "analyzer",
            smoke.subject,
            {**smoke.payload, "notify": ["operator", "emergency"]},
        ),
    )
    _publish(bus, clock, transition("FI-01", alert_id=1, family="fire", severity="critical"))
    _publish(
        bus, clock, transition("FI-03", alert_id=2, family="fire", severity="warning")
    )  # no route: dropped
    _publish(bus, clock, transition("EL-02", alert_id=3, family="electrical", severity="warning"))
    n.process_once()
    assert sorted(a["rule_id"] for q in _queued(n, "ops-hook") for a in q["alerts"]) == [
        "FI-01",
        "FS-02",
    ]
    assert sorted(q["subject"] for q in _queued(n, "ops-mail")) == [
        "[minewatch ashgabat-01] FIRING: 1 major fire alert: Rule FS-02 on rig-0007",
        "[minewatch ashgabat-01] FIRING: 1 warning electrical alert: Rule EL-02 on rig-0007",
    ]


def test_grouping_batches_a_family_and_respects_group_interval(tmp_path: Path) -> None:
    clock = FakeClock()
    bus, n = _offline(tmp_path, clock)
    for i in range(3):
        _publish(bus, clock, transition(f"TH-0{i}", alert_id=10 + i, subject=f"rig-{i}"))
        clock.advance(5)
    n.process_once()
    assert _queued(n, "ops-mail") == []  # group_wait (30 s) not over
    clock.advance(20)
    n.process_once()
    first = _queued(n, "ops-mail")
    assert len(first) == 1 and first[0]["subject"].startswith(
        "[minewatch ashgabat-01] FIRING: 3 critical thermal"
    )
    _publish(
        bus,
        clock,
        transition("TH-00", "resolved", alert_id=10, from_state="firing", subject="rig-0"),
    )
    clock.advance(60)
    n.process_once()
    assert len(_queued(n, "ops-mail")) == 1  # group_interval (5 min) since the last notification
    clock.advance(300)
    n.process_once()
    mails = _queued(n, "ops-mail")
    assert len(mails) == 2 and mails[1]["subject"].startswith(
        "[minewatch ashgabat-01] RESOLVED: 1 critical thermal"
    )


def test_repeat_interval_critical_30_min_default_4_h_and_ack_stops_reminders(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    bus, n = _offline(tmp_path, clock, group_wait_s=0, group_interval_s=0)
    _publish(bus, clock, transition("TH-01", alert_id=1, severity="critical"))
    _publish(bus, clock, transition("EL-02", alert_id=2, severity="warning", family="electrical"))
    n.process_once()

    def subjects() -> list[str]:
        return [q["subject"].split("] ")[1] for q in _queued(n, "ops-hook")]

    assert len(subjects()) == 2
    clock.advance(29 * 60)
    n.process_once()
    assert len(subjects()) == 2
    clock.advance(60)
    n.process_once()
    assert subjects()[2] == "FIRING: 1 critical thermal alert: Rule TH-01 on rig-0007"
    assert _queued(n, "ops-hook")[2]["alerts"][0]["change"] == "repeat"
    _publish(
        bus,
        clock,
        Event(
            "alert.ack",
            0,
            "operator:ahmet",
            "1",
            {"alert_id": 1, "comment": "on it", "expires_at_ns": clock.now + 3600 * NS},
        ),
    )
    clock.advance(
        3 * 3600 + 1
    )  # the critical one is acknowledged for 1 h, the warning repeats at 4 h
    n.process_once()
    assert len(subjects()) == 4  # one reminder for TH-01 after its ack expired
    clock.advance(3600)
    n.process_once()
    assert sorted(subjects()[4:]) == [
        "FIRING: 1 critical thermal alert: Rule TH-01 on rig-0007",
        "FIRING: 1 warning electrical alert: Rule EL-02 on rig-0007",
    ]


def test_escalation_when_unacknowledged(tmp_path: Path) -> None:
    clock = FakeClock()
    bus, n = _offline(
        tmp_path,
        clock,
        group_wait_s=0,
        routes=[
            {
                "severities": ["critical"],
                "channels": ["ops-mail"],
                "escalate_after_s": 900,
                "escalate_to": ["ops-hook"],
            }
        ],
    )
    _publish(bus, clock, transition("FI-01", alert_id=1, family="fire", subject="hall-1"))
    _publish(bus, clock, transition("FI-02", alert_id=2, family="fire", subject="hall-2"))
    _publish(
        bus,
        clock,
        Event("alert.ack", 0, "operator:ahmet", "2", {"alert_id": 2, "comment": "checked"}),
    )
    n.process_once()
    clock.advance(899)
    n.process_once()
    assert _queued(n, "ops-hook") == []
    clock.advance(2)
    n.process_once()
    n.process_once()
    esc = _queued(n, "ops-hook")
    assert len(esc) == 1 and esc[0]["kind"] == "escalation"
    assert esc[0]["subject"] == (
        "[minewatch ashgabat-01] ESCALATION: Rule FI-01 on hall-1 unacknowledged for 15 min"
    )


def test_silence_expiry_resends_what_it_held_back(tmp_path: Path) -> None:
    clock = FakeClock()
    bus, n = _offline(tmp_path, clock, group_wait_s=0, group_interval_s=0)
    _publish(
        bus,
        clock,
        Event(
            "silence.created",
            0,
            "operator:ahmet",
            "s1",
            {
                "id": "s1",
                "matchers": [{"name": "family", "value": "thermal", "op": "="}],
                "starts_at_ns": clock.now,
                "ends_at_ns": clock.now + 3600 * NS,
            },
        ),
    )
    _publish(bus, clock, transition("TH-01", alert_id=1))
    _publish(
        bus, clock, transition("EL-01", alert_id=2, family="electrical")
    )  # not silenced: sent at once
    n.process_once()
    assert [a["rule_id"] for q in _queued(n, "ops-hook") for a in q["alerts"]] == ["EL-01"]
    clock.advance(10)
    _publish(bus, clock, Event("silence.expired", 0, "system", "s1", {"id": "s1"}))
    n.process_once()
    assert [a["rule_id"] for q in _queued(n, "ops-hook") for a in q["alerts"]] == ["EL-01", "TH-01"]


def test_alert_that_fires_and_clears_within_group_wait_is_not_sent(tmp_path: Path) -> None:
    clock = FakeClock()
    bus, n = _offline(tmp_path, clock)
    _publish(bus, clock, transition("TH-01", alert_id=1))
    n.process_once()
    clock.advance(10)
    _publish(bus, clock, transition("TH-01", "resolved", alert_id=1, from_state="firing"))
    clock.advance(60)
    n.process_once()
    assert _queued(n, "ops-mail") == []


def test_routes_must_name_defined_channels(tmp_path: Path) -> None:
    from minewatch.configfile import ConfigError

    with pytest.raises(Exception) as exc:
        facility_config(
            tmp_path, notify={"channels": [_hook()], "routes": [{"channels": ["pager"]}]}
        )
    assert "unknown channel(s) pager" in str(exc.value)
    assert not isinstance(
        exc.value, ConfigError
    )  # pydantic's error; load_facility wraps it with the file name


def test_suppressed_is_neither_resolved_nor_repeated_and_stays_open_for_the_regulator(
    tmp_path: Path, key_dir: Path
) -> None:
    clock = FakeClock()
    bus, n = _offline(
        tmp_path,
        clock,
        group_wait_s=0,
        group_interval_s=0,
        central_bank={
            "enabled": True,
            "url": "http://127.0.0.1:9/v1/messages",
            "key_dir": str(key_dir),
            "daily_report_at": None,
        },
    )
    _publish(bus, clock, transition("EL-01", alert_id=1))
    n.process_once()
    _publish(
        bus,
        clock,
        transition("EL-01", "suppressed", alert_id=1, from_state="firing", silenced=True),
    )
    clock.advance(5 * 3600)
    n.process_once()
    assert len(_queued(n, "ops-hook")) == 1  # the first FIRING only: no RESOLVED, no reminder
    _publish(bus, clock, transition("EL-01", "resolved", alert_id=1, from_state="suppressed"))
    n.process_once()
    assert [q["kind"] for q in _queued(n, "central_bank")] == [
        "breach_opened",
        "breach_updated",
        "breach_resolved",
    ]
    assert _queued(n, "central_bank")[1]["breach"]["operator"]["silenced"] is True


def test_muted_from_the_start_is_still_a_breach_for_the_regulator(
    tmp_path: Path, key_dir: Path
) -> None:
    clock = FakeClock()
    bus, n = _offline(
        tmp_path,
        clock,
        group_wait_s=0,
        central_bank={
            "enabled": True,
            "url": "http://127.0.0.1:9/v1/messages",
            "key_dir": str(key_dir),
            "daily_report_at": None,
        },
    )
    _publish(
        bus,
        clock,
        transition("EL-01", "suppressed", alert_id=1, from_state="inactive", silenced=True),
    )
    n.process_once()
    assert _queued(n, "ops-hook") == []
    (opened,) = _queued(n, "central_bank")
    assert opened["kind"] == "breach_opened" and opened["breach"]["state"] == "suppressed"


def test_alert_that_never_fired_is_not_a_breach(tmp_path: Path, key_dir: Path) -> None:
    clock = FakeClock()
    bus, n = _offline(
        tmp_path,
        clock,
        central_bank={
            "enabled": True,
            "url": "http://127.0.0.1:9/v1/messages",
            "key_dir": str(key_dir),
            "daily_report_at": None,
        },
    )
    _publish(bus, clock, transition("EL-01", "pending", alert_id=1, from_state="inactive"))
    _publish(bus, clock, transition("EL-01", "resolved", alert_id=1, from_state="pending"))
    n.process_once()
    assert _queued(n, "central_bank") == []
    assert [e.kind for e in n.ledger.entries()] == ["alert.transition", "alert.transition"]


def test_malformed_event_is_skipped_counted_and_kept_in_the_ledger(
    tmp_path: Path, key_dir: Path
) -> None:
    clock = FakeClock()
    bus, n = _offline(
        tmp_path,
        clock,
        group_wait_s=0,
        central_bank={
            "enabled": True,
            "url": "http://127.0.0.1:9/v1/messages",
            "key_dir": str(key_dir),
            "daily_report_at": None,
        },
    )
    bad = transition("EL-01", alert_id=1)
    _publish(
        bus,
        clock,
        Event(bad.kind, 0, "analyzer", bad.subject, {**bad.payload, "alert_id": "not-a-number"}),
    )
    _publish(bus, clock, transition("EL-02", alert_id=2))
    n.process_once()
    assert [q["breach"]["rule"]["id"] for q in _queued(n, "central_bank")] == ["EL-02"]
    assert n.stats()["counters"]["rejected_total"] == {"alert.transition: ValueError": 1}
    assert n.ledger.entries()[0].payload["alert_id"] == "not-a-number" and n.ledger.verify().ok


@pytest.mark.filterwarnings(
    "ignore:Requiring AUTH while not requiring TLS"
)  # it is TLS, from the first byte
def test_email_over_implicit_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.notify import start_smtp

    smtp = start_smtp(tmp_path, implicit_tls=True)
    try:
        monkeypatch.setenv("SMTP_PW", smtp.password)
        email = _email(
            host=smtp.host,
            port=smtp.port,
            tls="ssl",
            username=smtp.username,
            password_env="SMTP_PW",
            ca_file=str(smtp.ca_file),
        )
        cfg = facility_config(
            tmp_path, notify={"channels": [email], "group_wait_s": 0, "poll_interval_s": 0.05}
        )
        bus = EventBus()
        with running(Notifier(cfg, bus)):
            bus.publish(transition("TH-01", "firing", alert_id=3))
            mails = smtp.wait_for(1)
    finally:
        smtp.controller.stop()
    assert mails[0]["Subject"].startswith(
        "[minewatch ashgabat-01] FIRING: 1 critical thermal alert"
    )
