"""``/api/v1/fleet`` over the known facility: hashrate and J/TH from fresh readings only, by hall
and by model; hall sensors; each rig's place and temperature for the heat map, an offline rig
without its stale values; and who the caller is (``/api/v1/me``)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from minewatch.sample import NS_PER_S, DeviceMeta, Sample
from tests.support.api import NOW_NS, TOKENS, KnownFacility, make_client


def test_fleet_totals_count_fresh_rigs_only(client: TestClient) -> None:
    body = client.get("/api/v1/fleet").json()
    # rig-05 last reported ten minutes ago: four rigs of 200 TH/s at 3,500 W count
    assert body["total"] == {
        "rigs": 5,
        "online": 4,
        "hashrate_ths": 800.0,
        "power_kw": 14.0,
        "j_per_th": 17.5,
        "chip_temp_max_c": 63.0,
    }
    by_zone = {g["zone"]: g for g in body["by_zone"]}
    assert by_zone["hall-a"]["hashrate_ths"] == 400.0 and by_zone["hall-b"]["online"] == 2
    assert [g["model"] for g in body["by_model"]] == ["test-rig"]


def test_heat_map_places_rigs_and_blanks_the_offline_one(client: TestClient) -> None:
    rigs = {r["id"]: r for r in client.get("/api/v1/fleet").json()["rigs"]}
    assert rigs["rig-03"]["chip_temp_c"] == 62.0 and rigs["rig-03"]["limit_c"] == 90.0
    assert (rigs["rig-03"]["zone"], rigs["rig-03"]["rack"], rigs["rig-03"]["position"]) == (
        "hall-b",
        "R3",
        1,
    )
    assert rigs["rig-05"]["online"] is False and rigs["rig-05"]["chip_temp_c"] is None
    assert rigs["rig-05"]["age_s"] == 600.0
    assert rigs["rig-01"]["registered"] is None  # no registry: unknown, not "unregistered"


def test_hall_sensors_report_climate(known: KnownFacility) -> None:
    known.store.upsert_devices([DeviceMeta("env-1", "th_sensor", "", "hall-a", "", "hall_sensor")])
    known.store.write(
        [
            Sample(NOW_NS - 5 * NS_PER_S, "env-1", "ambient_temp_c", 24.5),
            Sample(NOW_NS - 5 * NS_PER_S, "env-1", "humidity_pct", 41.0),
        ]
    )
    with make_client(known) as c:
        body = c.get("/api/v1/fleet", headers={"Authorization": f"Bearer {TOKENS['operator']}"})
    [hall] = body.json()["halls"]
    assert hall == {
        "device": "env-1",
        "zone": "hall-a",
        "online": True,
        "age_s": 5.0,
        "ambient_temp_c": 24.5,
        "humidity_pct": 41.0,
    }


def test_me_says_role_and_what_it_may_do(client: TestClient) -> None:
    me = client.get("/api/v1/me").json()
    assert me["role"] == "operator" and "acknowledge" in me["may"]
    inspector = client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {TOKENS['inspector']}"}
    ).json()
    assert inspector["may"] == ["reports"]


def test_degraded_miner_and_generic_limits_are_shown(known: KnownFacility) -> None:
    """A miner that answers but cannot be read (``api_state`` 1) is degraded, not up; a model read
    through its vendor family's profile is flagged "generic limits" (the shipped S17/S19 family)."""
    from minewatch.api.app import create_app
    from minewatch.api.auth import TokenTable
    from minewatch.profiles import load_profiles
    from tests.support.api import TOKENS_ENV, rig_profile

    family = load_profiles()["antminer-x17-x19"]
    assert family.miner_api is not None and family.miner_api.generic
    known.store.upsert_devices(
        [DeviceMeta("rig-07", "asic_miner", "antminer-x17-x19", "hall-a", "R1", "rig")]
    )
    known.store.write(
        [
            Sample(NOW_NS - 5 * NS_PER_S, "rig-07", "api_state", 1.0),
            Sample(NOW_NS - 5 * NS_PER_S, "rig-02", "api_state", 2.0),
        ]
    )
    app = create_app(
        known.cfg,
        known.store,
        tokens=TokenTable.parse(TOKENS_ENV, "test tokens"),
        profiles={"test-rig": rig_profile(), "antminer-x17-x19": family},
        clock=lambda: NOW_NS,
    )
    with TestClient(app) as c:
        body = c.get("/api/v1/fleet", headers={"Authorization": f"Bearer {TOKENS['operator']}"})
    rigs = {r["id"]: r for r in body.json()["rigs"]}
    assert rigs["rig-07"]["degraded"] is True and rigs["rig-07"]["generic_limits"] is True
    assert rigs["rig-02"]["degraded"] is False and rigs["rig-02"]["generic_limits"] is False
    assert rigs["rig-05"]["degraded"] is False  # offline is offline, not degraded
