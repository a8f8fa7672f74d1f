"""Fixtures of the fault suite: a small real filesystem that can be filled or made read-only.

Root can write through ``chmod 000`` and fills a big disk slowly, so a disk fault is a tmpfs of a
few MB mounted for the test: "full" is a filler file taking every free block, "read-only" is a
``remount,ro``. Mounting needs root (CI runs as root); where mounting is refused the fixture fails
with the reason rather than skipping, so a green run always means the fault was really injected.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


class SmallDisk:
    """A tmpfs of ``size_mb`` at ``path``."""

    def __init__(self, path: Path, size_mb: int) -> None:
        self.path = path
        self.filler = path / "filler.bin"
        path.mkdir(parents=True, exist_ok=True)
        self._mount("-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path))

    @staticmethod
    def _mount(*args: str) -> None:
        done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"mount {' '.join(args)} failed: {done.stderr.strip()}")

    def fill(self) -> int:
        """Take every free block with a filler file; returns the bytes written."""
        written = 0
        chunk = b"\0" * 65536
        with self.filler.open("ab") as fh:
            try:
                while True:
                    fh.write(chunk)
                    fh.flush()
                    written += len(chunk)
            except OSError:
                pass
        # finish with single bytes so that not even a partial block is left
        try:
            with self.filler.open("ab", buffering=0) as fh:
                while fh.write(b"\0"):
                    written += 1
        except OSError:
            pass
        return written

    def free(self) -> None:
        self.filler.unlink()

    def read_only(self, on: bool) -> None:
        self._mount("-o", f"remount,{'ro' if on else 'rw'}", str(self.path))

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 16 MB tmpfs at ``tmp_path/data`` (the data_dir of ``tests.support.mqtt.facility_file``)."""
    disk = SmallDisk(tmp_path / "data", 16)
    yield disk
    disk.unmount()
