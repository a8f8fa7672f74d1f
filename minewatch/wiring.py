"""The event bus of a process, with what must hear every event it carries.

Every process that publishes events (``demo``/``run``, ``serve``, ``analyze``, ``ack`` ...) builds
its bus
here, so none forgets a subscriber: the notifier's ledger recorder (every event is ledgered before
the
publisher moves on, and queued for the regulator) and, when the telemetry store is InfluxDB, the
copy of
alert transitions that Grafana shows beside the telemetry.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from minewatch.config import FacilityConfig
from minewatch.events import EventBus
from minewatch.store import TelemetryStore
from minewatch.store.alerts import attach_alert_recorder

log = logging.getLogger("minewatch")


def optional_module(name: str) -> Any | None:
    """The module, or None when its package is not part of this installation (yet)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            log.info("%s is not installed; running without it", name)
            return None
        raise


def event_bus(
    cfg: FacilityConfig,
    store: TelemetryStore,
    *,
    deliver: bool,
    report_source: Callable[[int, int], dict[str, Any]] | None = None,
) -> tuple[EventBus, Any | None]:
    """A new bus and its notifier (``minewatch.notifier.service.Notifier``; None when the notifier
    is not installed).

    The notifier subscribes when it is made, so nothing published before ``start()`` is lost; the
    caller
    starts it (it is a long-running part). ``deliver=False``: ledger and queue only, a ``minewatch
    notify``
    (or ``run``) process delivers.
    """
    bus = EventBus()
    service = optional_module("minewatch.notifier.service")
    notifier = (
        None
        if service is None
        else service.Notifier(cfg, bus, report_source=report_source, deliver=deliver)
    )
    attach_alert_recorder(bus, store)
    return bus, notifier
