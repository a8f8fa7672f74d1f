"""The analyzer's copy of the device table: re-read every ``devices_refresh_s`` (30k rows cost more
than a rule), or at once when the samples just read name a device it lacks (a rig that came up since
the last read)."""

from __future__ import annotations

import pandas as pd

from minewatch.analyzer.context import RawCache
from minewatch.analyzer.profile import ns
from minewatch.counters import Counters
from minewatch.store.base import TelemetryStore


class DeviceTable:
    def __init__(
        self, store: TelemetryStore, refresh_s: float, cache: RawCache, counters: Counters
    ) -> None:
        self.store = store
        self.refresh_ns = ns(refresh_s)
        self.cache = cache
        self.counters = counters
        self._read: tuple[int, pd.DataFrame, pd.Index] | None = None  # when, table, known ids

    def get(self, now: int, force: bool = False) -> pd.DataFrame:
        """The table as of ``now``; ``force`` re-reads it whatever its age."""
        if force or self._read is None or not 0 <= now - self._read[0] < self.refresh_ns:
            devices = self.store.devices()
            # ids that forced a refresh and are still not in the table (a backend listing only
            # devices with metadata) are remembered, so they do not force a re-read every cycle
            known = pd.Index(devices["device"])
            if self._read is not None:
                known = known.union(self._read[2])
            if force:
                known = known.append(self.cache.devices_read).unique()
            self._read = (now, devices, known)
            self.counters.inc("device_table_reads_total", reason="forced" if force else "periodic")
        return self._read[1]

    def unknown_devices_read(self) -> bool:
        """Whether the samples just read name a device the table lacks."""
        known = self._read[2] if self._read is not None else pd.Index([])
        # the table's own hash index, built once per read, instead of hashing it on every check
        return any((known.get_indexer(idx) < 0).any() for idx in self.cache.devices_read)
