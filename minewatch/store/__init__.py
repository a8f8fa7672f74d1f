"""Telemetry store: one interface (``TelemetryStore``), backends selected by facility.yaml, and the
outage spool in front of whichever backend is configured."""

from __future__ import annotations

import logging

from minewatch.config.facility import FacilityConfig
from minewatch.store.base import SAMPLE_COLUMNS, Aggregate, StoreUnavailable, TelemetryStore
from minewatch.store.spool import Spool, SpoolFull
from minewatch.store.spooling import SpoolingStore
from minewatch.store.sqlite import SqliteStore

__all__ = [
    "SAMPLE_COLUMNS",
    "Aggregate",
    "SpoolFull",
    "SpoolingStore",
    "SqliteStore",
    "StoreUnavailable",
    "TelemetryStore",
    "open_backend",
    "open_spool",
    "open_store",
]

log = logging.getLogger(__name__)


def open_backend(cfg: FacilityConfig) -> TelemetryStore:
    """The configured backend alone. InfluxDB is contacted once here: wrong credentials fail now
    with a clear message (StoreAuthError); an unreachable server only logs, and the spool takes the
    writes."""
    if cfg.storage.backend == "sqlite":
        return SqliteStore(cfg.telemetry_db)
    from minewatch.store.influx import InfluxStore
    from minewatch.store.influx_http import StoreAuthError

    store = InfluxStore(cfg.storage.influxdb, cfg.facility.id, cfg.storage.retention_days)
    try:
        store.connect()
    except StoreAuthError:
        store.close()
        raise
    except StoreUnavailable as exc:
        log.warning(
            "InfluxDB not reachable at start-up (%s); writes are spooled until it answers", exc
        )
    return store


def open_spool(cfg: FacilityConfig) -> Spool:
    return Spool(cfg.spool_db, cfg.storage.spool_max_mb * 1024 * 1024)


def open_store(cfg: FacilityConfig) -> SpoolingStore:
    """The configured backend behind the outage spool (``cfg.data_dir/spool/``); call ``start()`` to
    run the replayer (it also starts on its own when something is spooled)."""
    return SpoolingStore(
        open_backend(cfg), open_spool(cfg), retry_max_s=cfg.storage.spool_retry_max_s
    )
