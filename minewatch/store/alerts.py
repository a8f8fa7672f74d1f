"""Alert transitions copied into InfluxDB (measurement ``minewatch_alerts``) so Grafana can show
them
beside the telemetry (the dashboard's alert table and annotations). The record of authority stays
the
analyzer's state database and the hash-chained ledger; this copy is for display, so a failure to
write it is logged, never raised into the analyzer."""

from __future__ import annotations

import logging
import math

from minewatch.events import Event, EventBus
from minewatch.store.base import StoreUnavailable, TelemetryStore
from minewatch.store.influx import InfluxStore
from minewatch.store.lineproto import escape_key, string_field

log = logging.getLogger(__name__)

ALERTS_MEASUREMENT = "minewatch_alerts"
_TAGS = ("facility", "family", "rule_id", "severity", "subject")


def alert_line(event: Event, facility: str) -> str:
    """One ``alert.transition`` as a point at the transition time."""
    p = event.payload
    tags = {
        "facility": facility,
        "family": p.get("family", ""),
        "rule_id": p.get("rule_id", ""),
        "severity": p.get("severity", ""),
        "subject": p.get("subject", event.subject),
    }
    tag_txt = "".join(f",{k}={escape_key(str(tags[k]))}" for k in _TAGS if tags[k])
    fields = [
        f"state={string_field(str(p.get('to_state', '')))}",
        f"from_state={string_field(str(p.get('from_state', '')))}",
        f"reason={string_field(str(p.get('reason', '')))}",
        f"regulator_notifiable={'true' if p.get('regulator_notifiable') else 'false'}",
    ]
    if isinstance(p.get("alert_id"), int):
        fields.append(f"alert_id={p['alert_id']}i")
    for key in ("value", "threshold"):
        v = p.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            fields.append(f"{key}={float(v)!r}")
    return f"{ALERTS_MEASUREMENT}{tag_txt} {','.join(fields)} {int(event.at_ns)}"


class AlertRecorder:
    """EventBus subscriber writing ``alert.transition`` events to InfluxDB."""

    def __init__(self, store: InfluxStore) -> None:
        self.store = store

    def __call__(self, event: Event) -> None:
        if event.kind != "alert.transition":
            return
        try:
            self.store.write_lines([alert_line(event, self.store.facility)])
        except StoreUnavailable as exc:  # down, or credentials refused
            self.store.counters.inc("alert_copy_failed_total")
            log.warning("alert %s not copied to InfluxDB for Grafana: %s", event.subject, exc)


def attach_alert_recorder(bus: EventBus, store: TelemetryStore) -> bool:
    """Subscribe the recorder when the telemetry store is InfluxDB (directly or behind the spool);
    returns whether it did."""
    backend = getattr(store, "backend", store)
    if not isinstance(backend, InfluxStore):
        return False
    bus.subscribe(AlertRecorder(backend))
    return True
