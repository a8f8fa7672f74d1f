"""Fixtures of the fault suite; the helpers shared with its tests are in tests/support/faults.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.faults import SmallDisk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 16 MB tmpfs at ``tmp_path/data`` (the data_dir of ``tests.support.mqtt.facility_file``)."""
    disk = SmallDisk(tmp_path / "data", 16)
    yield disk
    disk.unmount()
