"""Helpers of the fault suite (tests/faults/): a small real filesystem that can be filled or made
read-only, the rig stream every MQTT fault publishes, and starting/stopping ``collect``.

Root can write through ``chmod 000`` and fills a big disk slowly, so a disk fault is a tmpfs of a
few MB mounted for the test: "full" is a filler file taking every free block, "read-only" is a
``remount,ro``. Mounting needs root (CI runs as root); where mounting is refused ``SmallDisk`` fails
with the reason rather than skipping, so a green run always means the fault was really injected.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import BinaryIO

import orjson
import yaml

from minewatch.config.storage import InfluxSettings
from minewatch.sample import NS_PER_S
from tests.support.mqtt import RIG_TOPIC, S21_SERIALS, facility_file, s21_payload


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
        with self._filler_file() as fh:
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

    def _filler_file(self) -> BinaryIO:
        """The filler, opened for appending. A create refused with ENOSPC while the disk still has
        free blocks has been seen once in many runs (what took the space is unknown): it is tried
        again briefly, and then fails saying what the disk held, so a red run is never a mystery."""
        for _ in range(10):
            if os.statvfs(self.path).f_bavail > 0:
                try:
                    return self.filler.open("ab")
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
            time.sleep(0.2)
        st = os.statvfs(self.path)
        sizes = {str(p.relative_to(self.path)): p.stat().st_size for p in self.path.rglob("*")}
        raise RuntimeError(
            f"{self.path} refused the filler before the test filled it: {st.f_bavail} blocks and "
            f"{st.f_favail} inodes free; it holds {sizes}"
        )

    def free(self) -> None:
        self.filler.unlink()

    def read_only(self, on: bool) -> None:
        self._mount("-o", f"remount,{'ro' if on else 'rw'}", str(self.path))

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True, check=False)


def stream(t0: int, first: int, rounds: int) -> list[tuple[str, bytes]]:
    """Rounds ``first`` .. ``first + rounds - 1`` of the ten S21 rigs, one second apart from ``t0``:
    (topic, payload) pairs, 12 samples each."""
    return [
        (RIG_TOPIC.format(serial), orjson.dumps(s21_payload(serial, t0 + seq * NS_PER_S, seq)))
        for seq in range(first, first + rounds)
        for serial in S21_SERIALS
    ]


def stop_collector(proc: subprocess.Popen[bytes], log: Path) -> str:
    """SIGTERM a ``minewatch collect`` process; it must exit 0. Returns its log."""
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(60)
    text = log.read_text()
    assert code == 0, text
    return text


def influx_facility(
    tmp_path: Path, mqtt_port: int, settings: InfluxSettings, **storage: object
) -> Path:
    """The MQTT test facility writing to InfluxDB (``settings``), with ``storage`` overrides."""
    config = facility_file(tmp_path, mqtt_port)
    data = yaml.safe_load(config.read_text())
    data["storage"].update(
        backend="influxdb", influxdb=settings.model_dump(exclude_none=True), **storage
    )
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config
