"""The reference receiver over real HTTP: verify, de-duplicate, store, reject with reasons; audit
verify against the anchors it holds."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import orjson
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.ledger import Ledger, entry_hash
from minewatch.notifier import regulator as reg
from minewatch.notifier.signing import H_MESSAGE_ID, KeyStore
from tests.support.notify import HEAD, ReceiverServer, facility_config, sample_breach


def _post(receiver: ReceiverServer, keys: KeyStore, body: bytes, **hdr: str) -> httpx.Response:
    mid = orjson.loads(body).get("message_id", "")
    headers = {
        "Content-Type": "application/json",
        H_MESSAGE_ID: mid,
        **keys.signer().headers(body),
        **hdr,
    }
    return httpx.post(receiver.url, content=body, headers=headers, timeout=5)


def test_stores_once_and_answers_duplicates(
    tmp_path: Path, receiver: ReceiverServer, key_dir: Path
) -> None:
    keys = KeyStore(key_dir)
    msg = sample_breach(tmp_path)
    body = reg.encode(msg)
    r = _post(receiver, keys, body)
    assert r.status_code == 200 and r.json()["status"] == "stored"
    again = _post(receiver, keys, body)  # a retry after a lost answer: freshly signed, same message
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    # same fact under a new message id (e.g. re-queued after a crash): the idempotency key catches
    # it
    twin = msg.model_copy(update={"message_id": "0e1d2c3b-0000-4000-8000-000000000001"})
    assert _post(receiver, keys, reg.encode(twin)).json()["status"] == "duplicate"
    stored = receiver.received()
    assert len(stored) == 1 and stored[0]["body"] == orjson.loads(body)
    assert stored[0]["ledger_seq"] == 3 and stored[0]["key_id"] == keys.current_id()
    assert receiver.count("duplicates") == 2


def test_rejects_with_reasons_and_keeps_a_record(
    tmp_path: Path, receiver: ReceiverServer, key_dir: Path
) -> None:
    keys = KeyStore(key_dir)
    body = reg.encode(sample_breach(tmp_path))
    tampered = body.replace(b'"value":91.5', b'"value":81.5')
    r = httpx.post(receiver.url, content=tampered, headers=keys.signer().headers(body), timeout=5)
    assert (r.status_code, r.json()["reason"]) == (401, "bad_signature")
    old = keys.signer().headers(body, timestamp_s=int(time.time()) - 900)
    r = httpx.post(receiver.url, content=body, headers=old, timeout=5)
    assert (r.status_code, r.json()["reason"]) == (401, "stale_timestamp")
    bad = orjson.dumps({**orjson.loads(body), "kind": "breach_exploded"})
    r = _post(receiver, keys, bad)
    assert (r.status_code, r.json()["reason"]) == (400, "schema") and "kind" in r.json()["detail"]
    assert receiver.received() == [] and receiver.count("rejected") == 3


def test_facility_status_shows_last_heartbeat_and_anchor(
    tmp_path: Path, receiver: ReceiverServer, key_dir: Path
) -> None:
    keys = KeyStore(key_dir)
    cfg = facility_config(tmp_path)
    hb = reg.Heartbeat(
        interval_s=300, outbox_pending=0, dead_messages=0, firing_alerts=1, software_version="0.1.0"
    )
    _post(
        receiver, keys, reg.encode(reg.heartbeat_message(cfg, hb, now_ns=time.time_ns(), head=HEAD))
    )
    fac = httpx.get(receiver.url.replace("/v1/messages", "/v1/facilities"), timeout=5).json()
    assert fac[0]["facility_id"] == "ashgabat-01" and fac[0]["silent"] is False
    assert fac[0]["ledger_anchor"] == {"seq": 3, "hash": "ab" * 32}


def test_audit_verify_cli_against_the_receivers_anchors(
    tmp_path: Path, receiver: ReceiverServer
) -> None:
    led = Ledger(tmp_path / "data" / "state.db")
    for i in range(5):
        led.append("alert.transition", {"i": i}, at_ns=i)
    runner = CliRunner()
    db = str(led.path)
    r = runner.invoke(app, ["audit", "verify", "--db", db, "--anchor", f"5:{led.head().hash}"])
    assert r.exit_code == 0 and "OK: 5 entries" in r.output and "1 anchor(s) match" in r.output
    raw = sqlite3.connect(db)
    raw.execute("UPDATE ledger SET payload = '{\"i\": 7}' WHERE seq = 3")
    raw.commit()
    raw.close()
    r = runner.invoke(app, ["audit", "verify", "--db", db])
    assert r.exit_code == 1 and "TAMPERED: first problem at entry #3 edited" in r.output


def test_audit_export_writes_verifiable_json_lines(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "state.db")
    for i in range(3):
        led.append("alert.transition" if i != 1 else "alert.ack", {"i": i}, at_ns=i)
    r = CliRunner().invoke(
        app, ["audit", "export", "--db", str(led.path), "--kind", "alert.transition"]
    )
    assert r.exit_code == 0, r.output
    rows = [orjson.loads(line) for line in r.output.splitlines()]
    assert [x["seq"] for x in rows] == [1, 3]
    e = rows[1]
    assert e["hash"] == entry_hash(
        e["prev_hash"], e["seq"], e["at_ns"], e["kind"], e["actor"], e["subject"], e["payload"]
    )


def test_a_rotated_key_is_accepted_once_its_public_key_is_in_the_folder(
    tmp_path: Path, receiver: ReceiverServer, key_dir: Path
) -> None:
    other = KeyStore(tmp_path / "facility-keys")  # the facility's key folder, apart from the bank's
    other.generate()
    body = reg.encode(sample_breach(tmp_path))
    r = _post(receiver, other, body)
    assert (r.status_code, r.json()["reason"]) == (401, "unknown_key")
    kid = other.current_id()
    (key_dir / f"{kid}.pub").write_bytes(
        (other.dir / f"{kid}.pub").read_bytes()
    )  # the bank registers it
    r = _post(receiver, other, body)
    assert r.status_code == 200 and r.json()["status"] == "stored"
