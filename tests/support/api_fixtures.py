"""API fixtures: the known facility in a real SqliteStore, an in-process client, a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.api import TOKENS, KnownFacility, fill_known_facility, make_client


@pytest.fixture
def known(tmp_path: Path) -> Iterator[KnownFacility]:
    fac = fill_known_facility(tmp_path / "data")
    yield fac
    fac.store.close()


@pytest.fixture
def client(known: KnownFacility) -> Iterator[TestClient]:
    with make_client(known) as c:
        c.headers["Authorization"] = f"Bearer {TOKENS['operator']}"
        yield c
