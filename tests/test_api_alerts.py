"""Alerts through the API, produced by the real analyzer over the known facility: list, detail,
acknowledge, silence, curtailment orders, and every refusal with the parameter named."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from minewatch.analyzer.engine import Analyzer
from minewatch.analyzer.state import AlertStore
from minewatch.events import Event, EventBus
from minewatch.sample import NS_PER_S, Sample
from tests.support.api import (
    NOW_NS,
    TOKENS,
    KnownFacility,
    make_client,
    overheat_profile,
    rig_profile,
)

S = NS_PER_S


@dataclass
class Firing:
    client: TestClient
    alerts: AlertStore
    analyzer: Analyzer
    events: list[Event]
    alert_id: int


@pytest.fixture
def firing(known: KnownFacility) -> Iterator[Firing]:
    """rig-03 at 95 °C (limit 90) every 10 s from NOW-63s to NOW-3s: the analyzer, stepped every 10
    s from NOW-60s, makes TH-05 pending at 11:59:00 and firing at 11:59:20."""
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    alerts = AlertStore(known.cfg.state_db, bus=bus, clock=lambda: NOW_NS)
    known.store.write(
        [Sample(NOW_NS - (3 + k * 10) * S, "rig-03", "chip_temp_c", 95.0) for k in range(7)]
    )
    analyzer = Analyzer(
        known.cfg,
        known.store,
        alerts,
        bus,
        {"test-rig": rig_profile()},
        clock=lambda: NOW_NS,
        compliance=overheat_profile(),
    )
    for k in range(6, -1, -1):
        analyzer.evaluate_once(NOW_NS - k * 10 * S)
    [alert] = alerts.list_alerts("firing")
    with make_client(known, alert_store=alerts, bus=bus) as c:
        c.headers["Authorization"] = f"Bearer {TOKENS['operator']}"
        yield Firing(c, alerts, analyzer, events, alert["id"])
    alerts.close()


def test_firing_alert_is_listed_with_rfc3339_times(firing: Firing) -> None:
    body = firing.client.get("/api/v1/alerts?state=firing").json()
    assert body["count"] == 1
    a = body["items"][0]
    assert (a["rule_id"], a["subject"], a["severity"], a["state"]) == (
        "TH-05",
        "rig-03",
        "critical",
        "firing",
    )
    assert a["fired_at"] == "2026-01-05T11:59:20Z" and a["active_since"] == "2026-01-05T11:59:00Z"
    assert "fired_at_ns" not in a
    assert firing.client.get("/api/v1/alerts?state=active").json()["count"] == 1
    assert firing.client.get("/api/v1/alerts?state=resolved").json()["count"] == 0
    assert firing.client.get("/api/v1/alerts").json()["count"] == 1


def test_facility_and_device_show_the_alert(firing: Firing) -> None:
    fac = firing.client.get("/api/v1/facility").json()["alerts"]
    assert fac["firing"] == 1 and fac["firing_by_severity"] == {
        "critical": 1,
        "major": 0,
        "warning": 0,
        "info": 0,
    }
    dev = firing.client.get("/api/v1/devices/rig-03").json()
    assert [a["rule_id"] for a in dev["active_alerts"]] == ["TH-05"]
    assert firing.client.get("/api/v1/devices/rig-01").json()["active_alerts"] == []


def test_alert_detail_has_transitions_and_evidence(firing: Firing) -> None:
    a = firing.client.get(f"/api/v1/alerts/{firing.alert_id}").json()
    assert [(t["from_state"], t["to_state"]) for t in a["transitions"]][-1] == ("pending", "firing")
    assert a["transitions"][-1]["at"] == "2026-01-05T11:59:20Z"
    points = a["evidence"]["points"]
    assert points and all(isinstance(p[0], str) and p[0].endswith("Z") for p in points)


def test_unknown_alert_is_404(firing: Firing) -> None:
    err = firing.client.get("/api/v1/alerts/999").json()["error"]
    assert err["status"] == 404 and err["parameter"] == "alert_id" and "999" in err["reason"]


@pytest.mark.parametrize(
    ("query", "param", "reason"),
    [
        (
            "state=burning",
            "state",
            "must be one of pending, firing, nodata, suppressed, resolved, active",
        ),
        ("limit=0", "limit", "greater than or equal to 1"),
    ],
)
def test_alert_list_bad_parameters(firing: Firing, query: str, param: str, reason: str) -> None:
    resp = firing.client.get(f"/api/v1/alerts?{query}")
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert err["parameter"] == param and reason in err["reason"]


def test_operator_acknowledges_and_the_ack_is_published(firing: Firing) -> None:
    resp = firing.client.post(
        f"/api/v1/alerts/{firing.alert_id}/ack",
        json={"comment": "fan replaced, watching", "expires_in": "4h"},
    )
    assert resp.status_code == 200, resp.text
    a = resp.json()
    assert (
        a["acknowledged"] is True
        and a["ack_by"].startswith("operator#")
        and a["ack_comment"] == "fan replaced, watching"
    )
    assert a["ack_expires_at"] == "2026-01-05T16:00:00Z"
    [ev] = [e for e in firing.events if e.kind == "alert.ack"]
    assert ev.actor == a["ack_by"] and ev.payload["alert_id"] == firing.alert_id
    assert TOKENS["operator"] not in str(ev)


@pytest.mark.parametrize(
    ("body", "status", "param", "reason"),
    [
        ({}, 400, "comment", "Field required"),
        ({"comment": ""}, 400, "comment", "at least 1 character"),
        (
            {"comment": "x", "expires_at": "2026-01-05T11:00:00Z"},
            400,
            "expires_at",
            "must be in the future",
        ),
        ({"comment": "x", "expires_at": "tomorrow"}, 400, "expires_at", "RFC 3339"),
        ({"comment": "x", "expires_in": "4 hours"}, 400, "expires_in", "positive duration"),
        (
            {"comment": "x", "expires_in": "4h", "expires_at": "2026-01-06T00:00:00Z"},
            400,
            "expires_in",
            "not both",
        ),
        ({"comment": "x", "by": "someone"}, 400, "by", "Extra inputs are not permitted"),
        # a 17 MB comment would be ledgered and quoted to the bank: refused where it enters
        ({"comment": "x" * 17_000_000}, 400, "comment", "at most 4000 characters"),
    ],
)
def test_ack_bad_bodies(firing: Firing, body: dict, status: int, param: str, reason: str) -> None:
    resp = firing.client.post(f"/api/v1/alerts/{firing.alert_id}/ack", json=body)
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["parameter"] == param and reason in err["reason"], err


def test_ack_refusals(firing: Firing) -> None:
    c = firing.client
    assert c.post("/api/v1/alerts/999/ack", json={"comment": "x"}).status_code == 404
    resp = c.post(
        f"/api/v1/alerts/{firing.alert_id}/ack",
        json={"comment": "x"},
        headers={"Authorization": f"Bearer {TOKENS['inspector']}"},
    )
    assert resp.status_code == 403 and "inspector" in resp.json()["error"]["reason"]


def test_acknowledging_a_resolved_alert_is_a_conflict(known: KnownFacility, firing: Firing) -> None:
    """The analyzer refuses with ``Conflict``; the API answers 409 with the analyzer's sentence."""
    known.store.write(
        [Sample(NOW_NS + k * 10 * S, "rig-03", "chip_temp_c", 70.0) for k in range(1, 7)]
    )
    for k in range(1, 7):
        firing.analyzer.evaluate_once(NOW_NS + k * 10 * S)
    resolved = firing.alerts.get_alert(firing.alert_id)
    assert resolved is not None and resolved["resolved_at_ns"] is not None
    resp = firing.client.post(f"/api/v1/alerts/{firing.alert_id}/ack", json={"comment": "late"})
    assert resp.status_code == 409, resp.text
    err = resp.json()["error"]
    assert err["parameter"] is None
    assert err["reason"] == f"alert {firing.alert_id} is resolved; nothing to acknowledge"


