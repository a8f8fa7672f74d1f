"""A value shared by every request and refreshed in the background (the facility summary,
``minewatch.api.summary``; the live page's power trend, ``minewatch.api.live``).

A ``Shared`` value is dated by the moment its computation started. Past ``refresh_after_s`` a caller
still gets the current value and starts the next computation in a background thread, so callers
never wait for the store while refreshes keep up. Past ``max_age_s`` (or before there is one) a
caller waits for the computation, which every caller arriving meanwhile shares; ``get_within``
waits at most a given time and then answers without the value, for a caller with a deadline of
its own (the live tick).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Shared(Generic[T]):
    def __init__(self, name: str) -> None:
        #: Named in the log when a background refresh fails.
        self.name = name
        #: Guards ``_pending``: one computation at a time, whoever asked for it.
        self._lock = threading.Lock()
        self._pending: Future[T] | None = None
        #: (monotonic time its computation started, value), read and replaced as one.
        self._current: tuple[float, T] | None = None

    def get(self, compute: Callable[[], T], refresh_after_s: float, max_age_s: float) -> T:
        """The value, waiting for it when there is none younger than ``max_age_s``; a failed
        computation raises here."""
        current = self._fresh(compute, refresh_after_s, max_age_s)
        return current if current is not None else self._start(compute).result()

    def get_within(
        self, compute: Callable[[], T], refresh_after_s: float, max_age_s: float, wait_s: float
    ) -> T | None:
        """As ``get``, but waits at most ``wait_s`` for a missing value and then returns None; the
        computation goes on and a later call gets it."""
        current = self._fresh(compute, refresh_after_s, max_age_s)
        if current is not None:
            return current
        try:
            return self._start(compute).result(timeout=wait_s)
        except FutureTimeout:
            return None

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

    def settle(self) -> None:
        """Waits until no computation is under way (benchmarks time a refresh to its end)."""
        pending = self._pending
        if pending is not None:
            pending.exception()

    def _fresh(
        self, compute: Callable[[], T], refresh_after_s: float, max_age_s: float
    ) -> T | None:
        current = self._current
        if current is None:
            return None
        age = time.monotonic() - current[0]
        if age >= max_age_s:
            return None
        if age >= refresh_after_s:
            self._start(compute)
        return current[1]

    def _start(self, compute: Callable[[], T]) -> Future[T]:
        """The computation under way, or a new one on a refresher thread."""
        with self._lock:
            pending = self._pending
            if pending is not None:
                return pending
            pending = self._pending = Future()
        pending.add_done_callback(self._log_failure)
        try:
            _REFRESHERS.submit(self._run, compute, pending)
        except RuntimeError:  # the interpreter is shutting down: computed by this caller
            self._run(compute, pending)
        return pending

    def _run(self, compute: Callable[[], T], pending: Future[T]) -> None:
        started = time.monotonic()
        try:
            value = compute()
        except BaseException as exc:
            with self._lock:
                self._pending = None
            pending.set_exception(exc)
            return
        self.put(started, value)
        with self._lock:
            self._pending = None
        pending.set_result(value)

    def _log_failure(self, done: Future[T]) -> None:
        """Logged once per failed computation, whether or not a caller waits for it (a background
        refresh has nobody else to tell); the next call starts another."""
        exc = done.exception()
        if exc is not None:
            log.warning("%s refresh failed: %s", self.name, exc)


#: Long-lived threads for the computations: the store keeps a connection (and its page cache) per
#: thread, so a new thread per refresh read the trend through a cold cache (twice the CPU at 30,000
#: rigs, docs/benchmarks-api.md). More than one, so a computation stuck on the store does not hold
#: up the other values'.
_REFRESHERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="shared-refresh")
