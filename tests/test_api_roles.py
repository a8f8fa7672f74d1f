"""The role-by-endpoint matrix: every operation in the OpenAPI schema (and ``/metrics``) called with
no token and with each role's token. A role the table does not allow gets 403, no token gets 401, an
allowed role gets past authorization (whatever the request's own outcome). A new endpoint must be
added to the table, or this test fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from minewatch.analyzer.state import AlertStore
from tests.support.api import NOW_NS, TOKENS, KnownFacility, make_client

ANY = frozenset({"operator", "inspector", "admin"})
OPERATOR = frozenset({"operator", "admin"})
INSPECTOR = frozenset({"inspector", "admin"})
ADMIN = frozenset({"admin"})
PUBLIC = None

PERIOD = "from=2026-01-05T10:00:00Z&to=2026-01-05T11:00:00Z"
#: (method, schema path, a concrete request path, roles allowed; None: no token needed)
MATRIX: list[tuple[str, str, str, frozenset[str] | None]] = [
    ("GET", "/health", "/health", PUBLIC),
    ("GET", "/api/v1/health", "/api/v1/health", ADMIN),
    ("GET", "/metrics", "/metrics", ANY),
    ("GET", "/api/v1/facility", "/api/v1/facility", ANY),
    ("GET", "/api/v1/fleet", "/api/v1/fleet", ANY),
    ("GET", "/api/v1/facility/series", "/api/v1/facility/series", ANY),
    ("GET", "/api/v1/devices", "/api/v1/devices", ANY),
    ("GET", "/api/v1/devices/{device_id}", "/api/v1/devices/rig-01", ANY),
    (
        "GET",
        "/api/v1/devices/{device_id}/series",
        "/api/v1/devices/rig-01/series?metric=chip_temp_c",
        ANY,
    ),
    ("GET", "/api/v1/alerts", "/api/v1/alerts", ANY),
    ("GET", "/api/v1/alerts/{alert_id}", "/api/v1/alerts/1", ANY),
    ("POST", "/api/v1/alerts/{alert_id}/ack", "/api/v1/alerts/1/ack", OPERATOR),
    ("GET", "/api/v1/silences", "/api/v1/silences", ANY),
    ("POST", "/api/v1/silences", "/api/v1/silences", OPERATOR),
    ("DELETE", "/api/v1/silences/{silence_id}", "/api/v1/silences/1", OPERATOR),
    ("GET", "/api/v1/curtailment/orders", "/api/v1/curtailment/orders", ANY),
    ("POST", "/api/v1/curtailment/orders", "/api/v1/curtailment/orders", OPERATOR),
    ("GET", "/api/v1/reports", f"/api/v1/reports?{PERIOD}", INSPECTOR),
    ("GET", "/api/v1/reports/file", f"/api/v1/reports/file?{PERIOD}&format=json", INSPECTOR),
    (
        "GET",
        "/api/v1/reports/signatures/{sha256}",
        f"/api/v1/reports/signatures/{'0' * 64}",
        INSPECTOR,
    ),
    ("GET", "/api/v1/regulator", "/api/v1/regulator", ANY),
    ("GET", "/api/v1/ledger", "/api/v1/ledger", INSPECTOR),
    ("GET", "/api/v1/admin/faults", "/api/v1/admin/faults", ADMIN),
    ("POST", "/api/v1/admin/faults", "/api/v1/admin/faults", ADMIN),
    ("DELETE", "/api/v1/admin/faults", "/api/v1/admin/faults?fault=overheat", ADMIN),
    ("GET", "/api/v1/i18n/{lang}", "/api/v1/i18n/ru", PUBLIC),  # the login page's words
    ("GET", "/api/v1/me", "/api/v1/me", ANY),
    ("GET", "/api/v1/live", "/api/v1/live", ANY),  # a stream: only its refusals are called
]
BODIES = {
    "/api/v1/alerts/1/ack": {"comment": "seen"},
    "/api/v1/silences": {
        "matchers": {"rule_id": "X"},
        "ends_at": "2026-01-06T00:00:00Z",
        "reason": "r",
    },
    "/api/v1/curtailment/orders": {
        "target_kw": 1,
        "starts_at": "2026-01-05T12:00:00Z",
        "ends_at": "2026-01-05T13:00:00Z",
        "response_s": 60,
    },
    "/api/v1/admin/faults": {"fault": "overheat"},
}


@pytest.fixture
def app_client(known: KnownFacility) -> Iterator[TestClient]:
    alerts = AlertStore(known.cfg.state_db, clock=lambda: NOW_NS)
    with make_client(known, alert_store=alerts) as c:
        yield c
    alerts.close()


def test_matrix_covers_every_operation(app_client: TestClient) -> None:
    schema = app_client.get("/api/openapi.json").json()
    operations = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    listed = {(m, p) for m, p, _, _ in MATRIX}
    assert operations | {("GET", "/metrics")} == listed


@pytest.mark.parametrize(
    ("method", "path", "url", "allowed"), MATRIX, ids=[m[0] + m[1] for m in MATRIX]
)
@pytest.mark.parametrize("role", ["none", "operator", "inspector", "admin"])
def test_role_matrix(
    app_client: TestClient,
    method: str,
    path: str,
    url: str,
    allowed: frozenset[str] | None,
    role: str,
) -> None:
    headers = {"Authorization": f"Bearer {TOKENS[role]}"} if role != "none" else {}
    permitted = allowed is None or role in allowed
    if path == "/api/v1/live" and permitted:
        return  # the stream never ends; the page tests open it
    body = BODIES.get(url.split("?")[0]) if method != "GET" else None
    status = app_client.request(method, url, headers=headers, json=body).status_code
    if allowed is not None and role == "none":
        assert status == 401
    elif not permitted:
        assert status == 403
    else:
        assert status not in (401, 403), status
