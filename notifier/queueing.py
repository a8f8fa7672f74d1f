"""Putting messages in the outbox, and waking the destination's delivery worker once the transaction
that queued them commits (woken earlier, it would look before the message is visible and go back to
sleep)."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Callable
from typing import Any

from minewatch.config.notify import Backoff
from minewatch.counters import Counters
from minewatch.ledger import Ledger
from minewatch.notifier import chain
from minewatch.notifier import regulator as reg
from minewatch.notifier.delivery import NS, DeliveryWorker
from minewatch.notifier.operator import render
from minewatch.notifier.outbox import Outbox


class Queues:
    """Enqueueing for the regulator and for operator channels, with per-thread wake-ups: the
    processor and the daily reporter each wake the workers for their own transactions."""

    def __init__(
        self,
        outbox: Outbox,
        ledger: Ledger,
        counters: Counters,
        policies: dict[str, Backoff],
        channel_types: dict[str, tuple[str, str]],
        clock: Callable[[], int],
    ) -> None:
        self.outbox = outbox
        self.ledger = ledger
        self.counters = counters
        self.policies = policies
        self.channel_types = channel_types
        self.clock = clock
        self.workers: dict[str, DeliveryWorker] = {}
        self._local = threading.local()  # per thread: destinations queued for, not yet woken

    def regulator(self, conn: sqlite3.Connection, msg: reg.RegulatorMessage) -> int | None:
        """Queue a message for the central bank at the next place in its chain (sequence number,
        link to the previous body), and ledger that it was queued, in the caller's transaction."""
        if self.outbox.has_key(reg.DESTINATION, msg.idempotency_key, conn=conn):
            self.counters.inc("duplicates_dropped_total", reason=reg.DESTINATION)
            return None
        link = chain.next_link(self.ledger, reg.DESTINATION, conn)
        msg = msg.model_copy(update={"sequence": link.sequence, "prev_sha256": link.prev_sha256})
        body = reg.encode(msg)
        critical = msg.breach is not None and msg.breach.rule.severity == "critical"
        oid = self._enqueue(
            conn,
            reg.DESTINATION,
            msg.kind,
            body,
            message_id=msg.message_id,
            key=msg.idempotency_key,
            seq=link.sequence,
            critical=critical,
        )
        if oid is not None and critical:
            self.outbox.expedite(reg.DESTINATION, self.clock(), conn)
        if oid is not None:
            chain.record_queued(
                self.ledger,
                conn,
                destination=reg.DESTINATION,
                sequence=link.sequence,
                kind=msg.kind,
                message_id=msg.message_id,
                body=body,
                source_entry=msg.source_entry,
                at_ns=self.clock(),
            )
        return oid

    def operator(
        self, conn: sqlite3.Connection, channel: str, kind: str, note: dict[str, Any], key: str
    ) -> int | None:
        ctype, fmt = self.channel_types[channel]
        return self._enqueue(
            conn,
            channel,
            kind,
            render(ctype, fmt, note),
            message_id=str(uuid.uuid4()),
            key=key,
            meta={"subject": note["subject"]},
        )

    def _enqueue(
        self,
        conn: sqlite3.Connection,
        dest: str,
        kind: str,
        body: bytes,
        *,
        message_id: str,
        key: str,
        meta: dict[str, Any] | None = None,
        seq: int | None = None,
        critical: bool = False,
    ) -> int | None:
        now = self.clock()
        oid = self.outbox.enqueue(
            dest,
            kind,
            body,
            message_id=message_id,
            idempotency_key=key,
            now_ns=now,
            deadline_ns=now + int(self.policies[dest].dead_after_s * NS),
            meta=meta,
            seq=seq,
            critical=critical,
            conn=conn,
        )
        self.counters.inc("queued_total" if oid else "duplicates_dropped_total", reason=dest)
        self._queued_for().add(dest)
        return oid

    def _queued_for(self) -> set[str]:
        dests: set[str] | None = getattr(self._local, "queued_for", None)
        if dests is None:
            dests = self._local.queued_for = set()
        return dests

    def wake_queued(self) -> None:
        """Wake the workers this thread queued for; call after its transaction commits."""
        dests = self._queued_for()
        for dest in dests:
            w = self.workers.get(dest)
            if w is not None:
                w.wake.set()
        dests.clear()
