"""The facility obeys the regulator's licence terms, not its own configuration: fetched from the hub
(real server over HTTP, both storage engines) or installed from a file, verified against the pinned
regulator key, ledgered; forged, foreign or expired terms are refused and the last good ones stay;
and the channel cannot go quiet while the licence is active without a signed suspension reaching the
bank first."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.errors import ConfigError
from minewatch.events import EventBus
from minewatch.hub.register import Licence
from minewatch.hub.terms import issue
from minewatch.notifier.licence import TermsRefused
from minewatch.notifier.service import Notifier
from minewatch.notifier.signing import KeyStore
from tests.support.notify import running, transition, wait_until
from tests.support.notify_hub import (
    FACILITY,
    HubServer,
    hub_notifier,
    register_facility,
    wait_kinds,
)

DAY_NS = 86400 * 10**9


def _pinned(
    hub: HubServer, tmp_path: Path, key_dir: Path, bus: EventBus | None = None, **central: object
) -> Notifier:
    """A notifier pinning the hub's regulator key, its central bank the hub."""
    return hub_notifier(
        tmp_path, hub.url, key_dir, bus=bus, regulator_public_key=hub.regulator_pem(), **central
    )


def _heartbeats(hub: HubServer) -> list[dict]:
    rows = hub.get("/v1/messages", params={"kind": "heartbeat"}).json()
    return [r["body"]["heartbeat"] for r in rows]


def _terms_entries(n: Notifier) -> list:
    return [e for e in n.ledger.entries() if e.kind == "licence.terms"]


def test_heartbeat_interval_and_notifiable_rules_come_from_the_terms(
    tmp_path: Path, hub: HubServer, key_dir: Path
) -> None:
    """The licence says 10 s and only EL-07 is notifiable; the operator's config says 1e9 s. The
    notifier's clock runs 20x fast, so 10 licence seconds pass in half a real one."""
    register_facility(hub.hub, key_dir, heartbeat_interval_s=10, notifiable=["EL-07"])
    t0 = time.time_ns()
    bus = EventBus()
    n = hub_notifier(
        tmp_path,
        hub.url,
        key_dir,
        bus=bus,
        clock=lambda: t0 + (time.time_ns() - t0) * 20,
        heartbeat_interval_s=1e9,
        regulator_public_key=hub.regulator_pem(),
    )
    with running(n):
        wait_until(lambda: n.terms.source == "licence", what="terms fetched")
        bus.publish(transition("EL-01", "firing", alert_id=1))  # the profile says notifiable
        bus.publish(transition("EL-07", "firing", alert_id=2, regulator_notifiable=False))
        wait_until(
            lambda: sum(hb["terms_source"] == "licence" for hb in _heartbeats(hub)) >= 2,
            what="heartbeats on the licence's interval",
        )
        wait_kinds(hub, "breach_opened")
    licensed = [hb for hb in _heartbeats(hub) if hb["terms_source"] == "licence"]
    assert licensed[0]["interval_s"] == 10.0
    assert licensed[0]["terms_sha256"] == n.terms.current.sha256
    breaches = hub.get("/v1/messages", params={"kind": "breach_opened"}).json()
    assert [b["body"]["breach"]["rule"]["id"] for b in breaches] == ["EL-07"]
    (entry,) = _terms_entries(n)
    assert entry.payload["origin"] == "hub" and entry.payload["heartbeat_interval_s"] == 10.0
    assert not hub.findings("terms")  # the declared interval is the licence's
    assert not hub.findings("no_terms")


