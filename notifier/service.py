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
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import minewatch
from minewatch.config.facility import FacilityConfig
from minewatch.config.notify import Backoff
from minewatch.counters import Counters
from minewatch.db import immediate
from minewatch.errors import ConfigError
from minewatch.events import Event, EventBus
from minewatch.ledger import Entry, Ledger
from minewatch.notifier import regulator as reg
from minewatch.notifier.alerts import AlertTable
from minewatch.notifier.chain import QUEUED
from minewatch.notifier.daily_report import DailyReporter, ReportSource
from minewatch.notifier.delivery import BackgroundThread, DeliveryWorker
from minewatch.notifier.handlers import EntryHandlers
from minewatch.notifier.operator import OperatorRouter, render
from minewatch.notifier.outbox import Message, Outbox
from minewatch.notifier.queueing import Queues
from minewatch.notifier.refusal import refusable, replace_refused
from minewatch.notifier.signing import KeyStore
from minewatch.notifier.terms import TermsFetcher, TermsInForce, suspension_actor
from minewatch.notifier.timers import ConfigWatch, HeartbeatTimer
from minewatch.notifier.transports import (
    HttpTransport,
    MqttTransport,
    Result,
    SmtpTransport,
    Transport,
    webhook_transport,
)

log = logging.getLogger(__name__)

