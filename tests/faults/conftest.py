"""Fixtures of the fault suite; the helpers shared with its tests are in tests/support/faults.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.faults import SmallDisk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 64 MB tmpfs at ``tmp_path/data`` (the data_dir of ``tests.support.mqtt.facility_file``):
    room for the SQLite write-ahead log, which the collector's writer lets grow to 10,000 pages
    (~40 MB) between checkpoints, so the disk fills when the test fills it and not before."""
    disk = SmallDisk(tmp_path / "data", 64)
    yield disk
    disk.unmount()
