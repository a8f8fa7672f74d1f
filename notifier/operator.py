"""Operator notifications: routing by severity and family, grouping, repeat interval, escalation,
silences.

Alertmanager's model of routes, grouping, group_wait / group_interval / repeat_interval and
silences (https://prometheus.io/docs/alerting/latest/configuration/#route), with two things its
users keep asking for: acknowledgements that stop reminders until they expire, and escalation of
alerts nobody acknowledged. Silences act here and only here: the regulator channel never consults
them.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from minewatch.alerting import ACTIVE_STATES, AlertState, silence_matches
from minewatch.config.facility import FacilityConfig
from minewatch.config.notify import Route
from minewatch.notifier.alerts import AlertTable, NotificationState
from minewatch.notifier.regulator import idempotency_key, rfc3339

NS = 1_000_000_000

#: Queue one operator message: (conn, channel name, kind, notification dict, dedupe key) -> outbox
#: id
Enqueue = Callable[[sqlite3.Connection, str, str, dict[str, Any], str], int | None]


class OperatorRouter:
    def __init__(self, cfg: FacilityConfig, enqueue: Enqueue) -> None:
        self.cfg = cfg
        self.n = cfg.notify
        self.enqueue = enqueue
        self.all_channels = [c.name for c in self.n.channels]
        self._last_sent: dict[tuple[int, str], int] = {}
        self.sent = 0
        self.silenced = 0

    # routing ----------------------------------------------------------------------------------
    def route(self, st: NotificationState) -> tuple[int, Route | None]:
        for i, r in enumerate(self.n.routes):
            if r.matches(st.severity, st.family, st.hints):
                return i, r
        return -1, None

    def channels(self, st: NotificationState) -> list[str]:
        _, r = self.route(st)
        if r is None:
            return [] if self.n.routes else self.all_channels
        return r.channels

    @staticmethod
    def is_silenced(st: NotificationState, silences: list[Any]) -> bool:
        """Silenced by the analyzer (``silenced`` flag) or by an active silence the notifier saw
        created."""
        return st.payload.silenced or any(silence_matches(m, st.payload.labels) for m in silences)

    # lifecycle --------------------------------------------------------------------------------
    def on_transition(
        self, st: NotificationState, to_state: AlertState, was_notified: bool, at_ns: int
    ) -> None:
        """Mark news for the alert's group: it became active, or it left an active state after
        the operator had been told (an alert that fired and cleared inside group_wait is never
        sent)."""
        if not self.all_channels:
            st.news(None, at_ns)
        elif to_state in ACTIVE_STATES:
            st.news("firing", at_ns)
        elif to_state == AlertState.SUPPRESSED:
            st.news(None, at_ns)
        else:
            st.news("resolved" if was_notified else None, at_ns)

    def tick(self, conn: sqlite3.Connection, table: AlertTable, now_ns: int) -> None:
        """Repeat, escalate, and flush groups that are due. Called by the service loop."""
        if not self.all_channels:
            return
        due: dict[tuple[int, str], list[NotificationState]] = {}
        silences = table.silences(now_ns)
        for st in table.active():
            idx, route = self.route(st)
            key = (idx, st.family)
            silenced = self.is_silenced(st, silences)
            if st.state in ACTIVE_STATES and not silenced and not st.acknowledged(now_ns):
                self._escalate(conn, table, st, route, now_ns)
                every = self.n.repeat_interval_for(st.severity, route)
                if (
                    st.pending_change is None
                    and st.last_notified_ns is not None
                    and now_ns - st.last_notified_ns >= every * NS
                ):
                    st.news("repeat", now_ns)
                    table.put(st)
            if st.pending_change is None:
                continue
            if silenced and st.pending_change != "resolved":
                st.news(None, now_ns)
                table.put(st)
                self.silenced += 1
                continue
            due.setdefault(key, []).append(st)
        for key, alerts in due.items():
            first = min(a.pending_since_ns or now_ns for a in alerts)
            if now_ns - first < self.n.group_wait_s * NS:
                continue
            last = self._last_sent.get(key)
            if last is not None and now_ns - last < self.n.group_interval_s * NS:
                continue
            channels = self.channels(alerts[0])
            if channels:
                note = self.group_notification(alerts, now_ns)
                for ch in channels:
                    self.enqueue(conn, ch, "alert_group", note, idempotency_key(ch, note["id"]))
                self.sent += 1
            for st in alerts:
                st.last_notified_ns = now_ns if channels else st.last_notified_ns
                st.news(None, now_ns)
                table.put(st)
            self._last_sent[key] = now_ns

    def _escalate(
        self,
        conn: sqlite3.Connection,
        table: AlertTable,
        st: NotificationState,
        route: Route | None,
        now_ns: int,
    ) -> None:
        if (
            route is None
            or route.escalate_after_s is None
            or st.escalated
            or st.firing_since_ns is None
            or now_ns - st.firing_since_ns < route.escalate_after_s * NS
        ):
            return
        p = st.payload
        mins = (now_ns - st.firing_since_ns) / NS / 60
        note = self._note(
            "escalation",
            [st],
            now_ns,
            subject=f"ESCALATION: {p.rule_title or p.rule_id} on {p.subject} "
            f"unacknowledged for {mins:.0f} min",
        )
        for ch in route.escalate_to:
            self.enqueue(
                conn,
                ch,
                "escalation",
                note,
                idempotency_key(ch, "escalation", st.alert_id, st.firing_since_ns),
            )
        st.escalated = 1
        table.put(st)

    def delivery_failed(
        self, conn: sqlite3.Connection, failed: dict[str, Any], now_ns: int
    ) -> None:
        """A message died undelivered: tell every other channel at once (no grouping, no
        silences)."""
        dest = failed.get("destination", "?")
        targets = [c for c in self.all_channels if c != dest]
        text = (
            f"Message {failed.get('outbox_id')} ({failed.get('kind')}) to {dest} could not be "
            "delivered by its "
            f"deadline and was marked DEAD after {failed.get('attempts')} attempt(s).\n"
            f"Last error: {failed.get('last_error')}\n"
            + (
                "THE CENTRAL BANK HAS NOT RECEIVED IT. Fix the link, then run `minewatch notify "
                "--config facility.yaml --requeue-dead`.\n"
                if dest == "central_bank"
                else "Fix the channel, then run "
                "`minewatch notify --config facility.yaml --requeue-dead`.\n"
            )
        )
        note: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "kind": "delivery_failed",
            "status": "firing",
            "severity": "critical",
            "facility": self.cfg.facility.id,
            "at": rfc3339(now_ns),
            "subject": f"DELIVERY FAILED: message to {dest} is dead",
            "text": text,
            "failed": failed,
            "alerts": [],
        }
        for ch in targets:
            self.enqueue(
                conn,
                ch,
                "delivery_failed",
                note,
                idempotency_key(ch, "dead", failed.get("outbox_id")),
            )

    def test_notification(self, now_ns: int) -> dict[str, Any]:
        text = (
            f"Test notification from minewatch for {self.cfg.facility.name} "
            f"({self.cfg.facility.id}).\n"
            "If you read this, alerts will reach you on this channel.\n"
        )
        return {
            "id": str(uuid.uuid4()),
            "kind": "test",
            "status": "resolved",
            "severity": "info",
            "facility": self.cfg.facility.id,
            "at": rfc3339(now_ns),
            "subject": f"[minewatch {self.cfg.facility.id}] TEST notification",
            "text": text,
            "alerts": [],
        }

    # formatting -------------------------------------------------------------------------------
    def group_notification(self, alerts: list[NotificationState], now_ns: int) -> dict[str, Any]:
        firing = [a for a in alerts if a.pending_change in ("firing", "repeat")]
        status = "firing" if firing else "resolved"
        first = (firing or alerts)[0].payload
        worst = max((a.severity for a in alerts), key=lambda s: _SEV_RANK.get(s, 0))
        n = len(firing or alerts)
        subject = (
            f"{status.upper()}: {n} {worst} {alerts[0].family} alert{'s' if n > 1 else ''}: "
            f"{first.rule_title or first.rule_id} on {first.subject}"
        )
        return self._note(
            "alert_group", alerts, now_ns, subject=subject, status=status, severity=worst
        )

    def _note(
        self,
        kind: str,
        alerts: list[NotificationState],
        now_ns: int,
        *,
        subject: str,
        status: str = "firing",
        severity: str | None = None,
    ) -> dict[str, Any]:
        items = [_alert_item(a, now_ns) for a in alerts]
        lines = [
            f"Facility {self.cfg.facility.name} ({self.cfg.facility.id}), licence "
            f"{self.cfg.licence.number}",
            "",
        ]
        for it in items:
            lines.append(_alert_line(it))
        return {
            "id": str(uuid.uuid4()),
            "kind": kind,
            "status": status,
            "severity": severity or alerts[0].severity,
            "facility": self.cfg.facility.id,
            "at": rfc3339(now_ns),
            "subject": f"[minewatch {self.cfg.facility.id}] {subject}",
            "text": "\n".join(lines) + "\n",
            "alerts": items,
        }


_SEV_RANK = {"info": 0, "warning": 1, "major": 2, "critical": 3}


def _alert_item(a: NotificationState, now_ns: int) -> dict[str, Any]:
    p = a.payload
    return {
        "alert_id": a.alert_id,
        "change": a.pending_change or "escalation",
        "state": a.state.value,
        "rule_id": p.rule_id,
        "rule_title": p.rule_title,
        "severity": a.severity,
        "family": a.family,
        "subject": p.subject,
        "value": p.value,
        "threshold": p.threshold,
        "unit": p.unit,
        "source": p.source,
        "reason": p.reason,
        "started_at": rfc3339(p.started_at_ns),
        "acknowledged": a.acknowledged(now_ns),
        "ack_by": a.ack_by,
        "ack_comment": a.ack_comment,
        "regulator_notifiable": a.regulator_notifiable,
    }


def _alert_line(it: dict[str, Any]) -> str:
    val = (
        ""
        if it["value"] is None
        else f" value {it['value']:g}{' ' + it['unit'] if it['unit'] else ''}"
    )
    thr = "" if it["threshold"] is None else f" (threshold {it['threshold']:g})"
    ack = f" [acknowledged by {it['ack_by']}: {it['ack_comment']}]" if it["acknowledged"] else ""
    reg = " [reported to the central bank]" if it["regulator_notifiable"] else ""
    change = {"repeat": "STILL FIRING", "firing": it["state"].upper(), "resolved": "RESOLVED"}.get(
        it["change"], it["change"].upper()
    )
    return (
        f"- {change} {it['severity']} {it['rule_id']} {it['rule_title']} on "
        f"{it['subject']}:{val}{thr}"
        f" since {it['started_at']}{ack}{reg}\n  {it['reason'] or ''}"
    ).rstrip()


def render(channel_type: str, fmt: str, note: dict[str, Any]) -> bytes:
    """The bytes stored in the outbox for one channel: e-mail {subject, text}; webhook JSON or
    Slack {"text"}; MQTT the JSON notification."""
    if channel_type == "email":
        return orjson.dumps({"subject": note["subject"], "text": note["text"]})
    if channel_type == "webhook" and fmt == "slack":
        return orjson.dumps({"text": f"*{note['subject']}*\n{note['text']}"})
    return orjson.dumps({"version": 1, **note})
