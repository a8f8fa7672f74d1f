"""Shared fixtures: real servers started on free ports, torn down after the tests that use them.

Each area keeps its fixtures in ``tests/support/<area>_fixtures.py``; they are all loaded here.
"""

from __future__ import annotations

from pathlib import Path

pytest_plugins = sorted(
    f"tests.support.{p.stem}" for p in (Path(__file__).parent / "support").glob("*_fixtures.py")
)
