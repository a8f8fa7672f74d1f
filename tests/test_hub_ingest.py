"""``minewatch hub`` on SQLite and on a real PostgreSQL: a real notifier's messages stored once in
sequence; refusals with reason codes, never a 500; one facility's bad messages leave another's
alone; forks, foreign keys, null heartbeats, unicode timestamps; the staff API needs a role."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import orjson

from minewatch.events import EventBus
from minewatch.hub import status
from minewatch.ledger import Head
from minewatch.notifier import regulator as reg
from minewatch.notifier.signing import H_TIMESTAMP, KeyStore, verify_message
from tests.support.notify import facility_config, running, sample_breach, transition
from tests.support.notify_hub import (
    ANALYST,
    FACILITY,
    HubServer,
    hub_notifier,
    register_facility,
    signed,
    wait_kinds,
)


def _post(hub: HubServer, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(hub.url, content=body, headers=headers, timeout=10)


def _numbered(
    msg: reg.RegulatorMessage, seq: int, prev: str = reg.NO_PREVIOUS
) -> reg.RegulatorMessage:
    return msg.model_copy(update={"sequence": seq, "prev_sha256": prev})


def test_a_facility_s_messages_arrive_in_sequence_and_staff_see_its_status(
    tmp_path: Path, hub: HubServer, key_dir: Path
) -> None:
    bus = EventBus()
    n = hub_notifier(tmp_path, hub.url, key_dir, bus=bus)
    with running(n):
        bus.publish(transition("EL-01", "firing", alert_id=1))
        got = wait_kinds(hub, "heartbeat", "breach_opened")
    assert sorted(got) == ["breach_opened", "heartbeat"]
    tl = hub.timeline()
    assert [m["sequence"] for m in reversed(tl["messages"])] == [1, 2]
    assert {m["verification"] for m in tl["messages"]} == {"ok"}
    (fac,) = hub.get("/v1/facilities").json()
    assert fac["status"] == "breach_open" and fac["open_breaches"] == 1
    csv = hub.get("/v1/export", params={"format": "csv"}).text
    assert csv.splitlines()[0].startswith("facility_id,") and FACILITY in csv
    assert hub.get("/v1/export", params={"format": "json"}).json()[0]["facility_id"] == FACILITY
    # the staff API has its own roles: nothing without a token, closing needs a supervisor
    assert httpx.get(hub.base + "/v1/facilities", timeout=5).status_code == 401
    assert "<table" in httpx.get(hub.base + "/", timeout=5).text


def test_foreign_key_is_refused_and_the_other_facility_is_unaffected(
    tmp_path: Path, hub: HubServer, key_dir: Path
) -> None:
    other_keys = tmp_path / "mary-keys"
    KeyStore(other_keys).generate()
    register_facility(hub.hub, other_keys, facility="mary-02", licence="TM-CB-2026-0077")
    # the demo key of mary-02 posting as ashgabat-01
    r = _post(hub, *signed(other_keys, _numbered(sample_breach(tmp_path), 1)))
    assert r.status_code == 403 and r.json()["reason"] == "foreign_key"
    assert [f["facility_id"] for f in hub.findings("key_misuse")] == ["mary-02"]
    ok = _post(hub, *signed(key_dir, _numbered(sample_breach(tmp_path), 1)))
    assert ok.status_code == 200 and ok.json()["status"] == "stored"


def test_null_heartbeat_and_unicode_timestamp_are_refused_never_500(
    tmp_path: Path, hub: HubServer, key_dir: Path
) -> None:
    cfg = facility_config(tmp_path)
    hb = reg.Heartbeat(
        interval_s=60, outbox_pending=0, dead_messages=0, firing_alerts=0, software_version="t"
    )
    doc = orjson.loads(
        reg.encode(reg.heartbeat_message(cfg, hb, now_ns=time.time_ns(), head=Head(1, "a" * 64)))
    )
    doc["heartbeat"], doc["sequence"] = None, 1
    r = _post(hub, *signed(key_dir, orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)))
    assert r.status_code == 400 and r.json()["reason"] == "schema"
    assert "heartbeat" in r.json()["detail"]
    assert hub.get("/v1/facilities").status_code == 200
    body, headers = signed(key_dir, _numbered(sample_breach(tmp_path), 1))
    # one byte 0xB2, which the server decodes (latin-1) as "²": str.isdigit() says yes, int() no
    r = httpx.post(
        hub.url,
        content=body,
        headers={**headers, H_TIMESTAMP: "²".encode("latin-1")},
        timeout=10,
    )
    assert r.status_code == 401 and r.json()["reason"] == "malformed_timestamp"
    # the same check that `minewatch verify-message` runs: a verdict, not a crash
    verdict = verify_message(body, {**headers, H_TIMESTAMP: "²"}, KeyStore(key_dir).public_keys())
    assert verdict.reason == "malformed_timestamp"
    # an unknown key id is refused without listing the ids the bank knows
    refused = _post(hub, body, {**headers, "X-Minewatch-Key-Id": "mw-x"})
    assert refused.json()["reason"] == "unknown_key"
    assert str(KeyStore(key_dir).current_id()) not in refused.text


def test_conflicting_anchors_are_a_fork(tmp_path: Path, hub: HubServer, key_dir: Path) -> None:
    first = _numbered(sample_breach(tmp_path, Head(5, "a" * 64)), 1)
    body1, h1 = signed(key_dir, first)
    assert _post(hub, body1, h1).json()["status"] == "stored"
    import hashlib

    second = _numbered(
        sample_breach(tmp_path, Head(5, "b" * 64)), 2, hashlib.sha256(body1).hexdigest()
    )
    assert _post(hub, *signed(key_dir, second)).json()["verification"] == "ok"
    assert [f["kind"] for f in hub.findings("fork")] == ["fork"]
    assert status.facility(hub.hub.db, FACILITY, time.time_ns())["status"] == "fork"
    # closing a finding is a supervisor's decision, with their name on it
    (fork,) = hub.findings("fork")
    close = f"{hub.base}/v1/findings/{fork['id']}/close"
    assert httpx.post(close, headers=ANALYST, timeout=5).status_code == 401
    sup = {"Authorization": "Bearer sup-token"}
    assert httpx.post(close, params={"by": "ogul"}, headers=sup, timeout=5).status_code == 200
    assert hub.findings("fork")[0]["closed_by"] == "ogul"
    assert status.facility(hub.hub.db, FACILITY, time.time_ns())["status"] != "fork"


def test_out_of_order_and_rewritten_sequence_numbers_are_caught(
    tmp_path: Path, hub: HubServer, key_dir: Path
) -> None:
    assert _post(hub, *signed(key_dir, _numbered(sample_breach(tmp_path), 3))).status_code == 200
    assert [f["detail"] for f in hub.findings("gap")] == [
        "messages #1..#2 never arrived (deleted at the facility?)"
    ]
    late = _post(hub, *signed(key_dir, _numbered(sample_breach(tmp_path), 1)))
    assert late.json()["verification"] == "late" and hub.findings("reorder")
    again = _post(hub, *signed(key_dir, _numbered(sample_breach(tmp_path), 3)))
    assert again.status_code == 409 and again.json()["reason"] == "rewrite"
