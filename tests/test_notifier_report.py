"""The daily report is built off the processing thread: a slow report never holds a breach back, is
queued exactly once (also across restarts), and a failing report source is retried, never fatal."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from minewatch.events import EventBus
from minewatch.notifier import daily_report
from minewatch.notifier.service import Notifier
from tests.support.notify import (
    ReceiverServer,
    facility_config,
    fast_backoff,
    running,
    transition,
    wait_until,
)

NS = 10**9
#: 2026-03-10 07:00 in Ashgabat: the report for 2026-03-09 has been due since 06:00
NOW = 1_773_108_000 * NS


def _cfg(tmp_path: Path, receiver_url: str, key_dir: Path, report_at: str = "06:00") -> Any:
    return facility_config(
        tmp_path,
        notify={
            "poll_interval_s": 0.05,
            "central_bank": {
                "enabled": True,
                "url": receiver_url,
                "key_dir": str(key_dir),
                "backoff": fast_backoff(),
                "heartbeat_interval_s": 3600,
                "daily_report_at": report_at,
                "timeout_s": 2,
            },
        },
    )


class BlockingSource:
    """A report source that takes as long as the test says: it blocks until ``release`` is set."""

    def __init__(self) -> None:
        self.building = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def __call__(self, start_ns: int, end_ns: int) -> dict[str, Any]:
        self.calls += 1
        self.building.set()
        assert self.release.wait(30), "test never released the report"
        return {"energy_kwh": 1234.5, "period": [start_ns, end_ns]}


def _fire_alarm() -> Any:
    return transition("FS-01", "firing", family="fire", subject="panel-1", value=1.0)


def test_breach_reaches_the_regulator_while_the_report_is_still_building(
    tmp_path: Path, receiver: ReceiverServer, key_dir: Path
) -> None:
    source = BlockingSource()
    bus = EventBus()
    n = Notifier(_cfg(tmp_path, receiver.url, key_dir), bus, report_source=source)
    with running(n):
        assert source.building.wait(20), "the daily report (due since 06:00) was not started"
        bus.publish(_fire_alarm())
        (breach,) = wait_until(
            lambda: receiver.received("breach_opened"), what="breach_opened at the receiver"
        )
        assert breach["body"]["breach"]["rule"]["id"] == "FS-01"
        # the report is still being built: nothing of it queued or sent yet
        assert not source.release.is_set() and receiver.received("daily_report") == []
        assert all(m.kind != "daily_report" for m in n.outbox.messages("central_bank"))
        source.release.set()
        (report,) = wait_until(
            lambda: receiver.received("daily_report"), what="daily report at the receiver"
        )
        assert report["body"]["report"]["content"]["energy_kwh"] == 1234.5
        wait_until(
            lambda: n.outbox.counts()["central_bank"].get("pending", 0) == 0, what="outbox drained"
        )
    assert source.calls == 1
    assert len([e for e in n.ledger.entries() if e.kind == "report.issued"]) == 1

    # a restart the same day: the report is in the outbox, so it is neither built nor sent again
    again = BlockingSource()
    again.release.set()
    n2 = Notifier(_cfg(tmp_path, receiver.url, key_dir), EventBus(), report_source=again)
    with running(n2):
        n2.reporter.step(n2.clock())
    assert again.calls == 0 and len(receiver.received("daily_report")) == 1


def test_report_abandoned_at_stop_is_built_after_restart_and_queued_once(
    tmp_path: Path, receiver: ReceiverServer, key_dir: Path
) -> None:
    cfg = _cfg(tmp_path, receiver.url, key_dir)
    stuck = BlockingSource()
    first = Notifier(cfg, EventBus(), report_source=stuck)
    with running(first):
        assert stuck.building.wait(20)
        abandoned = first.reporter._thread
    assert abandoned is not None and abandoned.is_alive()  # stop() did not wait for the slow build
    # the process "died" while building: nothing queued; the next start builds the report
    assert all(m.kind != "daily_report" for m in first.outbox.messages("central_bank"))
    fresh = BlockingSource()
    fresh.release.set()
    second = Notifier(cfg, EventBus(), report_source=fresh)
    with running(second):
        wait_until(lambda: receiver.received("daily_report"), what="daily report after restart")
        stuck.release.set()  # the abandoned build finishes late: it must not queue a second report
        abandoned.join(10)
        assert not abandoned.is_alive()
        assert first.counters.get("duplicates_dropped_total", "central_bank") == 1
    assert fresh.calls == 1 and len(receiver.received("daily_report")) == 1
    assert len([e for e in second.ledger.entries() if e.kind == "report.issued"]) == 1


def test_failing_report_source_is_counted_retried_later_and_never_kills_the_thread(
    tmp_path: Path, receiver: ReceiverServer, key_dir: Path
) -> None:
    calls: list[int] = []

    def flaky(start_ns: int, end_ns: int) -> dict[str, Any]:
        calls.append(start_ns)
        if len(calls) <= 2:
            raise ConnectionError("influxdb unreachable")
        return {"energy_kwh": 7.0}

    bus = EventBus()
    # the report hour 12 h away from now, so the retries stepped below never cross it into the
    # next day's report (with 06:00 the test failed when run within RETRY_S before 06:00 local)
    tz = ZoneInfo(_cfg(tmp_path, receiver.url, key_dir).timezone)
    report_at = (datetime.now(tz) + timedelta(hours=12)).strftime("%H:00")
    n = Notifier(_cfg(tmp_path, receiver.url, key_dir, report_at), bus, report_source=flaky)
    with running(n):
        wait_until(lambda: calls, what="first report attempt")
        bus.publish(_fire_alarm())
        wait_until(
            lambda: receiver.received("breach_opened"), what="breach despite the failing report"
        )
        assert n.reporter._thread is not None and n.reporter._thread.is_alive()
        assert len(calls) == 1  # not hammered: the next try is RETRY_S later
        assert n.counters.get("report_errors_total", "ConnectionError") == 1
    # the retry schedule, step by step: RETRY_S after the failed attempt
    retry = int(daily_report.RETRY_S * NS)
    due_again = n.reporter._retry_at_ns
    assert n.reporter.step(due_again - NS) is None and len(calls) == 1
    assert n.reporter.step(due_again) is None and len(calls) == 2  # fails again, counted again
    assert n.counters.get("report_errors_total", "ConnectionError") == 2
    assert n.reporter.step(due_again + retry - NS) is None and len(calls) == 2
    assert n.reporter.step(due_again + retry) is not None and len(calls) == 3
    (msg,) = [m for m in n.outbox.messages("central_bank") if m.kind == "daily_report"]
    assert b'"energy_kwh":7.0' in msg.body


def test_report_source_that_keeps_failing_gives_the_ledger_summary_saying_why(
    tmp_path: Path, key_dir: Path
) -> None:
    def broken(start_ns: int, end_ns: int) -> dict[str, Any]:
        raise RuntimeError("the analyzer is not running in this process")

    n = Notifier(
        _cfg(tmp_path, "http://127.0.0.1:9/v1/messages", key_dir),
        None,
        report_source=broken,
        deliver=False,
    )
    retry = int(daily_report.RETRY_S * NS)
    for i in range(daily_report.ATTEMPTS - 1):
        assert n.reporter.step(NOW + i * retry) is None
    assert n.reporter.step(NOW + (daily_report.ATTEMPTS - 1) * retry) is not None
    (msg,) = n.outbox.messages("central_bank")
    assert msg.kind == "daily_report" and b"the analyzer is not running in this process" in msg.body
    assert b'"source":"ledger"' in msg.body
    assert n.counters.get("report_errors_total") == daily_report.ATTEMPTS
