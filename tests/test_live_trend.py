"""The live page's power trend is refreshed in the background: a tick that finds it due serves the
current one and does not wait for the store; the refreshed trend reaches a later tick; a tick with
no trend (the first, or past ``TREND_MAX_AGE_S``) waits at most ``TREND_WAIT_S`` for one and then
goes out with none rather than an old one (docs/api.md)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi import FastAPI

from minewatch.api import live
from minewatch.api.live import LiveHub
from minewatch.sample import NS_PER_S, Sample
from minewatch.store import SqliteStore
from tests.support.api import NOW_NS, KnownFacility, fill_known_facility, make_client


class DelayedBucketStore(SqliteStore):
    """A real SQLite store whose ``bucket_totals`` (the trend's read), once ``hold`` is called,
    waits until ``release``: a refresh that takes as long as the test wants."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._released = threading.Event()
        self._released.set()
        self.entered = threading.Event()

    def hold(self) -> None:
        self.entered.clear()
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def bucket_totals(self, metric: str, start_ns: int, end_ns: int, step_ns: int) -> pd.DataFrame:
        self.entered.set()
        assert self._released.wait(10), "the test never released the delayed read"
        return super().bucket_totals(metric, start_ns, end_ns, step_ns)


@pytest.fixture
def delayed(tmp_path: Path) -> Iterator[tuple[KnownFacility, DelayedBucketStore]]:
    fac = fill_known_facility(tmp_path)
    fac.store.close()
    store = DelayedBucketStore(tmp_path / "telemetry.db")
    yield dataclasses.replace(fac, store=store), store
    store.release()
    store.close()


def hub_of(app: object) -> LiveHub:
    assert isinstance(app, FastAPI)
    hub: LiveHub = app.state.hub
    return hub


def advance_with_new_reading(fac: KnownFacility, hub: LiveHub, store: SqliteStore) -> None:
    """Ten seconds on, the meter reads 50 kW in a bucket the last trend did not close."""
    hub.ctx.clock = lambda: NOW_NS + 10 * NS_PER_S
    store.write([Sample(NOW_NS + 5 * NS_PER_S, fac.meter, "power_w", 50_000.0)])


def last_kw(snap: dict) -> float:
    kw: float = snap["trend"]["points"][-1][1]
    return kw


def with_trend(hub: LiveHub) -> dict:
    """The first tick that carries a trend (a loaded machine may read it past ``TREND_WAIT_S``)."""
    deadline = time.monotonic() + 5
    while (snap := hub.snapshot())["trend"] is None:
        assert time.monotonic() < deadline, "no tick ever carried the trend"
        time.sleep(0.02)
    return snap


def test_due_trend_is_refreshed_without_holding_the_tick(
    delayed: tuple[KnownFacility, DelayedBucketStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    fac, store = delayed
    monkeypatch.setattr(live, "TREND_REFRESH_S", 0.2)
    # every call is a tick (no snapshot reuse)
    with make_client(fac, live_interval_s=0.0) as c:
        hub = hub_of(c.app)
        first = with_trend(hub)
        assert last_kw(first) == 20.0
        advance_with_new_reading(fac, hub, store)
        store.hold()
        time.sleep(0.25)  # the trend is due
        started = time.monotonic()
        stale = hub.snapshot()
        assert time.monotonic() - started < 1.0, "the tick waited for the trend refresh"
        assert store.entered.wait(5), "the due tick started no refresh"
        assert stale["trend"] == first["trend"]  # served the current one, format unchanged
        assert hub.snapshot()["trend"] == first["trend"]  # still under way: not started twice
        store.release()
        deadline = time.monotonic() + 5
        while last_kw(hub.snapshot()) != 50.0:
            assert time.monotonic() < deadline, "the refreshed trend never reached a tick"
            time.sleep(0.02)
        fresh = hub.snapshot()["trend"]
    assert fresh.keys() == first["trend"].keys()
    assert fresh["source"] == "revenue_meter" and fresh["step"] == first["trend"]["step"]


def test_first_tick_does_not_wait_for_a_slow_trend(
    delayed: tuple[KnownFacility, DelayedBucketStore],
) -> None:
    """The first page opened on a large site: the tick goes out within its budget without a trend,
    and the trend it started reaches a later tick."""
    fac, store = delayed
    with make_client(fac, live_interval_s=0.0) as c:
        hub = hub_of(c.app)
        store.hold()
        started = time.monotonic()
        first = hub.snapshot()
        assert time.monotonic() - started < live.TREND_WAIT_S + 1.0, "the tick waited for the trend"
        assert store.entered.wait(5), "the first tick started no trend read"
        assert first["trend"] is None
        assert first["summary"]["power"]["kw"] == 20.0  # the rest of the snapshot is there
        store.release()
        assert last_kw(with_trend(hub)) == 20.0


def test_trend_past_its_max_age_is_not_served(
    delayed: tuple[KnownFacility, DelayedBucketStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No page open for a while (no tick started a refresh): the first tick after that does not
    show the old trend — it waits for the new one, or goes out with none while the read is slow."""
    fac, store = delayed
    monkeypatch.setattr(live, "TREND_REFRESH_S", 0.2)
    monkeypatch.setattr(live, "TREND_MAX_AGE_S", 0.3)
    with make_client(fac, live_interval_s=0.0) as c:
        hub = hub_of(c.app)
        assert last_kw(with_trend(hub)) == 20.0
        advance_with_new_reading(fac, hub, store)
        time.sleep(0.35)
        store.hold()
        assert hub.snapshot()["trend"] is None
        store.release()
        assert last_kw(with_trend(hub)) == 50.0


def test_failing_trend_read_is_the_ticks_error_and_the_next_read_is_tried(
    delayed: tuple[KnownFacility, DelayedBucketStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trend read that fails while a tick waits for it is that tick's error (the stream's
    ``error`` event); it is not kept, so a later tick reads again."""
    fac, store = delayed
    failing = [True]
    real = store.bucket_totals

    def bucket_totals(metric: str, start_ns: int, end_ns: int, step_ns: int) -> pd.DataFrame:
        if failing[0]:
            raise RuntimeError("disk I/O error")
        return real(metric, start_ns, end_ns, step_ns)

    monkeypatch.setattr(store, "bucket_totals", bucket_totals)
    monkeypatch.setattr(live, "TREND_WAIT_S", 5.0)
    with make_client(fac, live_interval_s=0.0) as c:
        hub = hub_of(c.app)
        with pytest.raises(RuntimeError, match="disk I/O error"):
            hub.snapshot()
        failing[0] = False
        assert last_kw(hub.snapshot()) == 20.0
