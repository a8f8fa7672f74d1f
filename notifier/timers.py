"""What the notifier does on a clock rather than on an entry: the heartbeat that tells the regulator
the facility's monitoring is alive, and the re-hash of the configuration files that ledgers a change
made while running."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any

import minewatch
from minewatch.analyzer.alert_records import last_cycle_ns
from minewatch.config.facility import FacilityConfig
from minewatch.counters import Counters
from minewatch.ledger import Ledger
from minewatch.notifier import regulator as reg
from minewatch.notifier.alerts import AlertTable
from minewatch.notifier.delivery import NS
from minewatch.notifier.queueing import Queues
from minewatch.notifier.terms import TermsInForce
from minewatch.notifier.versions import change_record, versions_in_force

log = logging.getLogger(__name__)

#: How often the files behind the configuration are re-hashed (a change is ledgered as
#: config.changed).
VERSION_CHECK_S = 60.0


class HeartbeatTimer:
    """One heartbeat per interval of the licence terms in force (the configuration's only while none
    were ever received); while one is still queued (the link is down) the next is coalesced into it:
    the queued one already tells the regulator the facility lives. The next heartbeat is due one
    interval after the last, by the interval in force *now*, so terms that arrive after a heartbeat
    was scheduled on the configuration's interval take effect at once."""

    def __init__(
        self,
        cfg: FacilityConfig,
        ledger: Ledger,
        queues: Queues,
        counters: Counters,
        terms: TermsInForce,
    ) -> None:
        self.terms = terms
        self.cfg = cfg
        self.ledger = ledger
        self.queues = queues
        self.counters = counters
        self._last_ns: int | None = None

    def tick(
        self,
        conn: sqlite3.Connection,
        table: AlertTable,
        now: int,
        versions: dict[str, Any] | None = None,
    ) -> None:
        """Queue a heartbeat when one is due, whether or not the channel is enabled: the one queued
        while it is off is the first thing the bank hears when it is on again."""
        if not self.terms.settled.is_set():
            return  # the licence terms are being fetched: they say how often, not the config
        interval_s = self.terms.heartbeat_interval_s
        if self._last_ns is not None and now < self._last_ns + int(interval_s * NS):
            return
        self._last_ns = now
        outbox = self.queues.outbox
        if outbox.has_pending(reg.DESTINATION, "heartbeat"):
            self.counters.inc("heartbeats_coalesced_total")
            return
        counts = outbox.counts()
        v = versions or {}
        cycle = last_cycle_ns(conn)
        hb = reg.Heartbeat(
            interval_s=interval_s,
            outbox_pending=sum(d.get("pending", 0) for d in counts.values()),
            dead_messages=sum(d.get("dead", 0) for d in counts.values()),
            firing_alerts=table.count_active(),
            software_version=minewatch.__version__,
            analyzer_last_cycle_at=reg.rfc3339(cycle),
            profile_id=v.get("compliance_profile"),
            profile_sha256=v.get("profile_sha256"),
            config_sha256=v.get("config_sha256"),
            open_breaches=open_breaches(table, self.terms),
            terms_source=self.terms.source,
            terms_sha256=None if self.terms.current is None else self.terms.current.sha256,
        )
        msg = reg.heartbeat_message(self.cfg, hb, now_ns=now, head=self.ledger.head(conn))
        self.queues.regulator(conn, msg)


def open_breaches(table: AlertTable, terms: TermsInForce) -> list[reg.OpenBreach]:
    """The regulator-notifiable breaches the facility holds open (what the bank should see open)."""
    out = []
    for st in table.active():
        notifiable = terms.notifiable(st.payload.rule_id, st.regulator_notifiable)
        if not (notifiable and st.regulator_open):
            continue
        tr = st.payload
        out.append(
            reg.OpenBreach(
                rule_id=tr.rule_id,
                subject=tr.subject or "facility",
                severity=tr.severity if tr.severity in reg.SEVERITIES else "critical",
                state=st.state.value,
                started_at=reg.rfc3339(tr.started_at_ns),
            )
        )
    return out


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
        """The versions in force now; checks begin ``VERSION_CHECK_S`` later. Versions that differ
        from those the last start recorded (``config.in_force``) are ledgered as ``config.changed``
        too: a profile edited while stopped is a change like any other."""
        self.versions = versions_in_force(self.cfg)
        self._next_ns = self.clock() + int(VERSION_CHECK_S * NS)
        last = self.ledger.last_of("config.in_force", self.cfg.facility.id)
        if last is not None:
            self._record(change_record(last.payload, self.versions), self.clock())
        return self.versions

    def _record(self, record: dict[str, Any], now: int) -> None:
        if record:
            self.ledger.append(
                "config.changed", record, at_ns=now, actor=self.actor, subject=self.cfg.facility.id
            )
            log.warning("configuration changed: %s", ", ".join(sorted(record)))

    def tick(self, now: int) -> None:
        if self.versions is None or now < self._next_ns:
            return
        self._next_ns = now + int(VERSION_CHECK_S * NS)
        current = versions_in_force(self.cfg)
        record = change_record(self.versions, current)
        if record:
            self._record(record, now)
            self.versions = current
