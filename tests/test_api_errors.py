"""Typed refusals become HTTP statuses by type, through real requests; routes get their context
through the ``get_ctx`` dependency, so ``app.dependency_overrides`` replaces it everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from minewatch.analyzer.state import AlertStore
from minewatch.api.auth import TokenTable
from minewatch.api.context import ApiContext
from minewatch.api.dependencies import get_ctx
from minewatch.api.errors import (
    STATUS_OF,
    BadParameter,
    Unauthenticated,
    UnknownResource,
    status_of,
)
from minewatch.errors import (
    ConfigError,
    Conflict,
    InvalidInput,
    MinewatchError,
    NotFound,
    PermissionDenied,
    StoreUnavailable,
)
from tests.support.api import NOW_NS, TOKENS, KnownFacility, fill_known_facility, make_client


class AlreadyAcknowledged(Conflict):
    """A refusal type no table lists: it takes the status of the nearest listed base."""


#: What a route raises, and what the client must see: status, parameter, reason.
REFUSALS: list[tuple[MinewatchError, int, str | None, str]] = [
    (InvalidInput("target_kw must be >= 0"), 400, None, "target_kw must be >= 0"),
    (BadParameter("step", "must be positive"), 400, "step", "must be positive"),
    (Unauthenticated("not recognised", challenge="Bearer"), 401, "Authorization", "not recognised"),
    (PermissionDenied("role 'inspector' may not"), 403, None, "role 'inspector' may not"),
    (NotFound("alert 7 not found"), 404, None, "alert 7 not found"),
    (UnknownResource("device", "unknown device 'x'"), 404, "device", "unknown device 'x'"),
    (Conflict("alert 7 is resolved"), 409, None, "alert 7 is resolved"),
    (AlreadyAcknowledged("alert 7 is acknowledged"), 409, None, "alert 7 is acknowledged"),
    (ConfigError(["api.port: must be > 0"]), 500, None, "api.port: must be > 0"),
    (MinewatchError("the ledger is read-only"), 500, None, "the ledger is read-only"),
    (StoreUnavailable("influxdb refused"), 503, None, "influxdb refused"),
]


@pytest.fixture
def raising(known: KnownFacility) -> Iterator[TestClient]:
    """The real app with one extra route that raises ``REFUSALS[i]``."""
    router = APIRouter()

    @router.get("/raise/{i}")
    def raise_refusal(i: int) -> None:
        raise REFUSALS[i][0]

    with make_client(known) as client:
        app = client.app
        assert isinstance(app, FastAPI)
        app.include_router(router)
        yield client


@pytest.mark.parametrize(
    ("i", "status", "parameter", "reason"),
    [(i, status, param, reason) for i, (_, status, param, reason) in enumerate(REFUSALS)],
    ids=[type(exc).__name__ for exc, *_ in REFUSALS],
)
def test_each_typed_refusal_has_its_status(
    raising: TestClient, i: int, status: int, parameter: str | None, reason: str
) -> None:
    resp = raising.get(f"/raise/{i}")
    assert resp.status_code == status, resp.text
    assert resp.json() == {
        "error": {
            "status": status,
            "parameter": parameter,
            "reason": reason,
            "message": f"{parameter}: {reason}" if parameter else reason,
        }
    }


def test_401_carries_the_challenge(raising: TestClient) -> None:
    i = next(n for n, (exc, *_) in enumerate(REFUSALS) if isinstance(exc, Unauthenticated))
    assert raising.get(f"/raise/{i}").headers["www-authenticate"] == "Bearer"
    assert "www-authenticate" not in raising.get("/raise/0").headers


def test_every_refusal_type_of_the_error_root_is_in_the_table() -> None:
    """A new ``minewatch.errors`` type must be given a status deliberately, not fall to 500."""
    import minewatch.errors as root

    declared = {
        obj
        for obj in vars(root).values()
        if isinstance(obj, type) and issubclass(obj, MinewatchError)
    }
    assert declared <= set(STATUS_OF)
    assert status_of(AlreadyAcknowledged("x")) == 409


def test_real_parts_refuse_with_the_typed_statuses(known: KnownFacility) -> None:
    """Not found from the analyzer, permission from auth, unavailable alert state: each through the
    route that meets it."""
    alerts = AlertStore(known.cfg.state_db, clock=lambda: NOW_NS)
    try:
        with make_client(known, alert_store=alerts) as c:
            op = {"Authorization": f"Bearer {TOKENS['operator']}"}
            inspector = {"Authorization": f"Bearer {TOKENS['inspector']}"}
            ack = c.post("/api/v1/alerts/41/ack", json={"comment": "x"}, headers=op)
            assert ack.status_code == 404 and ack.json()["error"]["reason"] == "alert 41 not found"
            denied = c.post("/api/v1/alerts/41/ack", json={"comment": "x"}, headers=inspector)
            assert denied.status_code == 403
            assert c.post("/api/v1/alerts/41/ack", json={"comment": "x"}).status_code == 401
        with make_client(known) as c:
            resp = c.get("/api/v1/alerts", headers=op)
            assert resp.status_code == 503 and "alert state" in resp.json()["error"]["reason"]
    finally:
        alerts.close()


def test_routes_get_their_context_through_the_dependency(
    known: KnownFacility, tmp_path: Path
) -> None:
    """Overriding ``get_ctx`` swaps the facility, the tokens and the alert state for every route:
    none of them reads ``app.state`` behind the dependency's back."""
    other = fill_known_facility(tmp_path / "other")
    other_cfg = other.cfg.model_copy(
        update={"facility": other.cfg.facility.model_copy(update={"id": "other-site"})}
    )
    alerts = AlertStore(other.cfg.state_db, clock=lambda: NOW_NS)
    other_token = "other-operator-token-0123456789"
    try:
        with make_client(known) as c:
            app = c.app
            assert isinstance(app, FastAPI)
            original: ApiContext = app.state.ctx
            swapped = replace(
                original,
                cfg=other_cfg,
                store=other.store,
                tokens=TokenTable.parse(f"operator:{other_token}", "override"),
                alert_store=alerts,
                cache={},
            )
            theirs = {"Authorization": f"Bearer {other_token}"}
            ours = {"Authorization": f"Bearer {TOKENS['operator']}"}
            assert c.get("/api/v1/alerts", headers=ours).status_code == 503
            assert c.get("/api/v1/facility", headers=theirs).status_code == 401

            app.dependency_overrides[get_ctx] = lambda: swapped
            assert c.get("/api/v1/facility", headers=ours).status_code == 401
            assert (
                c.get("/api/v1/facility", headers=theirs).json()["facility"]["id"] == "other-site"
            )
            assert c.get("/health").json()["facility"] == "other-site"
            assert c.get("/api/v1/alerts", headers=theirs).json()["count"] == 0

            app.dependency_overrides.clear()
            assert c.get("/api/v1/facility", headers=ours).json()["facility"]["id"] == "test-site"
    finally:
        alerts.close()
        other.store.close()
