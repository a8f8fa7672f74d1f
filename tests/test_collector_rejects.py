"""Rejection bookkeeping: counted by reason, logged without flooding, raw copies bounded."""

from __future__ import annotations

import logging

import pytest

from minewatch.collector.decode import Reject
from minewatch.collector.rejects import RAW_KEEP_BYTES, RateLimitedLog, RejectTracker
from minewatch.counters import Counters


def test_rate_limited_log_bursts_then_reports_what_it_suppressed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    rl = RateLimitedLog(logging.getLogger("t"), burst=3, window_s=10, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        logged = [rl.warning("not_json", f"line {i}") for i in range(100)]
        assert logged == [True] * 3 + [False] * 97
        assert rl.warning("wrong_type", "other reason has its own budget")
        now[0] = 10.5
        assert rl.warning("not_json", "after the window")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "line 0",
        "line 1",
        "line 2",
        "other reason has its own budget",
        "after the window (97 similar line(s) suppressed)",
    ]


def test_tracker_counts_every_reject_and_keeps_bounded_raw_copies() -> None:
    counters = Counters()
    tr = RejectTracker(counters, logging.getLogger("t"), keep=3)
    for i in range(5):
        r = Reject("not_json", f"dev{i}", "", "bad")
        tr.record(r, "topic")
        tr.keep_raw(r, "topic", b"x" * (RAW_KEEP_BYTES + 10) if i == 4 else f"junk{i}".encode(), i)
    tr.record(Reject("wrong_type", "dev", "power_w", "string"), "topic")
    assert counters.snapshot()["rejected_total"] == {"not_json": 5, "wrong_type": 1}
    recent = tr.recent()
    assert [r["device"] for r in recent] == ["dev2", "dev3", "dev4"]
    assert recent[-1]["truncated"] is True and len(recent[-1]["payload"]) == RAW_KEEP_BYTES
    assert recent[-1]["size"] == RAW_KEEP_BYTES + 10


def test_binary_payload_is_kept_as_base64() -> None:
    tr = RejectTracker(Counters(), logging.getLogger("t"), keep=2)
    tr.keep_raw(Reject("not_json", "d", "", "x"), "t", b"\xff\x00\xfe", 1)
    assert tr.recent()[0]["encoding"] == "base64" and tr.recent()[0]["payload"] == "/wD+"