def test_silence_lifecycle(firing: Firing) -> None:
    c = firing.client
    resp = c.post(
        "/api/v1/silences",
        json={
            "matchers": {"rule_id": "TH-05", "subject": "rig-03"},
            "ends_at": "2026-01-05T14:00:00Z",
            "reason": "board swap",
            "kind": "maintenance",
        },
    )
    assert resp.status_code == 201, resp.text
    sil = resp.json()
    assert sil["author"].startswith("operator#") and sil["starts_at"] == "2026-01-05T12:00:00Z"
    assert [s["id"] for s in c.get("/api/v1/silences?active=true").json()["items"]] == [sil["id"]]
    assert any(e.kind == "silence.created" for e in firing.events)
    ended = c.delete(f"/api/v1/silences/{sil['id']}").json()
    assert ended["ends_at"] == "2026-01-05T12:00:00Z"
    assert c.get("/api/v1/silences?active=true").json()["items"] == []
    assert c.delete("/api/v1/silences/999").status_code == 404


@pytest.mark.parametrize(
    ("body", "param", "reason"),
    [
        ({"matchers": {"rule_id": "TH-05"}, "reason": "x"}, "ends_at", "Field required"),
        (
            {"matchers": {"rule_id": "TH-05"}, "ends_at": "2026-01-05T11:00:00Z", "reason": "x"},
            "ends_at",
            "must be after starts_at",
        ),
        (
            {"matchers": {"rule_id": "TH-05"}, "ends_at": "2026-01-05T13:00:00Z", "reason": ""},
            "reason",
            "at least 1",
        ),
        (
            {"matchers": {"colour": "red"}, "ends_at": "2026-01-05T13:00:00Z", "reason": "x"},
            None,
            "unknown matcher label(s) colour",
        ),
        (
            {"matchers": {}, "ends_at": "2026-01-05T13:00:00Z", "reason": "x"},
            None,
            "matchers must name at least one",
        ),
    ],
)
def test_silence_bad_bodies(firing: Firing, body: dict, param: str | None, reason: str) -> None:
    resp = firing.client.post("/api/v1/silences", json=body)
    assert resp.status_code == 400, resp.text
    err = resp.json()["error"]
    assert err["parameter"] == param and reason in err["reason"], err


