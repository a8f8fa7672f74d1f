"""Schemathesis over the served OpenAPI schema: no input, however malformed, gets a 5xx.

The app is the real one over the known facility with a real analyzer state (so the alert, silence
and curtailment routes answer rather than 503), called with the admin token so every route is
reached past authentication. The live feed is an endless stream and is left to the page tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings

from minewatch.analyzer.state import AlertStore
from minewatch.api.app import create_app
from minewatch.api.auth import TokenTable
from tests.support.api import NOW_NS, TOKENS, TOKENS_ENV, fill_known_facility, rig_profile


@pytest.fixture
def fuzz_app(tmp_path: Path) -> Iterator[FastAPI]:
    known = fill_known_facility(tmp_path / "data")
    alerts = AlertStore(known.cfg.state_db, clock=lambda: NOW_NS)
    yield create_app(
        known.cfg,
        known.store,
        alerts,
        tokens=TokenTable.parse(TOKENS_ENV, "test tokens"),
        profiles={"test-rig": rig_profile()},
        clock=lambda: NOW_NS,
    )
    known.store.close()


#: Operations not fuzzed here: the live feed never ends (the page tests drive it).
ENDLESS = {"/api/v1/live"}


def test_no_input_gets_a_server_error(fuzz_app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", fuzz_app)
    server_errors: list[str] = []
    fuzzed = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in ENDLESS:
            continue
        fuzzed += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case) -> None:
            response = case.call(headers={"Authorization": f"Bearer {TOKENS['admin']}"})
            if response.status_code >= 500:
                server_errors.append(
                    f"{case.method} {case.formatted_path} query={case.query} body={case.body!r}: "
                    f"{response.status_code} {response.text[:300]}"
                )

        call()
    assert fuzzed >= 15, f"only {fuzzed} operations in the schema"
    assert not server_errors, "\n".join(server_errors[:20])
