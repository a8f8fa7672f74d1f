"""Hub fixtures: the hub on each storage engine (SQLite file, real PostgreSQL), served on a free
port, with the test facility registered; staff tokens in the environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from minewatch.hub.service import Hub
from tests.support.notify_hub import STAFF, HubServer, register_facility
from tests.support.postgres import PostgresCluster


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "hub.db")
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database()


@pytest.fixture
def hub(hub_url: str, key_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    for name, value in STAFF.items():
        monkeypatch.setenv(name, value)
    part = Hub(hub_url, sweep_s=3600)
    register_facility(part, key_dir)
    server = HubServer(part)
    server.start()
    yield server
    server.stop()
    part.stop()
