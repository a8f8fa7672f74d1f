"""The facility summary that ``/api/v1/facility`` and the live page share.

It is served to every request for at most ``ctx.summary_ttl_s`` (1 s), counted from the moment its
computation started (its ``as_of``): however many clients poll, the store computes it about once a
bound. A request that finds it past half its bound starts the next computation in the background and
still gets the current one, so clients polling faster than that never wait for the store; a request
that finds it past the bound computes it, and requests arriving meanwhile wait and share the result.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from minewatch.api.context import ApiContext
from minewatch.api.facility import active_alerts, counts_at, facility_summary

log = logging.getLogger(__name__)


class SharedSummary:
    def __init__(self) -> None:
        #: Held by whoever computes, a request or the background refresh.
        self._computing = threading.Lock()
        #: (monotonic time its computation started, summary), read and replaced as one.
        self._current: tuple[float, dict[str, Any]] | None = None

    def get(self, ctx: ApiContext) -> dict[str, Any]:
        current = self._current
        if current is not None:
            age = time.monotonic() - current[0]
            if age < ctx.summary_ttl_s:
                if age >= ctx.summary_ttl_s / 2:
                    self._refresh_in_background(ctx)
                return current[1]
        with self._computing:
            current = self._current
            if current is not None and time.monotonic() - current[0] < ctx.summary_ttl_s:
                return current[1]  # computed while this request waited
            return self._compute(ctx)

    def put(self, started: float, summary: dict[str, Any]) -> None:
        """A summary computed elsewhere (the live snapshot, from the page's own alert list), whose
        computation started at ``started`` (monotonic); the newer of the two is kept."""
        current = self._current
        if current is None or started >= current[0]:
            self._current = (started, summary)

    def _compute(self, ctx: ApiContext) -> dict[str, Any]:
        started, now = time.monotonic(), ctx.clock()
        summary = facility_summary(ctx, now, active_alerts(ctx), counts_at(ctx, now))
        self.put(started, summary)
        return summary

    def _refresh_in_background(self, ctx: ApiContext) -> None:
        if not self._computing.acquire(blocking=False):
            return  # a computation is already under way

        def run() -> None:
            try:
                self._compute(ctx)
            except Exception as exc:  # the first request past the bound computes and reports it
                log.warning("facility summary refresh failed: %s", exc)
            finally:
                self._computing.release()

        try:
            threading.Thread(target=run, name="summary-refresh", daemon=True).start()
        except RuntimeError:  # no thread to be had: the next request past the bound computes
            self._computing.release()


def shared_summary(ctx: ApiContext) -> SharedSummary:
    """The one per context (a test's dependency override gets its own)."""
    shared: SharedSummary = ctx.cache.setdefault("summary", SharedSummary())
    return shared


def current_summary(ctx: ApiContext) -> dict[str, Any]:
    """The facility summary, at most ``ctx.summary_ttl_s`` old."""
    return shared_summary(ctx).get(ctx)
