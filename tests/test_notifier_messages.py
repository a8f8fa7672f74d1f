"""Regulator message bodies: schema file in sync with the model, every kind valid, RFC 3339 UTC
times, idempotency keys, and the daily report at the facility's local time."""

from __future__ import annotations

import json
from pathlib import Path

import orjson

from minewatch.alerting import AlertTransition
from minewatch.notifier import regulator as reg
from minewatch.notifier.service import Notifier
from tests.support.notify import HEAD, ReceiverServer, facility_config, sample_breach, transition

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schemas" / "regulator-message.v2.schema.json"


def test_shipped_json_schema_is_the_message_model() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == reg.json_schema()


def test_every_kind_validates_and_timestamps_are_rfc3339_utc(tmp_path: Path) -> None:
    cfg = facility_config(tmp_path)
    now = 1_767_225_600_123_456_789
    msgs = [
        sample_breach(tmp_path),
        reg.curtailment_message(
            cfg,
            {
                "order_id": "CB-7",
                "target_kw": 2500,
                "starts_at_ns": now,
                "ends_at_ns": now + 3600 * 10**9,
                "response_s": 42,
                "issued_by": "CBT",
            },
            occurred_ns=now,
            now_ns=now,
            head=HEAD,
        ),
        reg.report_message(
            cfg,
            {"energy_kwh": 98765.4, "peak_demand_kw": 4810.0},
            start_ns=now - 86400 * 10**9,
            end_ns=now,
            now_ns=now,
            head=HEAD,
        ),
        reg.heartbeat_message(
            cfg,
            reg.Heartbeat(
                interval_s=300,
                outbox_pending=0,
                dead_messages=0,
                firing_alerts=0,
                software_version="0.1.0",
            ),
            now_ns=now,
            head=HEAD,
        ),
    ]
    for m in msgs:
        doc = orjson.loads(reg.encode(m))
        assert reg.RegulatorMessage.model_validate(doc) == m
        assert doc["schema"] == "minewatch.regulator-message.v2"
        assert doc["facility"] == {
            "id": "ashgabat-01",
            "name": "Ashgabat Test Facility",
            "licence_number": "TM-CB-2026-0042",
            "licensed_capacity_kw": 5000.0,
        }
    cur = orjson.loads(reg.encode(msgs[1]))
    assert (
        cur["occurred_at"] == "2026-01-01T00:00:00.123Z"
        and cur["curtailment"]["ends_at"] == "2026-01-01T01:00:00.123Z"
    )


def test_breach_message_carries_rule_values_evidence_and_head(tmp_path: Path) -> None:
    doc = orjson.loads(reg.encode(sample_breach(tmp_path)))
    b = doc["breach"]
    assert b["rule"] == {
        "id": "EL-01",
        "title": "Rule EL-01",
        "severity": "critical",
        "family": "thermal",
        "source": "manufacturer spec",
    }
    assert (b["value"], b["threshold"], b["unit"], b["state"]) == (91.5, 85.0, "C", "firing")
    assert (
        b["evidence"]["points"] == 2
        and b["evidence"]["max"] == 91.5
        and len(b["evidence"]["sha256"]) == 64
    )
    assert doc["ledger"] == {"seq": 3, "hash": "ab" * 32}


def test_idempotency_key_is_the_same_for_the_same_breach(tmp_path: Path) -> None:
    cfg = facility_config(tmp_path)
    ev = transition("EL-01", "firing", alert_id=4)
    a, b = (
        reg.breach_message(
            cfg,
            "breach_opened",
            AlertTransition.parse(ev.payload),
            occurred_ns=ev.at_ns + i,
            now_ns=ev.at_ns + i,
            head=HEAD,
            annotation=reg.OperatorAnnotation(),
        )
        for i in range(2)
    )
    assert a.idempotency_key == b.idempotency_key and a.message_id != b.message_id
    # no start time: two different alerts of the same rule and subject are two breaches
    c, d = (
        reg.breach_message(
            cfg,
            "breach_opened",
            AlertTransition.parse({**ev.payload, "started_at_ns": None, "alert_id": i}),
            occurred_ns=ev.at_ns,
            now_ns=ev.at_ns,
            head=HEAD,
            annotation=reg.OperatorAnnotation(),
        )
        for i in (5, 6)
    )
    assert c.idempotency_key != d.idempotency_key


