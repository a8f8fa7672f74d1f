"""An operator using only supported means cannot keep a breach from the bank: outbox rows deleted or
edited are caught by ``audit verify`` and by the hub; a channel switched off during a breach sends
it (after a signed "channel suspended") once switched on; an empty ledger, conflicting anchors or a
misspelt facility never verify as OK."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.events import EventBus
from minewatch.ledger import Ledger
from minewatch.notifier.service import Notifier
from tests.support.notify import ReceiverServer, running, transition, wait_until
from tests.support.notify_hub import HubServer, audit_verify, hub_notifier, wait_kinds


def _queued_while_disabled(tmp_path: Path, url: str, key_dir: Path, breaches: int) -> Notifier:
    """A facility whose channel is switched off while ``breaches`` breaches open."""
    bus = EventBus()
    n = hub_notifier(tmp_path, url, key_dir, bus=bus, enabled=False)
    with running(n):
        for i in range(breaches):
            bus.publish(transition(f"EL-{i:02d}", "firing", alert_id=10 + i))
        wait_until(
            lambda: (
                [m.kind for m in n.outbox.messages("central_bank")].count("breach_opened")
                == breaches
            ),
            what="breaches queued",
        )
    return n


def _resume(tmp_path: Path, url: str, key_dir: Path) -> Notifier:
    return hub_notifier(tmp_path, url, key_dir, bus=EventBus())


def test_channel_disabled_mid_breach_sends_it_after_a_suspension_notice(
    tmp_path: Path, hub: HubServer, key_dir: Path
) -> None:
    n = _queued_while_disabled(tmp_path, hub.url, key_dir, 1)
    assert hub.kinds() == []
    with running(_resume(tmp_path, hub.url, key_dir)):
        got = wait_kinds(hub, "channel_suspended", "breach_opened")
    assert got.index("channel_suspended") < got.index("breach_opened")
    assert hub.findings("channel_suspended")
    assert audit_verify(n.cfg.state_db)[0] == 0


def test_deleted_outbox_row_is_caught_locally_and_by_the_hub(
    tmp_path: Path, hub: HubServer, key_dir: Path
) -> None:
    n = _queued_while_disabled(tmp_path, hub.url, key_dir, 3)
    with sqlite3.connect(n.cfg.state_db) as raw:
        raw.execute("DELETE FROM outbox WHERE destination = 'central_bank' AND seq = 3")
    code, out = audit_verify(n.cfg.state_db)
    assert code == 1 and "message #3 deleted from the outbox" in out
    with running(_resume(tmp_path, hub.url, key_dir)):
        wait_kinds(hub, "breach_opened", "heartbeat")
        wait_until(lambda: hub.findings("gap"), what="gap raised")
    (gap,) = hub.findings("gap")
    assert gap["detail"].startswith("messages #3..#3 never arrived")
    assert hub.get("/v1/facilities").json()[0]["status"] == "gap"


def test_edited_outbox_row_is_caught_locally_and_by_the_hub(
    tmp_path: Path, hub: HubServer, key_dir: Path
) -> None:
    n = _queued_while_disabled(tmp_path, hub.url, key_dir, 2)
    with sqlite3.connect(n.cfg.state_db) as raw:
        raw.execute(
            "UPDATE outbox SET body = CAST(REPLACE(CAST(body AS TEXT), '\"critical\"', "
            "'\"info\"') AS BLOB) WHERE seq = (SELECT MIN(seq) FROM outbox "
            "WHERE kind = 'breach_opened')"
        )
        (seq,) = raw.execute("SELECT MIN(seq) FROM outbox WHERE kind = 'breach_opened'").fetchone()
    code, out = audit_verify(n.cfg.state_db)
    assert code == 1 and f"message #{seq} edited in the outbox" in out
    with running(_resume(tmp_path, hub.url, key_dir)):
        wait_until(lambda: hub.findings("rewrite"), what="rewrite raised")
    assert f"does not link to #{seq}" in hub.findings("rewrite")[0]["detail"]


def test_empty_ledger_and_unknown_facility_neveraudit_verify(
    tmp_path: Path, receiver: ReceiverServer
) -> None:
    led = Ledger(tmp_path / "state.db")
    led.append("alert.transition", {"i": 1}, at_ns=1)
    emptied = Ledger(tmp_path / "emptied.db")
    emptied.append("alert.transition", {"i": 1}, at_ns=1)
    emptied.conn().execute("DELETE FROM ledger")
    code, out = audit_verify(emptied.path)
    assert code == 1 and "the ledger has no entries" in out
    r = CliRunner().invoke(
        app,
        [
            "audit",
            "verify",
            "--db",
            str(led.path),
            "--anchors-from",
            str(receiver.db_path),
            "--facility",
            "ashgabad-01",
        ],
    )
    assert r.exit_code != 0 and "holds no message from this facility" in r.output


def test_conflicting_anchors_for_one_entry_fail_verification(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "state.db")
    for i in range(3):
        led.append("alert.transition", {"i": i}, at_ns=i)
    real = led.head().hash
    assert led.verify([(3, real)]).ok
    rep = led.verify([(3, real), (3, "f" * 64)])
    assert not rep.ok and rep.problems[0].what == "anchor"
