"""MQTT fixtures: a real Mosquitto broker per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mosquitto import Broker, start_mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    """A fresh Mosquitto broker for one test."""
    broker = start_mosquitto(tmp_path / "mosquitto")
    yield broker
    broker.stop()
