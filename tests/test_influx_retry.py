"""Retries honour the server's Retry-After on 429/503, capped, then give up to the spool."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from minewatch.config.storage import InfluxSettings
from minewatch.sample import NS_PER_S, Sample
from minewatch.store.base import StoreUnavailable
from minewatch.store.influx import InfluxStore
from tests.support.influx_receiver import Scripted, start_scripted
from tests.support.ports import free_port

T0 = 1_767_225_600 * NS_PER_S
SAMPLES = [Sample(T0, "rig-1", "power_w", 1.0)]


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Scripted]:
    server = start_scripted(request.param)
    yield server
    server.stop()


def _store(server: Scripted, api: str, sleeps: list[float], **kw: object) -> InfluxStore:
    settings = InfluxSettings(
        url=server.url, api=api, org="o", token_env=None, database="minewatch", **kw
    )
    return InfluxStore(settings, facility="f", sleep=sleeps.append)


@pytest.mark.parametrize(
    "receiver", [[(429, {"Retry-After": "2"}), (503, {"Retry-After": "1"})]], indirect=True
)
@pytest.mark.parametrize("api", ["v1", "v2"])
def test_429_and_503_are_retried_after_the_servers_retry_after(
    receiver: Scripted, api: str
) -> None:
    sleeps: list[float] = []
    store = _store(receiver, api, sleeps, create=False)
    store.write(SAMPLES)
    assert sleeps == [2.0, 1.0]
    assert [p.split("?")[0] for p, _ in receiver.writes][-3:] == [
        "/write" if api == "v1" else "/api/v2/write"
    ] * 3
    assert receiver.writes[-1][1].startswith(b"unclassified,device=rig-1,facility=f power_w=1.0 ")
    assert store.counters.get("influx_retries_total", "429") == 1
    assert store.counters.get("influx_retries_total", "503") == 1
    store.close()


@pytest.mark.parametrize("receiver", [[(503, {"Retry-After": "600"})] * 3], indirect=True)
def test_retry_after_is_capped_and_a_server_that_stays_busy_means_unavailable(
    receiver: Scripted,
) -> None:
    sleeps: list[float] = []
    store = _store(receiver, "v1", sleeps, max_retries=2, retry_max_wait_s=5)
    with pytest.raises(StoreUnavailable, match="HTTP 503"):
        store.write(SAMPLES)
    assert sleeps == [5.0, 5.0] and len(receiver.writes) == 3
    store.close()


@pytest.mark.parametrize("receiver", [[(429, {})] * 2], indirect=True)
def test_without_retry_after_the_backoff_doubles(receiver: Scripted) -> None:
    sleeps: list[float] = []
    store = _store(receiver, "v1", sleeps)
    store.write(SAMPLES)
    assert sleeps == [0.5, 1.0]
    store.close()


@pytest.mark.parametrize("receiver", [[(500, {}), (204, {"X-Delay-S": "1.5"})]], indirect=True)
def test_5xx_and_timeouts_are_store_unavailable_at_once(receiver: Scripted) -> None:
    sleeps: list[float] = []
    store = _store(receiver, "v1", sleeps, timeout_s=0.5)
    with pytest.raises(StoreUnavailable, match="HTTP 500"):
        store.write(SAMPLES)
    with pytest.raises(StoreUnavailable, match="Timeout"):
        store.write(SAMPLES)
    assert sleeps == []  # not retried here: the spool retries, without holding up the writer
    store.close()


def test_connection_refused_is_store_unavailable() -> None:
    store = InfluxStore(
        InfluxSettings(url=f"http://127.0.0.1:{free_port()}", api="v1"), facility="f"
    )
    with pytest.raises(StoreUnavailable, match="ConnectError"):
        store.write(SAMPLES)
    store.close()
