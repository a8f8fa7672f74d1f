"""API contract on a real SqliteStore with known data: every endpoint, every bad parameter, auth.

The known facility (tests/support/api.py) at 2026-01-05T12:00:00Z: a revenue meter at 20 kW, five
rigs at 3.5 kW each with chip temperatures 60..64 °C, rig-05 silent for ten minutes, and an hour of
rig-01 chip temperatures every 10 s rising from 50.0 by 0.1 per sample.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from minewatch.api.auth import TokenTable
from minewatch.configfile import ConfigError
from minewatch.ledger import GENESIS
from minewatch.notifier.outbox import Outbox
from minewatch.notifier.regulator import DESTINATION
from minewatch.sample import NS_PER_S, DeviceMeta, Sample
from minewatch.store import SqliteStore, StoreUnavailable
from tests.support.api import (
    NOW_NS,
    NOW_TXT,
    TOKENS,
    KnownFacility,
    fill_known_facility,
    make_client,
)


def error_of(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    return resp.json()["error"]


# --- auth -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/facility",
        "/api/v1/devices",
        "/api/v1/devices/rig-01",
        "/api/v1/devices/rig-01/series?metric=power_w",
        "/api/v1/alerts",
        "/api/v1/facility/series",
        "/api/v1/live",
    ],
)
def test_every_data_endpoint_needs_a_token(known: KnownFacility, path: str) -> None:
    with make_client(known) as c:
        err = error_of(c.get(path), 401)
        assert err["parameter"] == "Authorization" and "missing bearer token" in err["reason"]
        resp = c.get(path, headers={"Authorization": "Bearer wrong-token-0123456789"})
        assert error_of(resp, 401)["reason"] == "token not recognised"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("role", ["operator", "inspector", "admin"])
def test_every_role_reads_the_facility(known: KnownFacility, role: str) -> None:
    with make_client(known) as c:
        assert (
            c.get(
                "/api/v1/facility", headers={"Authorization": f"Bearer {TOKENS[role]}"}
            ).status_code
            == 200
        )


@pytest.mark.parametrize("role", ["operator", "inspector"])
def test_fault_injection_is_admin_only(known: KnownFacility, role: str) -> None:
    with make_client(known) as c:
        resp = c.post(
            "/api/v1/admin/faults",
            json={"fault": "overheat", "target": "rig-01"},
            headers={"Authorization": f"Bearer {TOKENS[role]}"},
        )
        err = error_of(resp, 403)
        assert f"role {role!r} may not do this" in err["reason"] and "admin" in err["reason"]


def test_admin_fault_injection_without_simulator_is_404(known: KnownFacility) -> None:
    with make_client(known) as c:
        resp = c.post(
            "/api/v1/admin/faults",
            json={"fault": "overheat", "target": "rig-01"},
            headers={"Authorization": f"Bearer {TOKENS['admin']}"},
        )
        assert "no simulator" in error_of(resp, 404)["reason"]


def test_health_is_public_and_reports_store(client: TestClient) -> None:
    resp = client.get("/health", headers={"Authorization": ""})
    body = resp.json()
    assert resp.status_code == 200 and body["status"] == "ok" and body["store"]["ok"] is True
    assert body["facility"] == "test-site" and "live" in body["components"]


def test_health_says_degraded_when_store_fails(known: KnownFacility) -> None:
    class DownStore(SqliteStore):
        def latest(
            self, devices: Sequence[str] | None = None, metrics: Sequence[str] | None = None
        ) -> pd.DataFrame:
            raise StoreUnavailable("disk unavailable")

    known.store = DownStore(known.store.path)
    with make_client(known) as c:
        resp = c.get("/health")
        assert resp.status_code == 503
        # the public answer says that, not why: the reason is behind the admin role
        assert resp.json()["store"] == {"backend": "sqlite", "ok": False}
        details = c.get("/api/v1/health", headers={"Authorization": f"Bearer {TOKENS['admin']}"})
        assert details.json()["store"]["error"] == "disk unavailable"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("operator", "entry 1: expected 'role:token'"),
        ("boss:0123456789abcdefXYZ", "entry 1: unknown role 'boss'"),
        (
            "admin:0123456789abcdef,operator:short",
            "entry 2 (operator): token shorter than 16 characters",
        ),
        ("", "no tokens"),
    ],
)
def test_token_table_errors_name_the_entry_and_never_echo_tokens(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        TokenTable.parse(text, "environment variable MW")
    assert any(expected in p for p in exc.value.problems), exc.value.problems
    assert "short" not in str(exc.value).replace("shorter", "")


def test_missing_token_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MW_NOPE", raising=False)
    with pytest.raises(ConfigError, match="environment variable MW_NOPE is not set"):
        TokenTable.from_env("MW_NOPE")


def test_tokens_are_never_logged(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client.get(f"/api/v1/devices?zone={TOKENS['admin']}")
    client.get("/api/v1/facility", headers={"Authorization": f"Bearer {TOKENS['inspector']}"})
    client.get("/api/v1/facility", headers={"Authorization": "Bearer not-a-token-but-secret"})
    # everything the server side logged (httpx is the test's own client, which logs its URLs)
    text = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert "GET /api/v1/facility 200" in text and "inspector#" in text
    for secret in (*TOKENS.values(), "not-a-token-but-secret"):
        assert secret not in text


def test_login_sets_an_httponly_cookie_that_opens_the_page(known: KnownFacility) -> None:
    with make_client(known) as c:
        first = c.get("/", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/login"
        assert (
            error_of(c.post("/login", json={"token": "bad-token-0123456789"}), 401)["parameter"]
            == "token"
        )
        ok = c.post("/login", json={"token": TOKENS["operator"]})
        assert ok.status_code == 204
        cookie = ok.headers["set-cookie"]
        assert "minewatch_token=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        page = c.get("/")
        assert page.status_code == 200 and "Facility power" in page.text
        assert c.get("/api/v1/facility").status_code == 200  # the cookie authenticates the API too
        c.post("/logout")
        assert c.get("/", follow_redirects=False).status_code == 303


# --- facility ---------------------------------------------------------------------------------


def test_facility_uses_the_revenue_meter(client: TestClient) -> None:
    body = client.get("/api/v1/facility").json()
    assert body["as_of"] == "2026-01-05T12:00:00Z"
    p = body["power"]
    assert p["source"] == "revenue_meter" and p["devices"] == ["meter-main"]
    assert p["kw"] == 20.0 and p["licensed_capacity_kw"] == 100.0 and p["utilisation_pct"] == 20.0
    assert p["oldest_reading"] == "2026-01-05T11:59:30Z" and p["age_s"] == 30.0
    d = body["devices"]
    assert (d["total"], d["online"], d["offline"]) == (6, 5, 1)
    assert d["by_role"]["rig"] == {"online": 4, "offline": 1}
    assert body["licence"]["number"] == "TM-2026-0001"
    assert body["alerts"] is None  # no analyzer state: says so rather than claiming zero alerts


def test_device_counts_leave_out_the_discovery_summary(tmp_path: Path) -> None:
    """The collector stores its discovery scan summary as a device of kind ``discovery`` once per
    scan period: not equipment, and never counted as an offline device between scans."""
    fac = fill_known_facility(tmp_path)
    fac.store.upsert_devices([DeviceMeta("discovery", "discovery", role="discovery")])
    fac.store.write([Sample(NOW_NS - 600 * NS_PER_S, "discovery", "unregistered_count", 0.0)])
    with make_client(fac) as c:
        d = c.get(
            "/api/v1/facility", headers={"Authorization": f"Bearer {TOKENS['operator']}"}
        ).json()["devices"]
    assert (d["total"], d["online"], d["offline"]) == (6, 5, 1) and "discovery" not in d["by_role"]


def test_facility_without_meter_sums_fresh_rigs(tmp_path: Path) -> None:
    fac = fill_known_facility(tmp_path, with_meter=False)
    with make_client(fac) as c:
        p = c.get(
            "/api/v1/facility", headers={"Authorization": f"Bearer {TOKENS['operator']}"}
        ).json()["power"]
    assert (
        p["source"] == "rigs_sum" and p["kw"] == 14.0
    )  # four fresh rigs; silent rig-05 not counted
    assert p["devices_counted"] == 4 and p["rigs_without_fresh_power"] == 1


def test_facility_with_no_data_says_no_data(tmp_path: Path) -> None:
    fac = fill_known_facility(tmp_path, with_meter=False)
    with make_client(fac, offline_after_s=1) as c:  # every reading is now too old
        body = c.get(
            "/api/v1/facility", headers={"Authorization": f"Bearer {TOKENS['operator']}"}
        ).json()
    assert body["power"]["kw"] is None and body["power"]["utilisation_pct"] is None
    assert "no power reading" in body["power"]["note"]
    assert body["devices"]["online"] == 0


def test_stale_meter_falls_back_to_rigs_and_says_why(known: KnownFacility) -> None:
    with make_client(known, offline_after_s=20) as c:  # meter's last reading is 30 s old
        p = c.get(
            "/api/v1/facility", headers={"Authorization": f"Bearer {TOKENS['operator']}"}
        ).json()["power"]
    assert p["source"] == "rigs_sum" and p["kw"] == 14.0
    assert "meter-main" in p["note"] and "20 s" in p["note"]


def test_facility_series_in_kw(client: TestClient) -> None:
    body = client.get(
        "/api/v1/facility/series?start=2026-01-05T11:00:00Z&end=2026-01-05T12:00:00Z&step=15m"
    ).json()
    assert body["source"] == "revenue_meter" and body["step"] == "15m"
    assert body["points"] == [[f"2026-01-05T11:{m:02d}:00Z", 20.0] for m in (0, 15, 30, 45)]


# --- devices ----------------------------------------------------------------------------------


def test_device_list_filters_and_pages(client: TestClient) -> None:
    assert client.get("/api/v1/devices").json()["total"] == 6
    rigs = client.get("/api/v1/devices?role=rig").json()
    assert rigs["total"] == 5 and [d["id"] for d in rigs["items"]] == [
        f"rig-0{i}" for i in range(1, 6)
    ]
    hall_b = client.get("/api/v1/devices?zone=hall-b&kind=asic_miner").json()
    assert [d["id"] for d in hall_b["items"]] == ["rig-03", "rig-04", "rig-05"]
    offline = client.get("/api/v1/devices?status=offline").json()["items"]
    assert [(d["id"], d["online"], d["age_s"]) for d in offline] == [("rig-05", False, 600.0)]
    page = client.get("/api/v1/devices?role=rig&limit=2&offset=1").json()
    assert page["total"] == 5 and [d["id"] for d in page["items"]] == ["rig-02", "rig-03"]
    assert client.get("/api/v1/devices?model=nothing").json() == {
        "total": 0,
        "limit": 100,
        "offset": 0,
        "items": [],
    }


@pytest.mark.parametrize(
    ("query", "param", "reason"),
    [
        ("limit=0", "limit", "greater than or equal to 1"),
        ("limit=5000", "limit", "less than or equal to 1000"),
        ("limit=ten", "limit", "valid integer"),
        ("offset=-1", "offset", "greater than or equal to 0"),
        ("status=broken", "status", "'online' or 'offline'"),
    ],
)
def test_device_list_bad_parameters(
    client: TestClient, query: str, param: str, reason: str
) -> None:
    err = error_of(client.get(f"/api/v1/devices?{query}"), 400)
    assert err["parameter"] == param and reason in err["reason"]
    assert err["message"].startswith(f"{param}: ")


def test_device_detail(client: TestClient) -> None:
    d = client.get("/api/v1/devices/rig-02").json()
    assert (d["id"], d["model"], d["zone"], d["role"], d["online"]) == (
        "rig-02",
        "test-rig",
        "hall-a",
        "rig",
        True,
    )
    assert d["metrics"]["chip_temp_c"] == {
        "value": 61.0,
        "unit": "c",
        "ts": "2026-01-05T11:59:55Z",
        "age_s": 5.0,
        "limit": {"warn_above": 80.0, "max_above": 90.0, "source": "test manual"},
    }
    assert d["metrics"]["power_w"]["unit"] == "w" and d["metrics"]["power_w"]["limit"] is None
    assert d["profile"]["rated"]["power_w"] == {"value": 3500.0, "source": "test nameplate"}
    assert d["active_alerts"] is None


def test_unknown_device_is_404_naming_it(client: TestClient) -> None:
    for path in ("/api/v1/devices/rig-99", "/api/v1/devices/rig-99/series?metric=power_w"):
        err = error_of(client.get(path), 404)
        assert err["parameter"] == "device" and "'rig-99'" in err["reason"]


# --- series -----------------------------------------------------------------------------------

SERIES = "/api/v1/devices/rig-01/series"


def test_raw_series_is_rfc3339_and_half_open(client: TestClient) -> None:
    body = client.get(
        f"{SERIES}?metric=chip_temp_c&start=2026-01-05T11:00:00Z&end=2026-01-05T11:01:00Z"
    ).json()
    assert body["unit"] == "c" and body["step"] is None and body["agg"] is None
    assert body["points"] == [
        [f"2026-01-05T11:00:{s:02d}Z", pytest.approx(50.0 + s / 100)] for s in range(0, 60, 10)
    ]


def test_series_with_offsets_and_fractions(client: TestClient) -> None:
    # 16:00:10.5+05:00 is 11:00:10.5Z: the 11:00:20 sample is the first one in range
    body = client.get(
        f"{SERIES}?metric=chip_temp_c&start=2026-01-05T16:00:10.5%2B05:00&end=2026-01-05T11:00:30Z"
    ).json()
    assert body["start"] == "2026-01-05T11:00:10.500Z"
    assert [p[0] for p in body["points"]] == ["2026-01-05T11:00:20Z"]


@pytest.mark.parametrize(
    ("agg", "first"),
    [("mean", 52.95), ("max", 55.9), ("min", 50.0), ("count", 60.0), ("last", 55.9)],
)
def test_bucketed_series(client: TestClient, agg: str, first: float) -> None:
    body = client.get(
        f"{SERIES}?metric=chip_temp_c&start=2026-01-05T11:00:00Z&end=2026-01-05T12:00:00Z"
        f"&step=10m&agg={agg}"
    ).json()
    assert body["step"] == "10m" and body["agg"] == agg and len(body["points"]) == 6
    assert body["points"][0][0] == "2026-01-05T11:00:00Z" and body["points"][0][1] == pytest.approx(
        first
    )


def test_series_defaults_to_the_last_hour(client: TestClient) -> None:
    body = client.get(f"{SERIES}?metric=chip_temp_c").json()
    assert (body["start"], body["end"]) == ("2026-01-05T11:00:00Z", "2026-01-05T12:00:00Z")
    assert len(body["points"]) == 361  # 360 history samples + the latest at 11:59:55


@pytest.mark.parametrize(
    ("query", "param", "reason"),
    [
        ("", "metric", "required"),
        (
            "metric=voltage_v",
            "metric",
            "has no metric 'voltage_v'; it has: chip_temp_c, hashrate_ths, power_w",
        ),
        ("metric=power_w&start=yesterday", "start", "RFC 3339"),
        ("metric=power_w&end=2026-13-01T00:00:00Z", "end", "RFC 3339"),
        ("metric=power_w&start=2026-01-05T11:00:00", "start", "UTC offset"),
        ("metric=power_w&start=2026-01-05", "start", "UTC offset"),
        ("metric=power_w&start=2026-01-05T11:00:00.1234567891Z", "start", "beyond nanoseconds"),
        (
            "metric=power_w&start=2026-01-05T12:00:00Z&end=2026-01-05T11:00:00Z",
            "start",
            "must be before end",
        ),
        (
            "metric=power_w&start=2026-01-05T11:00:00Z&end=2026-01-05T11:00:00Z",
            "start",
            "must be before end",
        ),
        (
            "metric=power_w&start=2020-01-01T00:00:00Z",
            "start",
            "range longer than the allowed 400d",
        ),
        ("metric=power_w&step=5", "step", "positive duration like 60s"),
        ("metric=power_w&step=0s", "step", "positive duration"),
        ("metric=power_w&step=-5m", "step", "positive duration"),
        (
            "metric=power_w&step=1s&start=2026-01-04T00:00:00Z",
            "step",
            "too many points: 129600 buckets",
        ),
        ("metric=power_w&agg=median", "agg", "must be one of mean, min, max, sum, count, last"),
    ],
)
def test_series_bad_parameters(client: TestClient, query: str, param: str, reason: str) -> None:
    err = error_of(client.get(f"{SERIES}?{query}"), 400)
    assert err["parameter"] == param and reason in err["reason"], err


def test_too_many_raw_points_asks_for_a_step(known: KnownFacility) -> None:
    known.store.write(
        [
            Sample(NOW_NS - 20_000 * NS_PER_S + k * NS_PER_S, "rig-02", "fan_rpm_1", 4000.0)
            for k in range(12_000)
        ]
    )
    with make_client(known) as c:
        resp = c.get(
            "/api/v1/devices/rig-02/series?metric=fan_rpm_1&start=2026-01-05T06:00:00Z",
            headers={"Authorization": f"Bearer {TOKENS['operator']}"},
        )
        err = error_of(resp, 400)
        assert (
            err["parameter"] == "step"
            and "12000 raw samples" in err["reason"]
            and "step=3s" in err["reason"]
        )


def test_unknown_path_is_404_json(client: TestClient) -> None:
    assert error_of(client.get("/api/v1/nothing"), 404)["reason"] == "Not Found"


def test_alerts_without_analyzer_state_is_503(client: TestClient) -> None:
    assert "alert state is not available" in error_of(client.get("/api/v1/alerts"), 503)["reason"]


def test_regulator_channel_counts_the_outbox(client: TestClient, known: KnownFacility) -> None:
    """What the notifier queued for the central bank shows up, oldest waiting first."""
    empty = client.get("/api/v1/regulator").json()
    assert (empty["queued"], empty["delivered"], empty["dead"]) == (0, 0, 0)
    assert empty["ledger_head"] == {"seq": 0, "hash": GENESIS} and empty["oldest_queued"] is None
    outbox = Outbox(known.cfg.state_db)
    for n in range(2):
        outbox.enqueue(
            DESTINATION,
            "heartbeat",
            b"{}",
            message_id=f"m{n}",
            idempotency_key=f"k{n}",
            now_ns=NOW_NS + n,
            deadline_ns=NOW_NS + 60 * NS_PER_S,
        )
    body = client.get("/api/v1/regulator").json()
    assert body["queued"] == 2 and body["delivered"] == 0
    assert body["oldest_queued"]["kind"] == "heartbeat"
    assert body["oldest_queued"]["since"] == NOW_TXT
