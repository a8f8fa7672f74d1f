"""The notifier component: event bus -> ledger -> outbox -> delivery workers.

Every event is first appended to the ledger (synchronously, in the publisher's thread: the record is
durable before the analyzer moves on). A processing thread then tails the ledger with a persistent
cursor and turns entries into outbox messages, committing the messages and the cursor together, so
each entry is processed exactly once even across crashes, and a ``minewatch notify`` process can do
the delivering for events ledgered by other processes. Delivery workers (one per destination) do the
sending; their receipts and dead letters go back into the ledger. The daily report is built on a
thread of its own (``minewatch.notifier.daily_report``), so a slow report never delays a breach.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import minewatch
from minewatch.config.facility import FacilityConfig
from minewatch.config.notify import Backoff
from minewatch.counters import Counters
from minewatch.db import immediate
from minewatch.events import Event, EventBus
from minewatch.ledger import Entry, Ledger
from minewatch.notifier import regulator as reg
from minewatch.notifier.alerts import (
    ACK_FOREVER_NS,
    ACTIVE_STATES,
    SUPPRESSED,
    AlertState,
    AlertTable,
    matches_silence,
)
from minewatch.notifier.daily_report import DailyReporter, ReportSource
from minewatch.notifier.delivery import NS, BackgroundThread, DeliveryWorker
from minewatch.notifier.operator import OperatorRouter, render
from minewatch.notifier.outbox import Message, Outbox
from minewatch.notifier.signing import KeyStore
from minewatch.notifier.transports import (
    HttpTransport,
    MqttTransport,
    Result,
    SmtpTransport,
    Transport,
    webhook_transport,
)
from minewatch.notifier.versions import changes, versions_in_force

log = logging.getLogger(__name__)

CURSOR = "notifier"
ACTOR = "notifier"
#: How often the files behind the configuration are re-hashed (a change is ledgered as
#: config.changed).
VERSION_CHECK_S = 60.0


class LedgerRecorder:
    """Bus subscriber: appends every event to the ledger and wakes the processor."""

    def __init__(self, ledger: Ledger, counters: Counters, wake: threading.Event) -> None:
        self.ledger = ledger
        self.counters = counters
        self.wake = wake

    def __call__(self, ev: Event) -> None:
        try:
            self.ledger.append(
                ev.kind, dict(ev.payload), at_ns=ev.at_ns, actor=ev.actor, subject=ev.subject
            )
        except Exception:
            self.counters.inc("ledger_errors_total", reason=ev.kind)
            log.exception("could not ledger event %s %s", ev.kind, ev.subject)
            raise
        self.counters.inc("events_ledgered_total")
        self.wake.set()


class Notifier(BackgroundThread):
    """``start()`` / ``stop()`` / ``stats()``; see the module docstring.

    ``deliver=False`` only records and queues (for a process whose messages a separate
    ``minewatch notify`` delivers).
    """

    def __init__(
        self,
        cfg: FacilityConfig,
        bus: EventBus | None = None,
        *,
        report_source: ReportSource | None = None,
        deliver: bool = True,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        super().__init__("notifier")
        self.cfg = cfg
        self.n = cfg.notify
        self.bus = bus
        self.deliver = deliver
        self.clock = clock
        self.db_path = cfg.state_db
        self.ledger = Ledger(self.db_path)
        self.outbox = Outbox(self.db_path)
        self.counters = Counters()
        self.keys = KeyStore(cfg.path(self.n.central_bank.key_dir))
        self._recorder = LedgerRecorder(self.ledger, self.counters, self.wake)
        if bus is not None:  # ledger from now on, even before start(): an event must never be lost
            bus.subscribe(self._recorder)
        self.router = OperatorRouter(cfg, self._enqueue_operator)
        self._channel_types = {
            c.name: (c.type, getattr(c, "format", "json")) for c in self.n.channels
        }
        self._policies: dict[str, Backoff] = {c.name: c.backoff for c in self.n.channels}
        if self.n.central_bank.enabled:
            self._policies[reg.DESTINATION] = self.n.central_bank.backoff
        self.workers: dict[str, DeliveryWorker] = {}
        self._local = (
            threading.local()
        )  # per thread: destinations queued for in its open transaction
        self.reporter = DailyReporter(
            cfg,
            self.ledger,
            self.outbox,
            self.counters,
            report_source,
            enqueue=self._enqueue_regulator,
            after_commit=self._wake_queued,
            idle_s=self.n.poll_interval_s,
            clock=clock,
        )
        self._next_heartbeat_ns: int | None = None
        self._versions: dict[str, Any] | None = None
        self._next_version_check_ns = 0
        self._tables: AlertTable | None = None

    # lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._versions = versions_in_force(self.cfg)
        self._next_version_check_ns = self.clock() + int(VERSION_CHECK_S * NS)
        self.ledger.append(
            "config.in_force",
            {
                **self._versions,
                "facility": self.cfg.facility.id,
                "software_version": minewatch.__version__,
                "signing_key_id": self.keys.current_id(),
            },
            at_ns=self.clock(),
            actor=ACTOR,
            subject=self.cfg.facility.id,
        )
        if not self.n.central_bank.enabled:
            log.warning(
                "central bank channel disabled (notify.central_bank.enabled): regulator-notifiable alerts "
                "are recorded in the ledger but not sent"
            )
        elif self.keys.current_id() is None:
            log.error(
                "no signing key in %s: messages to the central bank will fail until `minewatch keys generate`",
                self.keys.dir,
            )
        if self.deliver:
            for dest, policy in self._policies.items():
                w = DeliveryWorker(
                    dest,
                    self.outbox,
                    self._transport(dest),
                    policy,
                    on_done=self._on_done,
                    counters=self.counters,
                    idle_s=self.n.poll_interval_s,
                    clock=self.clock,
                    done_event=self.wake,
                )
                self.workers[dest] = w
                w.start()
            self.reporter.start()  # timers belong to the delivering process, so two processes never both send
        self.start_thread()

    def stop(self) -> None:
        self.stop_thread()
        self.reporter.stop()
        for w in self.workers.values():
            w.stop()
        self.workers.clear()

    def stats(self) -> dict[str, Any]:
        head = self.ledger.head()
        return {
            "counters": self.counters.snapshot(),
            "outbox": self.outbox.counts(),
            "ledger_head": {"seq": head.seq, "hash": head.hash},
            "operator_notifications": self.router.sent,
            "operator_silenced": self.router.silenced,
        }

    def _transport(self, dest: str) -> Transport:
        if dest == reg.DESTINATION:
            cb = self.n.central_bank
            return HttpTransport(cb.url or "", cb.timeout_s, signer_factory=self.keys.signer)
        ch = next(c for c in self.n.channels if c.name == dest)
        if ch.type == "email":
            return SmtpTransport(ch, self.cfg.path(ch.smtp.ca_file) if ch.smtp.ca_file else None)
        if ch.type == "webhook":
            return webhook_transport(ch)
        return MqttTransport(ch, self.cfg.mqtt)

    def test_channels(self) -> dict[str, Result]:
        """One test notification to each operator channel, sent directly (not queued, not retried),
        so the
        operator can check addresses and credentials; the outcome per channel."""
        note = self.router.test_notification(self.clock())
        out: dict[str, Result] = {}
        for name, (ctype, fmt) in self._channel_types.items():
            transport = self._transport(name)
            try:
                msg = Message(
                    0,
                    name,
                    "test",
                    note["id"],
                    note["id"],
                    render(ctype, fmt, note),
                    {},
                    self.clock(),
                    0,
                    0,
                    0,
                    "pending",
                    None,
                )
                out[name] = transport.send(msg)
            finally:
                transport.close()
        return out

    # processing thread ------------------------------------------------------------------------
    def _run(self) -> None:
        # the processor has its own connection: its transactions never interleave with the
        # recorder's
        self._tables = AlertTable(self.ledger.conn())
        while not self._stop.is_set():
            try:
                self.process_once()
            except Exception:
                self.counters.inc("processor_errors_total")
                log.exception("notifier processing failed; retrying")
            self.wake.wait(self.n.poll_interval_s)
            self.wake.clear()

    def process_once(self) -> int:
        """Handle new ledger entries, then timers (heartbeat, repeats, escalations); never the daily
        report,
        which can take long to build and has its own thread (``self.reporter``)."""
        if self._tables is None:
            self._tables = AlertTable(self.ledger.conn())
        t = self._tables
        conn = t.conn
        handled = 0
        while True:
            with immediate(conn):
                batch = self.ledger.entries(after_seq=t.cursor(CURSOR) or 0, limit=200, conn=conn)
                for e in batch:
                    self._handle_one(conn, t, e)
                if batch:
                    t.set_cursor(CURSOR, batch[-1].seq)
            self._wake_queued()
            handled += len(batch)
            if len(batch) < 200:
                break
        now = self.clock()
        with immediate(conn):
            self.router.tick(conn, t, now)
            if (
                self.deliver
            ):  # timers belong to the delivering process, so two processes never both send
                self._heartbeat(conn, t, now)
        self._wake_queued()
        self._check_versions(now)
        if handled:
            self.counters.inc("entries_processed_total", handled)
        return handled

    def _handle_one(self, conn: Any, t: AlertTable, e: Entry) -> None:
        """One entry in a savepoint: a malformed payload is logged, counted and skipped (it stays in
        the
        ledger) instead of blocking every entry behind it."""
        conn.execute("SAVEPOINT entry")
        try:
            self._handle(conn, t, e)
        except Exception as exc:
            conn.execute("ROLLBACK TO entry")
            self.counters.inc("rejected_total", reason=f"{e.kind}: {type(exc).__name__}")
            log.error(
                "ledger entry #%d (%s, subject %r) cannot be processed and is skipped: %s: %s",
                e.seq,
                e.kind,
                e.subject,
                type(exc).__name__,
                exc,
            )
        conn.execute("RELEASE entry")

    def _handle(self, conn: Any, t: AlertTable, e: Entry) -> None:
        p = e.payload
        if e.kind == "alert.transition":
            self._on_transition(conn, t, e, p)
        elif e.kind == "alert.ack":
            self._on_ack(conn, t, e, p)
        elif e.kind == "silence.created":
            sid = str(p.get("id", p.get("silence_id", e.seq)))
            t.add_silence(
                sid,
                p.get("matchers"),
                int(p.get("starts_at_ns") or e.at_ns),
                int(p.get("ends_at_ns") or 0),
            )
        elif e.kind == "silence.expired":
            ended = t.remove_silence(str(p.get("id", p.get("silence_id", "")))) or p.get("matchers")
            silences = t.silences(e.at_ns)
            for st in t.active():  # resend at once what the silence held back (alertmanager#2896)
                if (
                    st.state in ACTIVE_STATES
                    and st.pending_change is None
                    and matches_silence(ended, st.payload)
                    and not self.router.is_silenced(st, silences)
                ):
                    st.news("firing", e.at_ns)
                    t.put(st)
        elif e.kind == "curtailment.order" and self.n.central_bank.enabled:
            msg = reg.curtailment_message(
                self.cfg, p, occurred_ns=e.at_ns, now_ns=self.clock(), head=self.ledger.head(conn)
            )
            self._enqueue_regulator(conn, msg)
        elif e.kind == "message.dead":
            self.router.delivery_failed(conn, p, e.at_ns)

    def _on_transition(self, conn: Any, t: AlertTable, e: Entry, p: dict[str, Any]) -> None:
        aid = int(p.get("alert_id") or 0)
        st = t.get(aid)
        if (
            st is None
        ):  # first sight; a breach already open before this notifier existed still gets closed
            frm = str(p.get("from_state") or "inactive")
            st = AlertState(
                aid, p, frm, regulator_open=int(frm in ACTIVE_STATES or frm == SUPPRESSED)
            )
        to_state = str(p.get("to_state"))
        was_notified = st.last_notified_ns is not None
        st.payload, st.state = p, to_state
        if p.get("acknowledged") and st.ack_until_ns is None:
            st.ack_until_ns = ACK_FOREVER_NS
        if to_state in ACTIVE_STATES and st.firing_since_ns is None:
            st.firing_since_ns, st.escalated, st.last_notified_ns = e.at_ns, 0, None
        elif to_state not in ACTIVE_STATES and to_state != SUPPRESSED:
            st.firing_since_ns, st.ack_until_ns, st.ack_by, st.ack_comment = None, None, None, None
        # the regulator first: silences and acknowledgements never apply to it (DESIGN.md decision
        # 5)
        if st.regulator_notifiable and self.n.central_bank.enabled:
            kind = reg.breach_kind(p.get("from_state"), to_state, bool(st.regulator_open))
            if kind is not None:
                msg = reg.breach_message(
                    self.cfg,
                    kind,
                    p,
                    occurred_ns=e.at_ns,
                    now_ns=self.clock(),
                    head=self.ledger.head(conn),
                    annotation=self._annotation(st, e.at_ns),
                )
                self._enqueue_regulator(conn, msg)
                st.regulator_open = 0 if kind == "breach_resolved" else 1
        self.router.on_transition(st, to_state, was_notified, e.at_ns)
        t.put(st)

    def _on_ack(self, conn: Any, t: AlertTable, e: Entry, p: dict[str, Any]) -> None:
        st = t.get(int(p.get("alert_id") or 0))
        if st is None:
            return
        st.ack_by, st.ack_comment = e.actor, p.get("comment")
        st.ack_until_ns = int(p.get("expires_at_ns") or ACK_FOREVER_NS)
        if st.regulator_notifiable and st.regulator_open and self.n.central_bank.enabled:
            # an acknowledgement annotates the open breach for the regulator; it never closes it
            msg = reg.breach_message(
                self.cfg,
                "breach_updated",
                {**st.payload, "from_state": st.state},
                occurred_ns=e.at_ns,
                now_ns=self.clock(),
                head=self.ledger.head(conn),
                annotation=self._annotation(st, e.at_ns),
            )
            self._enqueue_regulator(conn, msg)
        t.put(st)

    @staticmethod
    def _annotation(st: AlertState, now_ns: int) -> reg.OperatorAnnotation:
        return reg.OperatorAnnotation(
            acknowledged=st.acknowledged(now_ns) or bool(st.payload.get("acknowledged")),
            silenced=bool(st.payload.get("silenced")),
            ack_by=st.ack_by,
            ack_comment=st.ack_comment,
        )

    # queueing ---------------------------------------------------------------------------------
    def _deadline(self, dest: str, now_ns: int) -> int:
        return now_ns + int(self._policies[dest].dead_after_s * NS)

    def _enqueue_regulator(self, conn: Any, msg: reg.RegulatorMessage) -> int | None:
        now = self.clock()
        oid = self.outbox.enqueue(
            reg.DESTINATION,
            msg.kind,
            reg.encode(msg),
            message_id=msg.message_id,
            idempotency_key=msg.idempotency_key,
            now_ns=now,
            deadline_ns=self._deadline(reg.DESTINATION, now),
            conn=conn,
        )
        self.counters.inc(
            "queued_total" if oid else "duplicates_dropped_total", reason=reg.DESTINATION
        )
        self._wake_worker(reg.DESTINATION)
        return oid

    def _enqueue_operator(
        self, conn: Any, channel: str, kind: str, note: dict[str, Any], key: str
    ) -> int | None:
        now = self.clock()
        ctype, fmt = self._channel_types[channel]
        oid = self.outbox.enqueue(
            channel,
            kind,
            render(ctype, fmt, note),
            message_id=str(uuid.uuid4()),
            idempotency_key=key,
            now_ns=now,
            deadline_ns=self._deadline(channel, now),
            meta={"subject": note["subject"]},
            conn=conn,
        )
        self.counters.inc("queued_total" if oid else "duplicates_dropped_total", reason=channel)
        self._wake_worker(channel)
        return oid

    def _queued_for(self) -> set[str]:
        dests: set[str] | None = getattr(self._local, "queued_for", None)
        if dests is None:
            dests = self._local.queued_for = set()
        return dests

    def _wake_worker(self, dest: str) -> None:
        """Remember to wake the destination's worker once the transaction that queued for it commits
        (woken earlier, it would look before the message is visible and go back to sleep). Per
        thread:
        the processor and the reporter each wake for their own transactions."""
        self._queued_for().add(dest)

    def _wake_queued(self) -> None:
        dests = self._queued_for()
        for dest in dests:
            w = self.workers.get(dest)
            if w is not None:
                w.wake.set()
        dests.clear()

    def _on_done(self, msg: Message, outcome: str, res: Result | None, conn: Any) -> None:
        """Receipt or dead letter into the ledger, in the transaction that records the outcome (a
        dead
        letter then alerts the operator through the processor, which the worker wakes)."""
        payload = {
            "outbox_id": msg.id,
            "destination": msg.destination,
            "kind": msg.kind,
            "message_id": msg.message_id,
            "idempotency_key": msg.idempotency_key,
            "body_sha256": hashlib.sha256(msg.body).hexdigest(),
            "attempts": msg.attempts + 1,
        }
        if res is not None:
            payload.update(
                status_code=res.status_code,
                receipt_sha256=hashlib.sha256(res.detail.encode()).hexdigest(),
                receipt=res.detail[:500],
            )
        else:
            payload.update(attempts=msg.attempts, last_error=msg.last_error)
        self.ledger.append(
            f"message.{outcome}",
            payload,
            at_ns=self.clock(),
            actor=ACTOR,
            subject=msg.destination,
            conn=conn,
        )

    # timers -----------------------------------------------------------------------------------
    def _heartbeat(self, conn: Any, t: AlertTable, now: int) -> None:
        cb = self.n.central_bank
        if not cb.enabled:
            return
        if self._next_heartbeat_ns is not None and now < self._next_heartbeat_ns:
            return
        self._next_heartbeat_ns = now + int(cb.heartbeat_interval_s * NS)
        if self.outbox.has_pending(reg.DESTINATION, "heartbeat"):
            self.counters.inc(
                "heartbeats_coalesced_total"
            )  # the queued one still tells the regulator we live
            return
        counts = self.outbox.counts()
        hb = reg.Heartbeat(
            interval_s=cb.heartbeat_interval_s,
            outbox_pending=sum(d.get("pending", 0) for d in counts.values()),
            dead_messages=sum(d.get("dead", 0) for d in counts.values()),
            firing_alerts=t.count_active(),
            software_version=minewatch.__version__,
        )
        self._enqueue_regulator(
            conn, reg.heartbeat_message(self.cfg, hb, now_ns=now, head=self.ledger.head(conn))
        )

    def _check_versions(self, now: int) -> None:
        """Ledger a change of a profile or registry file while running (the next start records it
        too)."""
        if self._versions is None or now < self._next_version_check_ns:
            return
        self._next_version_check_ns = now + int(VERSION_CHECK_S * NS)
        current = versions_in_force(self.cfg)
        diff = changes(self._versions, current)
        if diff:
            self.ledger.append(
                "config.changed", diff, at_ns=now, actor=ACTOR, subject=self.cfg.facility.id
            )
            log.warning(
                "configuration files changed while running: %s", ", ".join(diff.get("files", {}))
            )
            self._versions = current