def test_curtailment_orders(firing: Firing) -> None:
    c = firing.client
    resp = c.post(
        "/api/v1/curtailment/orders",
        json={
            "target_kw": 50,
            "starts_at": "2026-01-05T18:00:00+05:00",
            "ends_at": "2026-01-05T20:00:00+05:00",
            "response_s": 600,
            "reason": "grid operator order 17",
        },
    )
    assert resp.status_code == 201, resp.text
    order = resp.json()
    assert order["starts_at"] == "2026-01-05T13:00:00Z" and order["issued_by"].startswith(
        "operator#"
    )
    assert [o["id"] for o in c.get("/api/v1/curtailment/orders").json()["items"]] == [order["id"]]
    assert (
        c.get(
            "/api/v1/curtailment/orders?start=2026-01-05T16:00:00Z&end=2026-01-05T17:00:00Z"
        ).json()["items"]
        == []
    )
    assert any(e.kind == "curtailment.order" for e in firing.events)
    bad = c.post(
        "/api/v1/curtailment/orders",
        json={
            "target_kw": -1,
            "starts_at": "2026-01-05T18:00:00Z",
            "ends_at": "2026-01-05T20:00:00Z",
            "response_s": 600,
        },
    )
    assert bad.status_code == 400 and bad.json()["error"]["parameter"] == "target_kw"
    backwards = c.post(
        "/api/v1/curtailment/orders",
        json={
            "target_kw": 1,
            "starts_at": "2026-01-05T18:00:00Z",
            "ends_at": "2026-01-05T17:00:00Z",
            "response_s": 600,
        },
    )
    assert backwards.status_code == 400 and backwards.json()["error"]["parameter"] == "ends_at"
    inspector = c.post(
        "/api/v1/curtailment/orders",
        json={},
        headers={"Authorization": f"Bearer {TOKENS['inspector']}"},
    )
    assert inspector.status_code == 403


@pytest.mark.parametrize(
    ("query", "status", "param"),
    [
        ("", 400, "from"),
        ("from=2026-01-01T00:00:00Z", 400, "to"),
        ("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", 400, "from"),
        ("from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z", 400, "to"),  # in the future of NOW
        ("from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", 400, "to"),  # longer than a year
    ],
)
def test_report_parameters(firing: Firing, query: str, status: int, param: str) -> None:
    resp = firing.client.get(
        f"/api/v1/reports?{query}", headers={"Authorization": f"Bearer {TOKENS['inspector']}"}
    )
    assert resp.status_code == status and resp.json()["error"]["parameter"] == param


def test_reports_are_for_inspectors(firing: Firing) -> None:
    resp = firing.client.get("/api/v1/reports?from=2026-01-05T00:00:00Z&to=2026-01-05T01:00:00Z")
    assert resp.status_code == 403 and "inspector" in resp.json()["error"]["reason"]


def test_inspector_gets_a_self_hashed_report(firing: Firing) -> None:
    from minewatch.analyzer.report import verify

    resp = firing.client.get(
        "/api/v1/reports?from=2026-01-05T11:00:00Z&to=2026-01-05T12:00:00Z",
        headers={"Authorization": f"Bearer {TOKENS['inspector']}"},
    )
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["period"]["start"].startswith("2026-01-05T11:00:00") and verify(report)
    assert report["facility"]["id"] == "test-site"


def test_cli_lists_what_the_api_lists_in_rfc3339(
    firing: Firing, known: KnownFacility, tmp_path
) -> None:
    """`minewatch alerts --state active` speaks the API's words and times: the same alerts as `GET
    /api/v1/alerts?state=active`, no ``*_ns`` integers, `open` no longer a state."""
    import json

    import yaml
    from typer.testing import CliRunner

    from minewatch.cli import app

    config = tmp_path / "facility.yaml"
    config.write_text(yaml.safe_dump(known.cfg.model_dump(mode="json", exclude_unset=True)))
    runner = CliRunner()
    out = runner.invoke(app, ["alerts", "--config", str(config), "--state", "active"])
    assert out.exit_code == 0, out.output
    cli = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    api = firing.client.get("/api/v1/alerts", params={"state": "active"}).json()["items"]
    assert [a["id"] for a in cli] == [a["id"] for a in api] == [firing.alert_id]
    assert cli[0]["fired_at"] == api[0]["fired_at"] and cli[0]["fired_at"].endswith("Z")
    assert not [k for a in cli for k in a if k.endswith("_ns")]
    refused = runner.invoke(app, ["alerts", "--config", str(config), "--state", "open"])
    assert refused.exit_code != 0 and "active" in refused.output