def test_daily_report_at_local_time_from_the_report_dict(
    tmp_path: Path, receiver: ReceiverServer, key_dir: Path
) -> None:
    report = {
        "energy_kwh": 98765.4,
        "peak_demand_kw": 4810.0,
        "licensed_capacity_kw": 5000,
        "breaches": [{"rule_id": "EL-01", "count": 1}],
        "data_availability_pct": 99.7,
    }
    periods: list[tuple[int, int]] = []

    def source(start: int, end: int) -> dict:
        periods.append((start, end))
        return report

    cfg = facility_config(
        tmp_path,
        notify={
            "central_bank": {
                "enabled": True,
                "url": receiver.url,
                "key_dir": str(key_dir),
                "daily_report_at": "06:00",
            }
        },
    )
    n = Notifier(cfg, None, report_source=source, deliver=False)
    # 2026-03-10 07:00 in Ashgabat (UTC+5) = 02:00 UTC: yesterday's report is due
    due, start, end = n.reporter.period(1_773_108_000 * 10**9)
    assert (start, end) == (
        1_772_996_400 * 10**9,
        1_773_082_800 * 10**9,
    )  # 2026-03-09 00:00 .. 03-10 00:00 +05
    assert due == 1_773_104_400 * 10**9  # 06:00 +05
    n.reporter.step(1_773_108_000 * 10**9)
    n.reporter.step(1_773_108_060 * 10**9)  # once per day
    msgs = n.outbox.messages("central_bank")
    assert len(msgs) == 1 and periods == [(start, end)]
    doc = orjson.loads(msgs[0].body)
    assert doc["kind"] == "daily_report" and doc["report"]["content"] == report
    assert (
        doc["report"]["period_start"] == "2026-03-08T19:00:00.000Z"
        and doc["report"]["timezone"] == "Asia/Ashgabat"
    )
    issued = [e for e in n.ledger.entries() if e.kind == "report.issued"]
    assert (
        issued[0].payload["sha256"] == doc["report"]["sha256"]
        and doc["ledger"]["seq"] == issued[0].seq
    )


def test_daily_report_built_by_the_analyzer(tmp_path: Path) -> None:
    from minewatch.notifier.commands import default_report_source
    from tests.support.analyzer import T0, site_with_history

    cfg, store, alerts, _ = site_with_history(tmp_path)
    store.close()
    alerts.close()
    source = default_report_source(cfg)
    assert source is not None
    n = Notifier(
        cfg.model_copy(
            update={
                "notify": cfg.notify.model_copy(
                    update={
                        "central_bank": cfg.notify.central_bank.model_copy(
                            update={"enabled": True, "url": "http://127.0.0.1:9/"}
                        )
                    }
                )
            }
        ),
        None,
        report_source=source,
        deliver=False,
    )
    end = T0 + 2 * 3600 * 10**9
    n.reporter.queue(T0, end, source(T0, end), end)
    (msg,) = n.outbox.messages("central_bank")
    doc = reg.RegulatorMessage.model_validate_json(msg.body)
    content = doc.report.content
    assert content["period"]["start"] == "2026-01-01T00:00:00Z" and "report_error" not in content
    assert (
        content["summary"]["energy_kwh"] == 119.75 and content["summary"]["peak_demand_kw"] == 120.0
    )
    assert {"breaches", "data_availability", "energy"} <= set(content)
    assert doc.report.period_end == "2026-01-01T02:00:00.000Z"


def test_versions_in_force_at_start_and_profile_change_while_running(tmp_path: Path) -> None:
    from minewatch.config import load_facility

    prof = tmp_path / "my-profile.yaml"
    prof.write_text("id: mine\n")
    (tmp_path / "facility.yaml").write_text(
        "facility: {id: f1, name: F1}\nlicence: {number: L-1, capacity_kw: 10}\nstorage: "
        "{data_dir: data}\n"
        "analysis: {compliance_profile: my-profile.yaml}\n"
    )
    cfg = load_facility(tmp_path / "facility.yaml")
    clock = iter(range(10**18, 10**18 + 10**15, 10**12))  # 1000 s per call
    n = Notifier(cfg, None, deliver=False, clock=lambda: next(clock))
    n.start()
    n.stop()
    # the disabled channel's suspension is ledgered too (it heads the backlog when re-enabled)
    (entry,) = [e for e in n.ledger.entries() if e.kind == "config.in_force"]
    assert len(entry.payload["config_sha256"]) == 64
    before = entry.payload["files"][str(prof)]
    assert before is not None and len(entry.payload["files"]) > 1  # the shipped device profiles too
    prof.write_text("id: mine\n# threshold edited\n")
    n.process_once()
    changed = [e for e in n.ledger.entries() if e.kind == "config.changed"]
    assert len(changed) == 1 and set(changed[0].payload["files"]) == {str(prof)}
    assert changed[0].payload["files"][str(prof)] != before
    n.process_once()
    assert len([e for e in n.ledger.entries() if e.kind == "config.changed"]) == 1
