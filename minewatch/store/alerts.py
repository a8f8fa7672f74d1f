"""Alert transitions copied into InfluxDB (measurement ``minewatch_alerts``) so Grafana can show
them beside the telemetry (the dashboard's alert table and annotations). The record of authority
stays the analyzer's state database and the hash-chained ledger; this copy is for display, so a
failure to write it is logged and counted, never raised into the analyzer."""

from __future__ import annotations

import logging

from minewatch.alerting import AlertTransition
from minewatch.events import Event, EventBus
from minewatch.store.base import StoreUnavailable, TelemetryStore
from minewatch.store.influx import InfluxStore
from minewatch.store.lineproto import escape_key, string_field

log = logging.getLogger(__name__)

ALERTS_MEASUREMENT = "minewatch_alerts"
_TAGS = ("facility", "family", "rule_id", "severity", "subject")


def alert_line(event: Event, facility: str) -> str:
    """One ``alert.transition`` as a point at the transition time; ``ValueError`` if its payload is
    not a transition."""
    tr = AlertTransition.parse(event.payload)
    tags = {
        "facility": facility,
        "family": tr.family,
        "rule_id": tr.rule_id,
        "severity": tr.severity,
        "subject": tr.subject or event.subject,
    }
    tag_txt = "".join(f",{k}={escape_key(tags[k])}" for k in _TAGS if tags[k])
    fields = [
        f"state={string_field(tr.to_state.value)}",
        f"from_state={string_field(tr.from_state.value)}",
        f"reason={string_field(tr.reason)}",
        f"regulator_notifiable={'true' if tr.regulator_notifiable else 'false'}",
        f"alert_id={tr.alert_id}i",
    ]
    fields += [
        f"{k}={v!r}" for k, v in (("value", tr.value), ("threshold", tr.threshold)) if v is not None
    ]
    return f"{ALERTS_MEASUREMENT}{tag_txt} {','.join(fields)} {int(event.at_ns)}"


class AlertRecorder:
    """EventBus subscriber writing ``alert.transition`` events to InfluxDB."""

    def __init__(self, store: InfluxStore) -> None:
        self.store = store

    def __call__(self, event: Event) -> None:
        if event.kind != "alert.transition":
            return
        try:
            line = alert_line(event, self.store.facility)
        except ValueError as exc:
            self.store.counters.inc("alert_copy_rejected_total")
            log.warning("alert %s not copied to InfluxDB for Grafana: %s", event.subject, exc)
            return
        try:
            self.store.write_lines([line])
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
