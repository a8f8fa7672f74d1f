"""The API under hostile or careless input: out-of-range values are 400s naming the parameter, every
answer carries the security headers, failed logins are limited per address, ``/health`` shows
counters only, report builds are limited, and ``/metrics`` speaks Prometheus."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from minewatch.analyzer.state import AlertStore
from minewatch.api.report_files import build_slot
from minewatch.api.security import CONTENT_SECURITY_POLICY
from tests.support.api import NOW_NS, TOKENS, KnownFacility, make_client

OPERATOR = {"Authorization": f"Bearer {TOKENS['operator']}"}
ADMIN = {"Authorization": f"Bearer {TOKENS['admin']}"}


@pytest.fixture
def with_alerts(known: KnownFacility) -> Iterator[TestClient]:
    alerts = AlertStore(known.cfg.state_db, clock=lambda: NOW_NS)
    with make_client(known, alert_store=alerts) as c:
        yield c


def refusal(resp: Any, status: int = 400) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    error: dict[str, Any] = resp.json()["error"]
    return error


#: (method, path, query or JSON body, the parameter the 400 must name, words in the reason)
OUT_OF_RANGE: list[tuple[str, str, dict[str, Any], str, str]] = [
    ("GET", "/api/v1/facility/series", {"start": "0001-01-01T00:00:00Z"}, "start", "1970"),
    ("GET", "/api/v1/facility/series", {"start": "0001-01-01T00:00:00+05:00"}, "start", "1970"),
    ("GET", "/api/v1/facility/series", {"end": "9999-12-31T23:59:59-05:00"}, "end", "2200"),
    ("GET", "/api/v1/facility/series", {"step": "9" * 5000 + "d"}, "step", "positive duration"),
    ("GET", "/api/v1/facility/series", {"step": "9999d"}, "step", "at most 400d"),
    ("GET", "/api/v1/devices/rig-01/series", {"metric": "chip_temp_c", "step": "500d"}, "step", ""),
    ("GET", "/api/v1/devices", {"offset": str(2**63)}, "offset", ""),
    ("GET", f"/api/v1/alerts/{2**63}", {}, "alert_id", ""),
    ("GET", "/api/v1/alerts/0", {}, "alert_id", ""),
    ("DELETE", f"/api/v1/silences/{2**64}", {}, "silence_id", ""),
    (
        "POST",
        "/api/v1/alerts/1/ack",
        {"comment": "x", "expires_in": "9999999999d"},
        "expires_in",
        "",
    ),
    ("POST", "/api/v1/alerts/1/ack", {"comment": "x" * 5000}, "comment", ""),
    (
        "POST",
        "/api/v1/curtailment/orders",
        {
            "target_kw": 1e300,
            "starts_at": "2026-01-05T12:00:00Z",
            "ends_at": "2026-01-05T13:00:00Z",
            "response_s": 60,
        },
        "target_kw",
        "",
    ),
]


@pytest.mark.parametrize(("method", "path", "params", "parameter", "words"), OUT_OF_RANGE)
def test_out_of_range_is_a_400_naming_the_parameter(
    with_alerts: TestClient,
    method: str,
    path: str,
    params: dict[str, Any],
    parameter: str,
    words: str,
) -> None:
    if method == "GET":
        resp = with_alerts.request(method, path, params=params, headers=ADMIN)
    else:
        resp = with_alerts.request(method, path, json=params or None, headers=ADMIN)
    error = refusal(resp)
    assert error["parameter"] == parameter and words in error["reason"]


def test_nan_is_refused_where_a_number_is_needed(with_alerts: TestClient) -> None:
    body = (
        '{"target_kw": NaN, "starts_at": "2026-01-05T12:00:00Z", '
        '"ends_at": "2026-01-05T13:00:00Z", "response_s": 60}'
    )
    resp = with_alerts.post(
        "/api/v1/curtailment/orders",
        content=body,
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    assert refusal(resp)["parameter"] == "target_kw"


@pytest.mark.parametrize("path", ["/login", "/static/live.js", "/api/v1/facility", "/health"])
def test_every_answer_carries_the_security_headers(client: TestClient, path: str) -> None:
    resp = client.get(path)
    assert resp.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in (
        CONTENT_SECURITY_POLICY
    )
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "no-referrer"


def test_refusals_carry_the_headers_too(client: TestClient) -> None:
    resp = client.get("/api/v1/devices/nope")
    assert resp.status_code == 404 and resp.headers["x-content-type-options"] == "nosniff"


def test_pages_have_no_inline_script_or_style(client: TestClient) -> None:
    for path in ("/login", "/"):
        html = client.get(path).text
        assert "<script>" not in html and "style=" not in html, path


def test_favicon_is_served(client: TestClient) -> None:
    resp = client.get("/favicon.ico")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("image/svg+xml")


def test_failed_logins_are_limited_per_address_and_logged(
    known: KnownFacility, caplog: pytest.LogCaptureFixture
) -> None:
    with make_client(known) as c, caplog.at_level(logging.WARNING, "minewatch.api.security"):
        limit = c.app.state.ctx.failed_logins.limit  # type: ignore[attr-defined]
        for i in range(limit):
            wrong = {"Authorization": f"Bearer wrong-token-{i:04d}-xxxxxxxx"}
            assert c.get("/api/v1/facility", headers=wrong).status_code == 401
        resp = c.post("/login", json={"token": "still-wrong-0123456789"})
        assert resp.status_code == 429 and int(resp.headers["retry-after"]) > 0
        assert "too many failed logins" in resp.json()["error"]["reason"]
        # the right token from the same address waits too: the limit is on the address
        assert c.get("/api/v1/facility", headers=OPERATOR).status_code == 429
    logged = [r.getMessage() for r in caplog.records if "failed login from" in r.getMessage()]
    assert len(logged) == limit and logged[-1].startswith("failed login from testclient")
    assert all("wrong-token" not in m for m in logged)  # the token itself is never logged


def test_health_shows_counters_only_and_details_need_admin(client: TestClient) -> None:
    public = client.get("/health", headers={"Authorization": ""}).json()

    def leaves(value: Any) -> Iterator[Any]:
        if isinstance(value, dict):
            for v in value.values():
                yield from leaves(v)
        else:
            yield value

    assert public["store"] == {"backend": "sqlite", "ok": True}
    comps = public["components"]
    assert "live" in comps and "logins" in comps
    assert all(isinstance(v, int | float) for v in leaves(comps))
    assert client.get("/api/v1/health", headers=OPERATOR).status_code == 403
    details = client.get("/api/v1/health", headers=ADMIN).json()
    assert details["store"]["error"] is None and "live" in details["components"]


def test_report_builds_are_limited(known: KnownFacility) -> None:
    alerts = AlertStore(known.cfg.state_db, clock=lambda: NOW_NS)
    with make_client(known, alert_store=alerts, report_builds=1) as c:
        ctx = c.app.state.ctx  # type: ignore[attr-defined]
        period = {"from": "2026-01-05T10:00:00Z", "to": "2026-01-05T11:00:00Z"}
        with build_slot(ctx):  # one build running
            resp = c.get("/api/v1/reports", params=period, headers=ADMIN)
            assert resp.status_code == 429 and resp.headers["retry-after"] == "30"
            assert "being built already" in resp.json()["error"]["reason"]
        assert c.get("/api/v1/reports", params=period, headers=ADMIN).status_code == 200


def test_metrics_need_a_token_and_count_requests_by_route(client: TestClient) -> None:
    assert client.get("/metrics", headers={"Authorization": ""}).status_code == 401
    client.get("/api/v1/devices/rig-01")
    client.get("/api/v1/devices/rig-02")
    text = client.get("/metrics").text
    assert (
        'minewatch_api_requests_total{method="GET",route="/api/v1/devices/{device_id}",'
        'status="200"} 2.0' in text
    )
    assert "minewatch_live_" in text and "minewatch_logins_refused 0.0" in text
    assert "rig-01" not in text  # ids never become label values
