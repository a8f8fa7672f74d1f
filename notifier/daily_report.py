"""The daily facility report to the central bank, built on its own thread.

Building the report (``minewatch.analyzer.report.build_report``) can take tens of seconds at a large
site. On the notifier's processing thread it would hold a fire alarm's ``breach_opened`` behind it,
and the regulator must get breaches within seconds (``bench/notify_latency.py`` holds the p99 to 2
s). So the reporter builds it on its own thread and then queues it through the notifier's outbox
path, in one transaction with its ``report.issued`` ledger entry and only if no message with the
report's idempotency key exists yet: queued exactly once, and a report that was due but not queued
when the process died is "due" again after the restart (due means: no message with that key), so it
is built then.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from minewatch.config.facility import FacilityConfig
from minewatch.counters import Counters
from minewatch.db import immediate
from minewatch.ledger import Ledger, canonical_json
from minewatch.notifier import regulator as reg
from minewatch.notifier.delivery import NS, BackgroundThread
from minewatch.notifier.outbox import Outbox

log = logging.getLogger(__name__)

ACTOR = "notifier"
#: A report source that raised is tried again this much later ...
RETRY_S = 300.0
#: ... this many times in all; then the regulator gets what the ledger holds, saying why (never no
#: report).
ATTEMPTS = 6
#: ``stop()`` waits this long for a report being built, so stopping never waits tens of seconds for
#: the
#: analyzer. Abandoning a build is safe: nothing is queued until its transaction commits (a process
#: that
#: exits first builds it again at the next start), and that transaction queues nothing already
#: queued.
STOP_WAIT_S = 2.0

#: (start_ns, end_ns) -> the facility report dict for that period (analyzer.report.build_report)
ReportSource = Callable[[int, int], dict[str, Any]]
#: Queue one regulator message inside the caller's transaction (the notifier's outbox path).
Enqueue = Callable[[sqlite3.Connection, reg.RegulatorMessage], int | None]


class DailyReporter(BackgroundThread):
    """Builds and queues the latest due daily report; ``step(now_ns)`` is one look."""

    def __init__(
        self,
        cfg: FacilityConfig,
        ledger: Ledger,
        outbox: Outbox,
        counters: Counters,
        source: ReportSource | None,
        *,
        enqueue: Enqueue,
        after_commit: Callable[[], None],
        idle_s: float,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        super().__init__("notifier-report")
        self.cfg = cfg
        self.ledger = ledger
        self.outbox = outbox
        self.counters = counters
        self.source = source
        self.enqueue = enqueue
        self.after_commit = after_commit
        self.idle_s = idle_s
        self.clock = clock
        self._period: tuple[int, int] | None = None
        self._failures = 0
        self._retry_at_ns = 0

    @property
    def enabled(self) -> bool:
        cb = self.cfg.notify.central_bank
        return cb.enabled and cb.daily_report_at is not None

    def start(self) -> None:
        if self.enabled:
            self.start_thread()

    def stop(self) -> None:
        self.stop_thread(STOP_WAIT_S)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step(self.clock())
            except Exception:  # the database hiccuped; keep the reporter alive and look again
                self.counters.inc("report_errors_total", reason="reporter")
                log.exception("daily report step failed; retrying")
            self.wake.wait(self.idle_s)
            self.wake.clear()

    def period(self, now_ns: int) -> tuple[int, int, int]:
        """(due_ns, start_ns, end_ns) of the latest daily report due at or before ``now_ns``: the
        previous local day (facility timezone), sent at ``daily_report_at`` local time."""
        tz = ZoneInfo(self.cfg.timezone)
        local = datetime.fromtimestamp(now_ns / NS, tz)
        hh, mm = (
            int(x) for x in (self.cfg.notify.central_bank.daily_report_at or "00:00").split(":")
        )
        due = local.replace(hour=hh, minute=mm, second=0, microsecond=0)
        if local < due:
            due -= timedelta(days=1)
        day_end = due.replace(hour=0, minute=0)
        day_start = day_end - timedelta(
            days=1
        )  # wall-clock arithmetic: a DST day is 23 or 25 h long
        return (
            int(due.timestamp()) * NS,
            int(day_start.timestamp()) * NS,
            int(day_end.timestamp()) * NS,
        )

    def _key(self, start_ns: int, end_ns: int) -> str:
        return reg.idempotency_key(self.cfg.facility.id, "daily_report", start_ns, end_ns)

    def step(self, now_ns: int) -> int | None:
        """Build and queue the latest report that is due and not yet queued (also after downtime); a
        failing source is counted, logged and tried again ``RETRY_S`` later. The outbox id, or None.
        """
        if not self.enabled:
            return None
        _, start, end = self.period(now_ns)
        if self._period != (start, end):
            self._period, self._failures, self._retry_at_ns = (start, end), 0, 0
        if now_ns < self._retry_at_ns or self.outbox.has_key(
            reg.DESTINATION, self._key(start, end)
        ):
            return None
        content = self._content(start, end, now_ns)
        if content is None:
            return None
        return self.queue(start, end, content, self.clock())

    def _content(self, start_ns: int, end_ns: int, now_ns: int) -> dict[str, Any] | None:
        """The report dict, or None when the source failed and is to be tried again later."""
        if self.source is None:
            return self.ledger_summary(start_ns, end_ns)
        try:
            return self.source(start_ns, end_ns)
        except Exception as exc:
            self._failures += 1
            self.counters.inc("report_errors_total", reason=type(exc).__name__)
            if self._failures < ATTEMPTS:
                self._retry_at_ns = now_ns + int(RETRY_S * NS)
                log.exception(
                    "daily report source failed (attempt %d of %d); trying again in %.0f s",
                    self._failures,
                    ATTEMPTS,
                    RETRY_S,
                )
                return None
            log.exception(
                "daily report source failed %d times; sending what the ledger holds instead",
                ATTEMPTS,
            )
            return {
                **self.ledger_summary(start_ns, end_ns),
                "report_error": f"{type(exc).__name__}: {exc}",
            }

    def queue(self, start_ns: int, end_ns: int, content: dict[str, Any], now_ns: int) -> int | None:
        """Ledger (``report.issued``) and queue the report for [start, end) in one transaction,
        unless a report for that period is already queued (then None): never twice, whoever built
        it."""
        with immediate(self.ledger.conn()) as conn:
            if self.outbox.has_key(reg.DESTINATION, self._key(start_ns, end_ns), conn=conn):
                self.counters.inc("duplicates_dropped_total", reason=reg.DESTINATION)
                return None
            digest = hashlib.sha256(canonical_json(content)).hexdigest()
            issued = self.ledger.append(
                "report.issued",
                {"from_ns": start_ns, "to_ns": end_ns, "sha256": digest, "kind": "daily_report"},
                at_ns=now_ns,
                actor=ACTOR,
                subject=self.cfg.facility.id,
                conn=conn,
            )
            msg = reg.report_message(
                self.cfg,
                content,
                start_ns=start_ns,
                end_ns=end_ns,
                now_ns=now_ns,
                head=self.ledger.head(conn),
            ).model_copy(update={"source_entry": issued.seq})
            oid = self.enqueue(conn, msg)
        self.after_commit()
        return oid

    def ledger_summary(self, start_ns: int, end_ns: int) -> dict[str, Any]:
        """What the ledger alone says about a period: breaches opened and hourly records. Used when
        no analyzer report is available, so the daily report is never skipped."""
        breaches: list[dict[str, Any]] = []
        hourly: list[Any] = []
        rows = (
            self.ledger.conn()
            .execute(
                "SELECT kind, payload FROM ledger WHERE at_ns >= ? AND at_ns < ? AND kind IN "
                "('alert.transition', 'hourly.record') ORDER BY seq",
                (start_ns, end_ns),
            )
            .fetchall()
        )
        for kind, text in rows:
            p = orjson.loads(text)
            if kind == "hourly.record":
                hourly.append(p)
            elif p.get("to_state") == "firing":
                breaches.append(
                    {
                        k: p.get(k)
                        for k in (
                            "alert_id",
                            "rule_id",
                            "rule_title",
                            "severity",
                            "family",
                            "subject",
                            "value",
                            "threshold",
                            "unit",
                            "regulator_notifiable",
                        )
                    }
                )
        return {"source": "ledger", "breaches": breaches, "hourly_records": hourly}