def test_without_terms_the_config_applies_and_says_so(
    tmp_path: Path, hub: HubServer, key_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    n = hub_notifier(tmp_path, hub.url, key_dir)  # no regulator key pinned
    with running(n):
        wait_kinds(hub, "heartbeat")
    (hb,) = _heartbeats(hub)
    assert (hb["terms_source"], hb["interval_s"], hb.get("terms_sha256")) == (
        "config",
        3600.0,
        None,
    )
    assert "no licence terms received from the regulator" in caplog.text
    (finding,) = hub.findings("no_terms")
    assert "own configuration" in finding["detail"]


def _forge(signed: bytes, **change: object) -> bytes:
    env = orjson.loads(signed)
    terms = orjson.loads(env["terms"])
    terms.update(change)
    env["terms"] = orjson.dumps(terms, option=orjson.OPT_SORT_KEYS).decode()
    return orjson.dumps(env)


def test_forged_foreign_and_expired_terms_are_refused_and_the_good_ones_stay(
    tmp_path: Path, hub: HubServer, key_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    n = _pinned(hub, tmp_path, key_dir)
    with running(n):
        wait_until(lambda: n.terms.source == "licence", what="terms fetched")
    good = n.terms.current
    assert good is not None and hub.hub.terms is not None
    signer = hub.hub.terms.signer
    other_regulator = KeyStore(tmp_path / "impostor")
    other_regulator.generate()
    hub.hub.register.register(
        Licence(facility_id="other-02", licence_number="TM-CB-2026-0099", holder="B", capacity_kw=9)
    )
    now = time.time_ns()
    bad = {
        "bad_signature": _forge(good.signed, heartbeat_interval_s=3600),
        "unknown_issuer": issue(hub.hub.register, FACILITY, other_regulator.signer(), now_ns=now),
        "foreign_facility": issue(hub.hub.register, "other-02", signer, now_ns=now),
        "expired": issue(
            hub.hub.register, FACILITY, signer, now_ns=now - 100 * DAY_NS, validity_s=86400
        ),
        "malformed": b"{not json",
    }
    caplog.set_level(logging.ERROR)
    for reason, doc in bad.items():
        for _ in range(2):  # the same document twice: counted twice, logged once
            with pytest.raises(TermsRefused) as exc:
                n.terms.offer(doc, "test")
            assert exc.value.reason == reason
        assert caplog.text.count(f"refused ({reason})") == 1
    assert n.terms.current is good and len(_terms_entries(n)) == 1
    assert n.counters.snapshot()["terms_refused_total"] == {reason: 2 for reason in bad}
    # a restart re-reads the good terms from the ledger and keeps them
    again = _pinned(hub, tmp_path, key_dir)
    assert again.terms.current is not None and again.terms.current.sha256 == good.sha256


def test_channel_switched_off_mid_breach_sends_a_signed_suspension_before_going_quiet(
    tmp_path: Path, hub: HubServer, key_dir: Path
) -> None:
    bus = EventBus()
    on = _pinned(hub, tmp_path, key_dir, bus)
    with running(on):
        wait_until(lambda: on.terms.licence_active(), what="terms fetched")
        bus.publish(transition("EL-01", "firing", alert_id=1))
        wait_kinds(hub, "breach_opened")
    bus = EventBus()
    off = _pinned(
        hub,
        tmp_path,
        key_dir,
        bus,
        enabled=False,
        suspend_reason="rewiring the main switchboard",
        suspended_by="ahmet",
    )
    with running(off):
        # the bank hears of the suspension while the channel is "off", before any silence
        wait_kinds(hub, "channel_suspended")
        bus.publish(transition("EL-01", "resolved", alert_id=1, from_state="firing"))
        wait_until(
            lambda: "breach_resolved" in [m.kind for m in off.outbox.messages("central_bank")],
            what="resolution queued",
        )
        time.sleep(0.5)  # held: delivery would take milliseconds
        assert "breach_resolved" not in hub.kinds()
    with running(_pinned(hub, tmp_path, key_dir)):
        got = wait_kinds(hub, "breach_resolved")
    assert (
        got.index("breach_opened") < got.index("channel_suspended") < got.index("breach_resolved")
    )
    (finding,) = hub.findings("channel_suspended")
    assert finding["detail"] == "rewiring the main switchboard"
    (notice,) = hub.get("/v1/messages", params={"kind": "channel_suspended"}).json()
    assert notice["body"]["suspension"] == {
        "reason": "rewiring the main switchboard",
        "actor": "operator:ahmet",
        "licence_active": True,
    }
    assert not hub.findings("gap") and not hub.findings("rewrite")
    assert {m["verification"] for m in hub.timeline()["messages"]} == {"ok"}


def test_switched_off_with_an_active_licence_and_no_url_refuses_to_start(
    tmp_path: Path, hub: HubServer, key_dir: Path
) -> None:
    n = _pinned(hub, tmp_path, key_dir)
    with running(n):
        wait_until(lambda: n.terms.licence_active(), what="terms fetched")
    cb = n.cfg.notify.central_bank.model_copy(update={"enabled": False, "url": None})
    cfg = n.cfg.model_copy(update={"notify": n.cfg.notify.model_copy(update={"central_bank": cb})})
    with pytest.raises(ConfigError, match="cannot be switched off while licence"):
        Notifier(cfg).start()


def test_offline_terms_file_installed_and_used(
    tmp_path: Path, hub_url: str, hub: HubServer, key_dir: Path
) -> None:
    register_facility(hub.hub, key_dir, heartbeat_interval_s=45)
    terms_file = tmp_path / "terms.json"
    r = CliRunner().invoke(
        app,
        [
            "hub",
            "issue-terms",
            "--db",
            hub_url,
            "--regulator-keys",
            str(hub.regulator_keys),
            "--facility",
            FACILITY,
            "--out",
            str(terms_file),
        ],
    )
    assert r.exit_code == 0, r.output
    (tmp_path / "regulator.pub").write_text(hub.regulator_pem())
    config = tmp_path / "facility.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "facility": {"id": FACILITY, "name": "Ashgabat Test Facility"},
                "licence": {"number": "TM-CB-2026-0042", "capacity_kw": 5000},
                "storage": {"data_dir": "data"},
                "notify": {
                    "central_bank": {
                        "enabled": True,
                        "url": hub.url,
                        "key_dir": str(key_dir),
                        "regulator_key_file": "regulator.pub",
                        # the hub's terms endpoint is out of reach: the site is "offline"
                        "terms_url": "http://127.0.0.1:9/v1/licence-terms",
                        "heartbeat_interval_s": 3600,
                        "daily_report_at": None,
                    },
                    "poll_interval_s": 0.05,
                },
            }
        )
    )
    forged = tmp_path / "forged.json"
    forged.write_bytes(_forge(terms_file.read_bytes(), heartbeat_interval_s=3600))
    r = CliRunner().invoke(app, ["licence", "install", str(forged), "--config", str(config)])
    assert r.exit_code == 1 and "refused: bad_signature" in r.output
    r = CliRunner().invoke(app, ["licence", "install", str(terms_file), "--config", str(config)])
    assert r.exit_code == 0 and "heartbeat every 45 s" in r.output, r.output
    from minewatch.config import load_facility

    n = Notifier(load_facility(config))
    with running(n):
        wait_kinds(hub, "heartbeat")
    (hb,) = _heartbeats(hub)
    assert (hb["terms_source"], hb["interval_s"]) == ("licence", 45.0)
    assert n.terms.current is not None and hb["terms_sha256"] == n.terms.current.sha256
    (entry,) = _terms_entries(n)
    assert entry.payload["origin"] == "file:terms.json"


def test_switched_off_before_any_terms_asks_for_them_first(
    tmp_path: Path, hub: HubServer, key_dir: Path
) -> None:
    """A facility that never had terms and starts switched off cannot slip through: it fetches the
    terms before deciding, finds the licence active, and delivers its suspension."""
    n = _pinned(hub, tmp_path, key_dir, enabled=False, suspended_by="merdan")
    with running(n):
        wait_kinds(hub, "channel_suspended")
    (notice,) = hub.get("/v1/messages", params={"kind": "channel_suspended"}).json()
    assert notice["body"]["suspension"]["actor"] == "operator:merdan"
    assert notice["body"]["suspension"]["licence_active"] is True
