"""What the notifier does on a clock rather than on an entry: the heartbeat that tells the regulator
the facility's monitoring is alive, and the re-hash of the configuration files that ledgers a change
made while running."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any

import minewatch
from minewatch.config.facility import FacilityConfig
from minewatch.counters import Counters
from minewatch.ledger import Ledger
from minewatch.notifier import regulator as reg
from minewatch.notifier.alerts import AlertTable
from minewatch.notifier.delivery import NS
from minewatch.notifier.queueing import Queues
from minewatch.notifier.versions import changes, versions_in_force

log = logging.getLogger(__name__)

#: How often the files behind the configuration are re-hashed (a change is ledgered as
#: config.changed).
VERSION_CHECK_S = 60.0


class HeartbeatTimer:
    """One heartbeat per ``heartbeat_interval_s``; while one is still queued (the link is down) the
    next is coalesced into it: the queued one already tells the regulator the facility lives."""

    def __init__(
        self, cfg: FacilityConfig, ledger: Ledger, queues: Queues, counters: Counters
    ) -> None:
        self.cb = cfg.notify.central_bank
        self.cfg = cfg
        self.ledger = ledger
        self.queues = queues
        self.counters = counters
        self._next_ns: int | None = None

    def tick(self, conn: sqlite3.Connection, table: AlertTable, now: int) -> None:
        if not self.cb.enabled or (self._next_ns is not None and now < self._next_ns):
            return
        self._next_ns = now + int(self.cb.heartbeat_interval_s * NS)
        outbox = self.queues.outbox
        if outbox.has_pending(reg.DESTINATION, "heartbeat"):
            self.counters.inc("heartbeats_coalesced_total")
            return
        counts = outbox.counts()
        hb = reg.Heartbeat(
            interval_s=self.cb.heartbeat_interval_s,
            outbox_pending=sum(d.get("pending", 0) for d in counts.values()),
            dead_messages=sum(d.get("dead", 0) for d in counts.values()),
            firing_alerts=table.count_active(),
            software_version=minewatch.__version__,
        )
        msg = reg.heartbeat_message(self.cfg, hb, now_ns=now, head=self.ledger.head(conn))
        self.queues.regulator(conn, msg)


class ConfigWatch:
    """Ledgers ``config.changed`` when a profile or registry file changes while running (the next
    start records the new versions in ``config.in_force`` too)."""

    def __init__(
        self, cfg: FacilityConfig, ledger: Ledger, actor: str, clock: Callable[[], int]
    ) -> None:
        self.cfg = cfg
        self.ledger = ledger
        self.actor = actor
        self.clock = clock
        self.versions: dict[str, Any] | None = None
        self._next_ns = 0

    def start(self) -> dict[str, Any]:
        """The versions in force now; checks begin ``VERSION_CHECK_S`` later."""
        self.versions = versions_in_force(self.cfg)
        self._next_ns = self.clock() + int(VERSION_CHECK_S * NS)
        return self.versions

    def tick(self, now: int) -> None:
        if self.versions is None or now < self._next_ns:
            return
        self._next_ns = now + int(VERSION_CHECK_S * NS)
        current = versions_in_force(self.cfg)
        diff = changes(self.versions, current)
        if diff:
            self.ledger.append(
                "config.changed", diff, at_ns=now, actor=self.actor, subject=self.cfg.facility.id
            )
            log.warning(
                "configuration files changed while running: %s", ", ".join(diff.get("files", {}))
            )
            self.versions = current
