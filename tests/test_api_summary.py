"""The shared facility summary and the live page's hottest rigs, computed from the store's aggregate
reads: the freshness bound of the shared summary (docs/api.md), and the same figures as the
per-device computation they replaced."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI

from minewatch.api.live import LiveHub
from minewatch.sample import NS_PER_S, DeviceMeta, Sample
from tests.support.api import NOW_NS, TOKENS, KnownFacility, fill_known_facility, make_client

OPERATOR = {"Authorization": f"Bearer {TOKENS['operator']}"}


def test_summary_is_shared_within_its_bound_and_fresh_after(known: KnownFacility) -> None:
    """Within ``summary_ttl_s`` every request gets the same summary (one computation however many
    clients poll); once it is that old the next request sees a new reading."""
    with make_client(known, summary_ttl_s=0.5) as c:
        first = c.get("/api/v1/facility", headers=OPERATOR).json()
        assert first["power"]["kw"] == 20.0
        known.store.write([Sample(NOW_NS - NS_PER_S, known.meter, "power_w", 50_000.0)])
        assert c.get("/api/v1/facility", headers=OPERATOR).json() == first  # shared, in bound
        time.sleep(0.6)
        again = c.get("/api/v1/facility", headers=OPERATOR).json()["power"]
    assert again["kw"] == 50.0 and again["age_s"] == 1.0


def test_summary_past_half_its_bound_is_refreshed_in_the_background(
    known: KnownFacility,
) -> None:
    """Past half the bound a request still gets the current summary (within the bound) and starts
    the next computation; the request after that gets the new figures without computing them."""
    with make_client(known, summary_ttl_s=1.0) as c:
        first = c.get("/api/v1/facility", headers=OPERATOR).json()
        known.store.write([Sample(NOW_NS - NS_PER_S, known.meter, "power_w", 40_000.0)])
        time.sleep(0.55)
        assert c.get("/api/v1/facility", headers=OPERATOR).json() == first  # still in bound
        assert wait_until(
            lambda: c.get("/api/v1/facility", headers=OPERATOR).json()["power"]["kw"] == 40.0,
            0.4,
        ), "the background refresh did not land within the bound"


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_summary_bound_zero_recomputes_every_request(known: KnownFacility) -> None:
    with make_client(known, summary_ttl_s=0) as c:
        assert c.get("/api/v1/facility", headers=OPERATOR).json()["power"]["kw"] == 20.0
        known.store.write([Sample(NOW_NS - NS_PER_S, known.meter, "power_w", 30_000.0)])
        assert c.get("/api/v1/facility", headers=OPERATOR).json()["power"]["kw"] == 30.0


def test_live_snapshot_and_api_share_one_summary(known: KnownFacility) -> None:
    """The page's headline and ``/api/v1/facility`` are the same object within the bound: they
    cannot disagree."""
    with make_client(known) as c:
        app = c.app
        assert isinstance(app, FastAPI)
        hub: LiveHub = app.state.hub
        snap = hub.snapshot()
        assert c.get("/api/v1/facility", headers=OPERATOR).json() == snap["summary"]


def test_hottest_rigs_leave_out_non_rigs_down_and_stale_rigs(tmp_path: Path) -> None:
    """A hotter non-rig and a rig reported down (``up`` = 0) are skipped: the store's ranking is
    widened until ten rigs (here all four online ones) are in; ties go by device id."""
    fac = fill_known_facility(tmp_path)
    fac.store.upsert_devices(
        [
            DeviceMeta("pdu-1", "pdu", "", "hall-a", "", "pdu"),
            DeviceMeta("asic-unassigned", "asic_miner", "test-rig", "hall-b", "R9", ""),
        ]
    )
    ts = NOW_NS - 5 * NS_PER_S
    fac.store.write(
        [
            Sample(ts, "pdu-1", "chip_temp_c", 99.0),
            Sample(ts, "rig-04", "up", 0.0),
            Sample(ts, "asic-unassigned", "chip_temp_c", 61.0),  # ties rig-02 (59 + 2)
        ]
    )
    with make_client(fac) as c:
        app = c.app
        assert isinstance(app, FastAPI)
        hottest = app.state.hub.snapshot()["hottest"]
    assert [(h["id"], h["chip_temp_c"]) for h in hottest] == [
        ("rig-03", 62.0),
        ("asic-unassigned", 61.0),
        ("rig-02", 61.0),
        ("rig-01", 60.0),
    ]
    assert hottest[0] == {
        "id": "rig-03",
        "model": "test-rig",
        "zone": "hall-b",
        "chip_temp_c": 62.0,
        "ts": "2026-01-05T11:59:55Z",
        "age_s": 5.0,
        "limit_c": 90.0,
        "warn_c": 80.0,
    }
