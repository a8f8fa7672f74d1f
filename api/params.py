"""Parsing and formatting of the API's parameters: RFC 3339 times, steps like ``5m``, paging.

Every parser raises ``BadParameter`` naming the parameter, so each route states its checks in one
line.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Path

from minewatch.api.errors import BadParameter
from minewatch.readable import rfc3339
from minewatch.sample import NS_PER_S

_STEP_RE = re.compile(r"^([0-9]{1,15})(ms|s|m|h|d)$")
_STEP_UNIT_NS = {
    "ms": 1_000_000,
    "s": NS_PER_S,
    "m": 60 * NS_PER_S,
    "h": 3600 * NS_PER_S,
    "d": 86400 * NS_PER_S,
}
#: A query may return at most this many points; past it the client must coarsen ``step``.
MAX_POINTS = 10_000
#: Longest duration a parameter may give (``step``, ``expires_in``): longer ones are typing
#: mistakes, and their nanoseconds would overflow the stores' 64-bit integers.
MAX_DURATION_NS = 400 * 86400 * NS_PER_S
#: A stored row id (alert, silence, order): SQLite's integers are signed 64-bit, so a larger id
#: is refused here as a 400 rather than overflowing in the driver.
RowId = Annotated[int, Path(ge=1, le=2**63 - 1, description="A positive row id")]
#: Times the API accepts: from the epoch to 2200. Outside it the store's 64-bit nanoseconds (and
#: Python's datetime, for years 1 and 9999 with an offset) overflow, and no facility has data there.
MIN_TIME_NS = 0
MAX_TIME_NS = 7_258_118_400 * NS_PER_S  # 2200-01-01T00:00:00Z


_FRACTION_RE = re.compile(r"\.(\d+)")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(name: str, value: str) -> int:
    """RFC 3339 (``2026-01-05T10:00:00Z``, ``...+05:00``, fractions to the nanosecond) to UTC ns.

    A time without an offset is refused: guessing the zone is how a report ends up five hours off.
    """
    text = value.strip()
    if not text:
        raise BadParameter(
            name, "must be an RFC 3339 time such as 2026-01-05T10:00:00Z, got an empty value"
        )
    frac_ns = 0
    m = _FRACTION_RE.search(text)
    if m:
        digits = m.group(1)
        if len(digits) > 9:
            raise BadParameter(name, f"fractional seconds beyond nanoseconds in {value!r}")
        frac_ns = int(digits.ljust(9, "0"))
        text = text[: m.start()] + text[m.end() :]
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise BadParameter(
            name, f"must be an RFC 3339 time such as 2026-01-05T10:00:00Z, got {value!r}"
        ) from None
    if "T" not in text.upper() or dt.tzinfo is None:
        raise BadParameter(
            name,
            f"must be an RFC 3339 date-time with a UTC offset (e.g. Z or +05:00), got {value!r}",
        )
    try:
        ts_ns = (dt - _EPOCH) // timedelta(seconds=1) * NS_PER_S + frac_ns
    except OverflowError:  # year 1 with a positive offset falls before datetime.min
        ts_ns = MIN_TIME_NS - 1
    if not MIN_TIME_NS <= ts_ns < MAX_TIME_NS:
        raise BadParameter(
            name,
            f"must fall between 1970-01-01T00:00:00Z and 2200-01-01T00:00:00Z, got {value!r}",
        )
    return ts_ns


def parse_step(name: str, value: str) -> int:
    """``500ms``, ``60s``, ``5m``, ``1h``, ``1d`` to ns."""
    m = _STEP_RE.match(value.strip())
    if not m or int(m.group(1)) == 0:
        raise BadParameter(
            name, f"must be a positive duration like 60s, 5m, 1h or 1d, got {value[:40]!r}"
        )
    step_ns = int(m.group(1)) * _STEP_UNIT_NS[m.group(2)]
    if step_ns > MAX_DURATION_NS:
        raise BadParameter(name, f"at most {format_step(MAX_DURATION_NS)}, got {value[:40]!r}")
    return step_ns


def format_step(step_ns: int) -> str:
    for unit in ("d", "h", "m", "s", "ms"):
        if step_ns % _STEP_UNIT_NS[unit] == 0:
            return f"{step_ns // _STEP_UNIT_NS[unit]}{unit}"
    return f"{step_ns}ns"


def time_range(
    start: str | None,
    end: str | None,
    now_ns: int,
    default_span_ns: int,
    max_span_ns: int | None = None,
) -> tuple[int, int]:
    """``[start, end)`` from optional RFC 3339 strings; end defaults to now, start to end - span."""
    end_ns = parse_time("end", end) if end is not None else now_ns
    start_ns = parse_time("start", start) if start is not None else end_ns - default_span_ns
    if start_ns >= end_ns:
        raise BadParameter(
            "start", f"must be before end ({rfc3339(start_ns)} is not before {rfc3339(end_ns)})"
        )
    if max_span_ns is not None and end_ns - start_ns > max_span_ns:
        raise BadParameter("start", f"range longer than the allowed {format_step(max_span_ns)}")
    return start_ns, end_ns


def check_points(start_ns: int, end_ns: int, step_ns: int, what: str = "step") -> None:
    """Refuse a bucketed query that would return more than ``MAX_POINTS`` points per series."""
    points = -(-(end_ns - start_ns) // step_ns)
    if points > MAX_POINTS:
        raise BadParameter(
            what,
            f"too many points: {points} buckets of {format_step(step_ns)} in the range, "
            f"at most {MAX_POINTS}; "
            f"use a step of at least {format_step(suggest_step(start_ns, end_ns))}",
        )


def suggest_step(start_ns: int, end_ns: int) -> int:
    """The smallest friendly step (whole s, m, h or d) that keeps the range within
    ``MAX_POINTS``."""
    return _round_up_step(-(-(end_ns - start_ns) // MAX_POINTS))


def _round_up_step(step_ns: int) -> int:
    """A friendly step at least ``step_ns`` long (whole seconds, minutes or hours)."""
    for unit in ("s", "m", "h", "d"):
        size = _STEP_UNIT_NS[unit]
        if step_ns <= 60 * size or unit == "d":
            return -(-step_ns // size) * size
    return step_ns
