"""Fault: the data folder is read-only when a process starts.

Guarantee: a process whose data folder cannot be opened exits with status 1 and one line naming the
path and the filesystem's state, not a traceback. (A folder turning read-only under a running
collector cannot be injected on a tmpfs — the kernel refuses ``remount,ro`` while files are open for
writing — and takes the same path as a full disk, which ``test_fault_full_disk`` covers.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.faults import SmallDisk
from tests.support.mqtt import facility_file

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(
    ("command", "db"),
    [
        (["collect"], "telemetry.db"),
        (["analyze", "--once"], "telemetry.db"),
        (["notify"], "state.db"),
        (["serve"], "telemetry.db"),
    ],
)
def test_read_only_data_folder_at_start_is_one_line(
    tmp_path: Path, small_disk: SmallDisk, command: list[str], db: str
) -> None:
    config = facility_file(tmp_path, 1)  # never reached: the data folder fails first
    small_disk.read_only(True)
    done = subprocess.run(
        [sys.executable, "-m", "minewatch.cli", *command, "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr
    assert lines == [
        f"minewatch: {small_disk.path / db}: cannot open: unable to open database file "
        f"({small_disk.path}: read-only filesystem, {lines[0].split('filesystem, ')[1]}"
    ]
