"""Telemetry store: one interface (``TelemetryStore``), backends selected by facility.yaml."""

from __future__ import annotations

from minewatch.config.facility import FacilityConfig
from minewatch.store.base import SAMPLE_COLUMNS, Aggregate, StoreUnavailable, TelemetryStore
from minewatch.store.sqlite import SqliteStore

__all__ = ["Aggregate", "SAMPLE_COLUMNS", "SqliteStore", "StoreUnavailable", "TelemetryStore", "open_store"]


def open_store(cfg: FacilityConfig) -> TelemetryStore:
    """The configured backend. (#4 adds InfluxDB and the spool in front of both.)"""
    if cfg.storage.backend == "sqlite":
        return SqliteStore(cfg.data_dir / "telemetry.db")
    raise NotImplementedError(f"storage backend {cfg.storage.backend!r} is not available yet")
