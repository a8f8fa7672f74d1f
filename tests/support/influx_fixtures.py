"""Fixtures: one InfluxDB 1.x and one VictoriaMetrics per test session (a fresh database per test),
plus a private InfluxDB per test for outage tests that stop and restart it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from minewatch.config.storage import InfluxSettings
from minewatch.store.influx import InfluxStore
from tests.support.influx import ADMIN_PASSWORD, ADMIN_USER, Server, influxd, victoria_metrics

PASSWORD_ENV = "MINEWATCH_TEST_INFLUX_PASSWORD"
FACILITY = "test-site"
_db_ids = itertools.count()


@pytest.fixture(scope="session")
def influxd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = influxd(tmp_path_factory.mktemp("influxd"))
    yield server
    server.stop()


@pytest.fixture
def influxd_private(tmp_path: Path) -> Iterator[Server]:
    """An InfluxDB of this test's own, free to be stopped and restarted."""
    server = influxd(tmp_path / "influxd")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = victoria_metrics(tmp_path_factory.mktemp("victoria"))
    yield server
    server.stop()


@pytest.fixture
def v1_settings(monkeypatch: pytest.MonkeyPatch) -> Callable[[Server], InfluxSettings]:
    """Settings for a v1 InfluxStore on a server, with a database no other test uses."""
    monkeypatch.setenv(PASSWORD_ENV, ADMIN_PASSWORD)

    def make(server: Server, **overrides: object) -> InfluxSettings:
        return InfluxSettings(
            url=server.url,
            api="v1",
            database=f"mw_test_{next(_db_ids)}",
            username=ADMIN_USER,
            password_env=PASSWORD_ENV,
            **overrides,
        )

    return make


@pytest.fixture
def influx_store(
    influxd_server: Server, v1_settings: Callable[..., InfluxSettings]
) -> Iterator[InfluxStore]:
    store = InfluxStore(v1_settings(influxd_server), facility=FACILITY)
    yield store
    store.close()