CURSOR = "notifier"
ACTOR = "notifier"
#: Ledger entries handled per transaction.
BATCH = 200


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

    ``deliver=False`` only records and queues (for a process whose messages a separate ``minewatch
    notify`` delivers).
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
        self.deliver = deliver
        self.clock = clock
        self.ledger = Ledger(cfg.state_db)
        self.outbox = Outbox(cfg.state_db)
        self.counters = Counters()
        self.keys = KeyStore(cfg.path(cfg.notify.central_bank.key_dir))
        if bus is not None:  # ledger from now on, even before start(): an event must never be lost
            bus.subscribe(LedgerRecorder(self.ledger, self.counters, self.wake))
        policies: dict[str, Backoff] = {c.name: c.backoff for c in cfg.notify.channels}
        # the regulator's messages are queued even while its channel is disabled (and sent once it
        # is enabled again); only its delivery worker depends on ``enabled``
        policies[reg.DESTINATION] = cfg.notify.central_bank.backoff
        channel_types: dict[str, tuple[str, str]] = {
            c.name: (c.type, getattr(c, "format", "json")) for c in cfg.notify.channels
        }
        self.queues = Queues(
            self.outbox, self.ledger, self.counters, policies, channel_types, clock
        )
        self.workers = self.queues.workers
        self.router = OperatorRouter(cfg, self.queues.operator)
        self.terms = TermsInForce(cfg, self.ledger, self.counters, clock)
        self.handlers = EntryHandlers(cfg, self.ledger, self.router, self.queues, clock, self.terms)
        self.heartbeat = HeartbeatTimer(cfg, self.ledger, self.queues, self.counters, self.terms)
        terms_url = cfg.notify.central_bank.licence_terms_url()
        self.fetcher = (
            TermsFetcher(self.terms, terms_url, self.keys, cfg.notify.central_bank.timeout_s)
            if deliver and terms_url and self.terms.keys
            else None
        )
        if self.fetcher is None:
            self.terms.settled.set()
        #: The regulator's channel is switched off but the licence is active: it delivers up to
        #: its signed suspension, then holds the rest (``_after_suspension``).
        self.suspending = False
        self.config_watch = ConfigWatch(cfg, self.ledger, ACTOR, clock)
        self.reporter = DailyReporter(
            cfg,
            self.ledger,
            self.outbox,
            self.counters,
            report_source,
            enqueue=self.queues.regulator,
            after_commit=self.queues.wake_queued,
            idle_s=cfg.notify.poll_interval_s,
            clock=clock,
        )
        self._tables: AlertTable | None = None

    # lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        versions = self.config_watch.start()
        self.ledger.append(
            "config.in_force",
            {
                **versions,
                "facility": self.cfg.facility.id,
                "software_version": minewatch.__version__,
                "signing_key_id": self.keys.current_id(),
            },
            at_ns=self.clock(),
            actor=ACTOR,
            subject=self.cfg.facility.id,
        )
        cb = self.cfg.notify.central_bank
        if not cb.enabled and self.terms.current is None and self.fetcher is not None:
            # switching the channel off is allowed or not by the terms: ask for them first
            self.fetcher.fetch_once()
        log.warning("%s", self.terms.describe())
        if not cb.enabled and self.terms.licence_active():
            if not cb.url:
                raise ConfigError(
                    [
                        "notify.central_bank: the channel cannot be switched off while licence "
                        f"{self.terms.current.doc.licence_number if self.terms.current else ''} "
                        "is active without a url: the signed 'channel suspended' must reach the "
                        "bank first"
                    ]
                )
            log.warning(
                "central bank channel switched off while the licence is active: a signed "
                "'channel suspended' is delivered first, then regulator messages are held"
            )
            self.suspending = True
            self._suspend(licence_active=True)
        elif not cb.enabled:
            log.warning(
                "central bank channel disabled (notify.central_bank.enabled): regulator messages "
                "are queued and sent when it is enabled again, starting with 'channel suspended'"
            )
            self._suspend(licence_active=False)
        elif self.keys.current_id() is None:
            log.error(
                "no signing key in %s: messages to the central bank will fail until "
                "`minewatch keys generate`",
                self.keys.dir,
            )
        if self.deliver:
            for dest, policy in self.queues.policies.items():
                regulator = dest == reg.DESTINATION
                if regulator and not (cb.enabled or self.suspending):
                    continue
                w = DeliveryWorker(
                    dest,
                    self.outbox,
                    self._transport(dest),
                    policy,
                    on_done=self._on_done,
                    counters=self.counters,
                    idle_s=self.cfg.notify.poll_interval_s,
                    clock=self.clock,
                    done_event=self.wake,
                    on_refused=self._on_refused if regulator else None,
                    hold=self._after_suspension if regulator and self.suspending else None,
                )
                self.workers[dest] = w
                w.start()
            # timers belong to the delivering process, so two processes never both send
            self.reporter.start()
            if self.fetcher is not None:
                self.fetcher.start()
        self.start_thread()

    def stop(self) -> None:
        self.stop_thread()
        self.reporter.stop()
        if self.fetcher is not None:
            self.fetcher.stop()
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
            cb = self.cfg.notify.central_bank
            return HttpTransport(cb.url or "", cb.timeout_s, signer_factory=self.keys.signer)
        ch = next(c for c in self.cfg.notify.channels if c.name == dest)
        if ch.type == "email":
            return SmtpTransport(ch, self.cfg.path(ch.smtp.ca_file) if ch.smtp.ca_file else None)
        if ch.type == "webhook":
            return webhook_transport(ch)
        return MqttTransport(ch, self.cfg.mqtt)

    def test_channels(self) -> dict[str, Result]:
        """One test notification to each operator channel, sent directly (not queued, not retried),
        so the operator can check addresses and credentials; the outcome per channel."""
        note = self.router.test_notification(self.clock())
        out: dict[str, Result] = {}
        for name, (ctype, fmt) in self.queues.channel_types.items():
            transport = self._transport(name)
            try:
                msg = Message(
                    id=0,
                    destination=name,
                    kind="test",
                    message_id=note["id"],
                    idempotency_key=note["id"],
                    body=render(ctype, fmt, note),
                    meta={},
                    created_ns=self.clock(),
                    deadline_ns=0,
                    next_attempt_ns=0,
                    attempts=0,
                    status="pending",
                    last_error=None,
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
            self.wake.wait(self.cfg.notify.poll_interval_s)
            self.wake.clear()

    def process_once(self) -> int:
        """Handle new ledger entries, then timers (heartbeat, repeats, escalations); never the daily
        report, which can take long to build and has its own thread (``self.reporter``)."""
        if self._tables is None:
            self._tables = AlertTable(self.ledger.conn())
        t = self._tables
        conn = t.conn
        handled = 0
        while True:
            with immediate(conn):
                batch = self.ledger.entries(after_seq=t.cursor(CURSOR) or 0, limit=BATCH, conn=conn)
                for e in batch:
                    self._handle_one(conn, t, e)
                if batch:
                    t.set_cursor(CURSOR, batch[-1].seq)
            self.queues.wake_queued()
            handled += len(batch)
            if len(batch) < BATCH:
                break
        now = self.clock()
        with immediate(conn):
            self.router.tick(conn, t, now)
            if self.deliver:  # timers belong to the delivering process: never two senders
                self.heartbeat.tick(conn, t, now, self.config_watch.versions)
        self.queues.wake_queued()
        self.config_watch.tick(now)
        if handled:
            self.counters.inc("entries_processed_total", handled)
        return handled

    def _handle_one(self, conn: sqlite3.Connection, t: AlertTable, e: Entry) -> None:
        """One entry in a savepoint: a malformed payload is logged, counted and skipped (it stays in
        the ledger) instead of blocking every entry behind it."""
        conn.execute("SAVEPOINT entry")
        try:
            self.handlers.handle(conn, t, e)
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

    def _suspend(self, *, licence_active: bool) -> None:
        """Ledger ``channel.suspended`` once per suspension (not at every start while disabled); its
        handler queues the signed ``channel_suspended`` message, carrying the reason and who
        switched the channel off."""
        if self._still_suspended():
            return
        cb = self.cfg.notify.central_bank
        self.ledger.append(
            "channel.suspended",
            {
                "reason": cb.suspend_reason or "notify.central_bank.enabled is false",
                "licence_active": licence_active,
            },
            at_ns=self.clock(),
            actor=suspension_actor(self.cfg),
            subject=self.cfg.facility.id,
        )

    def _still_suspended(self) -> bool:
        """The last suspension is not queued yet, or nothing was delivered after its message."""
        last = self.ledger.last_of("channel.suspended", self.cfg.facility.id)
        if last is None:
            return False
        queued = self.ledger.last_of(QUEUED, reg.DESTINATION)
        if queued is None or queued.seq < last.seq:
            return True
        notice = self.outbox.last_of_kind(reg.DESTINATION, "channel_suspended")
        return notice is not None and not self.outbox.delivered_after(reg.DESTINATION, notice.id)

    def _after_suspension(self, msg: Message) -> bool:
        """Hold ``msg``: it was queued after the newest signed suspension, which the bank has (or
        will have first: the queue is delivered in order)."""
        notice = self.outbox.last_of_kind(reg.DESTINATION, "channel_suspended")
        return notice is not None and msg.id > notice.id

    def _on_refused(self, msg: Message, res: Result, conn: sqlite3.Connection) -> bool:
        return refusable(msg, res) and replace_refused(
            self.ledger, self.outbox, msg, res, self.clock(), conn
        )

    def _on_done(
        self, msg: Message, outcome: str, res: Result | None, conn: sqlite3.Connection
    ) -> None:
        """Receipt or dead letter into the ledger, in the transaction that records the outcome (a
        dead letter then alerts the operator through the processor, which the worker wakes)."""
        payload: dict[str, Any] = {
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
