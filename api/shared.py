"""A value shared by every request and refreshed in the background (the facility summary,
``minewatch.api.summary``; the live page's power trend, ``minewatch.api.live``).

A ``Shared`` value is dated by the moment its computation started. Past ``refresh_after_s`` a caller
still gets the current value and starts the next computation in a background thread, so callers
never wait for the store while refreshes keep up; past ``max_age_s`` (or before there is one) the
caller computes it, and callers arriving meanwhile wait and share the result.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Shared(Generic[T]):
    def __init__(self, name: str) -> None:
        #: Named in the log when a background refresh fails.
        self.name = name
        #: Held by whoever computes, a caller or the background refresh.
        self._computing = threading.Lock()
        #: (monotonic time its computation started, value), read and replaced as one.
        self._current: tuple[float, T] | None = None

    def get(self, compute: Callable[[], T], refresh_after_s: float, max_age_s: float) -> T:
        current = self._current
        if current is not None:
            age = time.monotonic() - current[0]
            if age < max_age_s:
                if age >= refresh_after_s:
                    self._refresh_in_background(compute)
                return current[1]
        with self._computing:
            current = self._current
            if current is not None and time.monotonic() - current[0] < max_age_s:
                return current[1]  # computed while this caller waited
            return self._compute(compute)

    def peek(self) -> T | None:
        """The current value however old, without computing (what an incremental refresh builds
        on)."""
        current = self._current
        return None if current is None else current[1]

    def put(self, started: float, value: T) -> None:
        """A value computed elsewhere (the live snapshot's summary, from the page's own alert list),
        whose computation started at ``started`` (monotonic); the newer of the two is kept."""
        current = self._current
        if current is None or started >= current[0]:
            self._current = (started, value)

    def _compute(self, compute: Callable[[], T]) -> T:
        started = time.monotonic()
        value = compute()
        self.put(started, value)
        return value

    def _refresh_in_background(self, compute: Callable[[], T]) -> None:
        if not self._computing.acquire(blocking=False):
            return  # a computation is already under way

        def run() -> None:
            try:
                self._compute(compute)
            except Exception as exc:  # the first caller past max_age_s computes and reports it
                log.warning("%s refresh failed: %s", self.name, exc)
            finally:
                self._computing.release()

        try:
            _REFRESHERS.submit(run)
        except RuntimeError:  # the interpreter is shutting down: the next caller computes
            self._computing.release()


#: Long-lived threads for the refreshes: the store keeps a connection (and its page cache) per
#: thread, so a new thread per refresh read the trend through a cold cache (twice the CPU at 30,000
#: rigs, docs/benchmarks-api.md). More than one, so a refresh stuck on the store does not hold up
#: the other values' refreshes.
_REFRESHERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="shared-refresh")
