"""Fixed-rate schedules with a deterministic per-device phase, and missed-poll accounting."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

from minewatch.counters import Counters


def phase(name: str, interval_s: float, jitter: float) -> float:
    """Start offset in [0, jitter × interval): thousands of miners on the same interval do not all
    connect in the same millisecond, and the same device keeps its phase across restarts."""
    return random.Random(name).random() * jitter * interval_s


async def run_every(name: str, interval_s: float, jitter: float, job: Callable[[], Awaitable[None]],
                    stopping: asyncio.Event, counters: Counters, kind: str) -> None:
    """Call ``job`` at ``start + phase + k × interval``. A poll that overruns its slot skips the slots
    it overlapped (counted as ``missed_polls_total``) instead of piling up behind itself."""
    next_at = time.monotonic() + phase(name, interval_s, jitter)
    while not stopping.is_set():
        delay = next_at - time.monotonic()
        if delay > 0:
            try:
                await asyncio.wait_for(stopping.wait(), delay)
                return
            except asyncio.TimeoutError:
                pass
        counters.inc("polls_total", reason=kind)
        await job()
        next_at += interval_s
        now = time.monotonic()
        if now > next_at:
            skipped = int((now - next_at) // interval_s) + 1
            counters.inc("missed_polls_total", skipped, reason=kind)
            next_at += skipped * interval_s
