"""Bounded operator input, and a refused message never blocks the queue: a 17 MB acknowledgement
comment is refused where it is entered; a message the bank refuses as too large is replaced by a
signed stand-in pointing at its ledger entry, and the messages behind it flow."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from minewatch.analyzer.alert_records import MAX_TEXT_CHARS, AlertRecords
from minewatch.errors import InvalidInput
from minewatch.events import Event, EventBus
from tests.support.notify import running, transition, wait_until
from tests.support.notify_hub import HubServer, audit_verify, hub_notifier, wait_kinds


def test_oversized_comment_and_reason_are_refused_with_the_limit(tmp_path: Path) -> None:
    records = AlertRecords(tmp_path / "state.db")
    with pytest.raises(InvalidInput, match=r"comment is 17000000 characters; at most 4000"):
        records.acknowledge(1, "operator:ahmet", "x" * 17_000_000, None)
    now = time.time_ns()
    with pytest.raises(InvalidInput, match="reason is"):
        records.add_silence({"rule_id": "TH-01"}, now, now + 10**12, "ahmet", "r" * 50_000)


def test_a_refused_message_is_replaced_and_later_messages_flow(
    tmp_path: Path, hub: HubServer, key_dir: Path
) -> None:
    hub.hub.ingestor.max_body_bytes = 4096  # the bank's limit, below a fully annotated breach
    bus = EventBus()
    n = hub_notifier(tmp_path, hub.url, key_dir, bus=bus)
    opened = transition("EL-01", "firing", alert_id=7)
    with running(n):
        bus.publish(opened)
        wait_kinds(hub, "breach_opened")
        bus.publish(
            Event(
                "alert.ack",
                time.time_ns(),
                "operator:ahmet",
                "EL-01:rig-0007",
                {"alert_id": 7, "comment": "c" * MAX_TEXT_CHARS, "regulator_notifiable": True},
            )
        )
        bus.publish(
            transition(
                "EL-01",
                "resolved",
                alert_id=7,
                from_state="firing",
                started_at_ns=opened.payload["started_at_ns"],
            )
        )
        got = wait_kinds(hub, "message_refused", "breach_resolved")
    assert got.index("message_refused") < got.index("breach_resolved")
    (refusal,) = hub.findings("refused")
    assert refusal["detail"].startswith("breach_updated #") and "too_large" in refusal["detail"]
    stand_in = next(m for m in hub.timeline()["messages"] if m["kind"] == "message_refused")
    assert stand_in["summary"]["refused"]["status_code"] == 413
    assert stand_in["summary"]["refused"]["source_entry"] is not None
    assert hub.get("/v1/facilities").json()[0]["open_gaps"] == 0  # sequence and chain intact
    assert audit_verify(n.cfg.state_db)[0] == 0  # the ledger accounts for the replaced row
    wait_until(lambda: n.counters.get("refused_total") == 1, what="counted")
