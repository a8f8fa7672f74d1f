"""The analyzer's copy of the device table: refreshed every ``devices_refresh_s``, or at once when
the samples just read name a device it lacks (a rig that came up since the last read). A refresh
reads the whole table (30k rows cost more than a rule) only when the store says a device was added
or its metadata changed; otherwise only first/last seen, which every write moves and the registry
and staleness rules read."""

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
        self._version: int | None = None  # the store's device-table version of ``_read``

    def get(self, now: int, force: bool = False) -> pd.DataFrame:
        """The table as of ``now``; ``force`` re-reads it whatever its age. A refresh reads only
        first/last seen when the store says nothing else changed (``devices_since``)."""
        if force or self._read is None or not 0 <= now - self._read[0] < self.refresh_ns:
            devices = self._refreshed(None if force or self._read is None else self._read[1])
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

    def _refreshed(self, kept: pd.DataFrame | None) -> pd.DataFrame:
        """The store's table: ``kept`` with its seen times replaced when only those moved."""
        version, table = self.store.devices_since(None if kept is None else self._version)
        if kept is not None and "device" not in table:
            if len(table) == len(kept):  # the same devices in the same order
                self._version = version
                return kept.assign(**{c: table[c].to_numpy() for c in table.columns})
            version, table = self.store.devices_since(None)
        self._version = version
        return table

    def unknown_devices_read(self) -> bool:
        """Whether the samples just read name a device the table lacks."""
        known = self._read[2] if self._read is not None else pd.Index([])
        # the table's own hash index, built once per read, instead of hashing it on every check
        return any((known.get_indexer(idx) < 0).any() for idx in self.cache.devices_read)
