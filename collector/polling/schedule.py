"""Fixed-rate schedules with a deterministic per-device phase, and missed-poll accounting."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

from minewatch.counters import Counters


def phase(name: str, interval_s: float, jitter: float) -> float:
    """Start offset in [0, jitter x interval): thousands of miners on the same interval do not all
    connect in the same second, and the same device keeps its phase across restarts."""
    return random.Random(name).random() * jitter * interval_s


async def run_every(
    name: str,
    interval_s: float,
    jitter: float,
    job: Callable[[], Awaitable[None]],
    counters: Counters,
    kind: str,
) -> None:
    """Call ``job`` at ``start + phase + k x interval``. A poll that overruns its slot skips the
    slots it overlapped (counted as ``missed_polls_total``) instead of piling up behind itself; a
    poll that starts more than a tenth of its interval late (a saturated loop) is counted as
    ``late_polls_total``. Runs until its task is cancelled."""
    next_at = time.monotonic() + phase(name, interval_s, jitter)
    while True:
        delay = next_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
            continue
        if time.monotonic() - next_at > interval_s / 10:
            counters.inc("late_polls_total", reason=kind)
        counters.inc("polls_total", reason=kind)
        await job()
        next_at += interval_s
        now = time.monotonic()
        if now > next_at:
            skipped = int((now - next_at) // interval_s) + 1
            counters.inc("missed_polls_total", skipped, reason=kind)
            next_at += skipped * interval_s
