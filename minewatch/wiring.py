"""The event bus of a process, with what must hear every event it carries.

Every process that publishes events (``demo``/``run``, ``serve``, ``analyze``, ``ack`` ...) builds
its bus here, so none forgets a subscriber: the notifier's ledger recorder (every event is ledgered
before the publisher moves on, and queued for the regulator) and, when the telemetry store is
InfluxDB, the copy of alert transitions that Grafana shows beside the telemetry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minewatch.config import FacilityConfig
from minewatch.events import EventBus
from minewatch.notifier.service import Notifier
from minewatch.store import TelemetryStore
from minewatch.store.alerts import attach_alert_recorder


def event_bus(
    cfg: FacilityConfig,
    store: TelemetryStore,
    *,
    deliver: bool,
    report_source: Callable[[int, int], dict[str, Any]] | None = None,
) -> tuple[EventBus, Notifier]:
    """A new bus and its notifier.

    The notifier subscribes when it is made, so nothing published before ``start()`` is lost; the
    caller starts it (it is a long-running part). ``deliver=False``: ledger and queue only, a
    ``minewatch notify`` (or ``run``) process delivers.
    """
    bus = EventBus()
    notifier = Notifier(cfg, bus, report_source=report_source, deliver=deliver)
    attach_alert_recorder(bus, store)
    return bus, notifier
