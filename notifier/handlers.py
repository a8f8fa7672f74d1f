"""What the notifier does with each kind of ledger entry, looked up by kind. An entry kind with no
handler (``config.in_force``, ``hourly.record``, receipts, ...) is only ledgered."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from minewatch.alerting import ACTIVE_STATES, AlertState, AlertTransition, silence_matches
from minewatch.analyzer.alert_records import MAX_TEXT_CHARS
from minewatch.config.facility import FacilityConfig
from minewatch.ledger import Entry, Ledger
from minewatch.notifier import regulator as reg
from minewatch.notifier.alerts import ACK_FOREVER_NS, AlertTable, NotificationState
from minewatch.notifier.operator import OperatorRouter
from minewatch.notifier.queueing import Queues

Handler = Callable[[sqlite3.Connection, AlertTable, Entry], None]


class EntryHandlers:
    """Turns ledger entries into notification state and outbox messages. The regulator is handled
    first and never consults silences or acknowledgements: muting is for the operator only."""

    def __init__(
        self,
        cfg: FacilityConfig,
        ledger: Ledger,
        router: OperatorRouter,
        queues: Queues,
        clock: Callable[[], int],
    ) -> None:
        self.cfg = cfg
        self.ledger = ledger
        self.router = router
        self.queues = queues
        self.clock = clock
        self.by_kind: dict[str, Handler] = {
            "alert.transition": self.transition,
            "alert.ack": self.ack,
            "silence.created": self.silence_created,
            "silence.expired": self.silence_expired,
            "curtailment.order": self.curtailment_order,
            "message.dead": self.message_dead,
            "config.changed": self.config_changed,
            "channel.suspended": self.channel_suspended,
        }

    def handle(self, conn: sqlite3.Connection, t: AlertTable, e: Entry) -> None:
        handler = self.by_kind.get(e.kind)
        if handler is not None:
            handler(conn, t, e)

    def transition(self, conn: sqlite3.Connection, t: AlertTable, e: Entry) -> None:
        tr = AlertTransition.parse(e.payload)
        st = t.get(tr.alert_id)
        if st is None:
            # first sight; a breach already open before this notifier existed still gets closed
            was_open = tr.from_state in ACTIVE_STATES or tr.from_state == AlertState.SUPPRESSED
            st = NotificationState(tr.alert_id, tr, tr.from_state, regulator_open=int(was_open))
        was_notified = st.last_notified_ns is not None
        st.payload, st.state = tr, tr.to_state
        if tr.acknowledged and st.ack_until_ns is None:
            st.ack_until_ns = ACK_FOREVER_NS
        if tr.to_state in ACTIVE_STATES and st.firing_since_ns is None:
            st.firing_since_ns, st.escalated, st.last_notified_ns = e.at_ns, 0, None
        elif tr.to_state not in ACTIVE_STATES and tr.to_state != AlertState.SUPPRESSED:
            st.firing_since_ns, st.ack_until_ns, st.ack_by, st.ack_comment = None, None, None, None
        # queued whether or not the channel is enabled: a breach held while it is switched off is
        # sent when it is switched on again, never lost
        if st.regulator_notifiable:
            kind = reg.breach_kind(tr.to_state, bool(st.regulator_open))
            if kind is not None:
                self._breach(conn, kind, st, tr, e)
                st.regulator_open = 0 if kind == "breach_resolved" else 1
        self.router.on_transition(st, tr.to_state, was_notified, e.at_ns)
        t.put(st)

    def ack(self, conn: sqlite3.Connection, t: AlertTable, e: Entry) -> None:
        st = t.get(int(e.payload.get("alert_id") or 0))
        if st is None:
            return
        st.ack_by, st.ack_comment = e.actor, e.payload.get("comment")
        st.ack_until_ns = int(e.payload.get("expires_at_ns") or ACK_FOREVER_NS)
        if st.regulator_notifiable and st.regulator_open:
            # an acknowledgement annotates the open breach for the regulator; it never closes it
            update = st.payload.model_copy(update={"from_state": st.state})
            self._breach(conn, "breach_updated", st, update, e)
        t.put(st)

    def silence_created(self, conn: sqlite3.Connection, t: AlertTable, e: Entry) -> None:
        p = e.payload
        t.add_silence(
            _silence_id(p, e.seq),
            p.get("matchers"),
            int(p.get("starts_at_ns") or e.at_ns),
            int(p.get("ends_at_ns") or 0),
        )

    def silence_expired(self, conn: sqlite3.Connection, t: AlertTable, e: Entry) -> None:
        """Resend at once what the silence held back (an Alertmanager user's long-standing request:
        https://github.com/prometheus/alertmanager/issues/2896)."""
        ended = t.remove_silence(_silence_id(e.payload, "")) or e.payload.get("matchers")
        silences = t.silences(e.at_ns)
        for st in t.active():
            if (
                st.state in ACTIVE_STATES
                and st.pending_change is None
                and silence_matches(ended, st.payload.labels)
                and not self.router.is_silenced(st, silences)
            ):
                st.news("firing", e.at_ns)
                t.put(st)

    def curtailment_order(self, conn: sqlite3.Connection, t: AlertTable, e: Entry) -> None:
        msg = reg.curtailment_message(
            self.cfg,
            e.payload,
            occurred_ns=e.at_ns,
            now_ns=self.clock(),
            head=self.ledger.head(conn),
            source_entry=e.seq,
        )
        self.queues.regulator(conn, msg)

    def message_dead(self, conn: sqlite3.Connection, t: AlertTable, e: Entry) -> None:
        self.router.delivery_failed(conn, e.payload, e.at_ns)

    def config_changed(self, conn: sqlite3.Connection, t: AlertTable, e: Entry) -> None:
        """A new compliance profile or configuration is news for the bank, not only the ledger."""
        p = e.payload
        change = reg.ConfigChange(
            profile_id=p.get("compliance_profile"),
            profile_sha256=p.get("profile_sha256"),
            config_sha256=p.get("config_sha256"),
            changes={k: v for k, v in p.items() if k in ("files", "config_sha256", "previous")},
        )
        self._entry(conn, e, "config_changed", config=change)

    def channel_suspended(self, conn: sqlite3.Connection, t: AlertTable, e: Entry) -> None:
        reason = str(e.payload.get("reason") or "channel disabled in the configuration")
        self._entry(conn, e, "channel_suspended", suspension=reg.Suspension(reason=reason[:2000]))

    def _entry(self, conn: sqlite3.Connection, e: Entry, kind: reg.Kind, **section: Any) -> None:
        """Queue the regulator message whose fact is entry ``e``."""
        msg = reg.entry_message(
            self.cfg,
            kind,
            source_entry=e.seq,
            occurred_ns=e.at_ns,
            now_ns=self.clock(),
            head=self.ledger.head(conn),
            **section,
        )
        self.queues.regulator(conn, msg)

    def _breach(
        self,
        conn: sqlite3.Connection,
        kind: reg.Kind,
        st: NotificationState,
        tr: AlertTransition,
        e: Entry,
    ) -> None:
        annotation = reg.OperatorAnnotation(
            acknowledged=st.acknowledged(e.at_ns) or tr.acknowledged,
            silenced=tr.silenced,
            ack_by=st.ack_by,
            # bounded where it is entered; clipped here too for entries ledgered before that
            ack_comment=None if st.ack_comment is None else st.ack_comment[:MAX_TEXT_CHARS],
        )
        msg = reg.breach_message(
            self.cfg,
            kind,
            tr,
            occurred_ns=e.at_ns,
            now_ns=self.clock(),
            head=self.ledger.head(conn),
            annotation=annotation,
            source_entry=e.seq,
        )
        self.queues.regulator(conn, msg)


def _silence_id(payload: dict[str, Any], default: object) -> str:
    return str(payload.get("id", payload.get("silence_id", default)))
