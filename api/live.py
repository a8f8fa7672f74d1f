"""The live snapshot behind the page (streamed by ``minewatch.api.routes.live``).

One ``LiveHub`` per app computes the snapshot at most once per interval whatever the number of open
pages, so ten operators watching cost the store what one does. The facility summary inside it is
shared with ``/api/v1/facility`` (``minewatch.api.summary``).

The power trend (a store range query over every rig when there is no revenue meter: at 30,000 rigs
the costliest part of a tick) is refreshed every ``TREND_REFRESH_S`` in a background thread, started
by the tick that finds it due, so no tick waits for it once a trend exists: a tick serves a trend at
most ``TREND_REFRESH_S`` + one tick interval + one refresh old (about 17 s). The first tick (no
trend yet) and a tick finding it older than ``TREND_MAX_AGE_S`` (every page closed for a while, or
refreshes failing, each logged) start the read and wait for it at most ``TREND_WAIT_S``: a small
site's trend comes with that tick, a large one's with the next (``"trend": null`` meanwhile).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from minewatch.api.context import ApiContext
from minewatch.api.facility import (
    ACTIVE_LIMIT,
    active_alerts,
    counts_at,
    facility_power_series,
    facility_summary,
    hottest_rigs,
    readable,
)
from minewatch.api.params import format_step, parse_time
from minewatch.api.regulator import regulator_channel
from minewatch.api.shared import Shared
from minewatch.api.summary import shared_summary
from minewatch.readable import rfc3339
from minewatch.sample import NS_PER_S

TREND_WINDOW_NS = 30 * 60 * NS_PER_S
TREND_STEP_NS = 30 * NS_PER_S
TREND_REFRESH_S = 15.0
#: Past this a tick no longer shows the trend it has: it waits for a fresh one, up to TREND_WAIT_S.
TREND_MAX_AGE_S = 60.0
#: How long a tick without a fresh trend waits for one before it goes out with ``"trend": null``
#: (the page keeps what it drew): the whole tick stays within 100 ms at 30,000 rigs.
TREND_WAIT_S = 0.01
#: The page lists at most this many active alerts; the count beside it is exact.
ALERTS_SHOWN = 50


@dataclass(frozen=True)
class Trend:
    """One refresh's result, shared by the ticks until the next one lands."""

    #: What the page gets: source, step and points.
    payload: dict[str, Any]
    #: Start of the newest bucket read, still filling then: the next refresh reads from here.
    read_from: int


class LiveHub:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._snap: dict[str, Any] | None = None
        self._snap_at = 0.0
        self.trend: Shared[Trend] = Shared("power trend")
        self._seq = 0
        self.closed = threading.Event()
        self.clients = 0
        self.errors = 0

    def close(self) -> None:
        """Ends every open stream within a fraction of a second (the server can then stop)."""
        self.closed.set()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            if (
                self._snap is not None
                and time.monotonic() - self._snap_at < self.ctx.live_interval_s / 2
            ):
                return self._snap
            ctx = self.ctx
            started, now = time.monotonic(), ctx.clock()
            alerts = active_alerts(ctx)
            counts = counts_at(ctx, now)
            # from the same alert list as the page's: counts and list never disagree
            summary = facility_summary(ctx, now, alerts, counts)
            shared_summary(ctx).put(started, summary)
            hottest = hottest_rigs(ctx, now, 10)
            fire = fire_alarms(ctx, alerts)
            regulator = regulator_channel(ctx)
            # last: a due refresh starts here in a background thread, which would otherwise
            # share the interpreter (one GIL) with this tick's own reads
            trend = self.trend.get_within(
                lambda: self._read_trend(counts, now),
                refresh_after_s=TREND_REFRESH_S,
                max_age_s=TREND_MAX_AGE_S,
                wait_s=TREND_WAIT_S,
            )
            self._seq += 1
            self._snap = {
                "seq": self._seq,
                "summary": summary,
                "hottest": hottest,
                "alerts": None if alerts is None else [_slim(a) for a in alerts[:ALERTS_SHOWN]],
                "fire": fire,
                "trend": None if trend is None else trend.payload,
                "regulator": regulator,
                "server_time": rfc3339(now),
            }
            self._snap_at = time.monotonic()
            return self._snap

    def _read_trend(self, counts: pd.DataFrame, now: int) -> Trend:
        """The last 30 minutes of facility power. After the first full read only the buckets since
        the previous refresh are read again (at 30,000 rigs the full read is the costly part). Runs
        with the counts and clock reading of the tick that started it, in a background thread."""
        start = now - TREND_WINDOW_NS
        old = self.trend.peek()
        if old is not None and old.payload["points"]:
            since = max(start, old.read_from)
            source, fresh = facility_power_series(self.ctx, counts, since, now, TREND_STEP_NS)
            if source == old.payload["source"]:
                keep = [
                    p for p in old.payload["points"] if start <= parse_time("trend", p[0]) < since
                ]
                points = keep + fresh
            else:  # the meter appeared or went away: start over from the new source
                source, points = facility_power_series(self.ctx, counts, start, now, TREND_STEP_NS)
        else:
            source, points = facility_power_series(self.ctx, counts, start, now, TREND_STEP_NS)
        payload = {"source": source, "step": format_step(TREND_STEP_NS), "points": points}
        # the newest bucket is still filling: the next refresh reads it again
        return Trend(payload, (now // TREND_STEP_NS) * TREND_STEP_NS)

    async def pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.closed.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def stats(self) -> dict[str, Any]:
        return {"clients": self.clients, "snapshots": self._seq, "errors": self.errors}


def fire_alarms(ctx: ApiContext, active: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Firing fire-family alerts, silenced ones included: a silence mutes notifications, but the
    page's fire banner must show while the alarm lasts, whatever anyone silenced."""
    if ctx.alert_store is None or active is None:
        return []
    silenced = ctx.alert_store.list_alerts(state="suppressed", limit=ACTIVE_LIMIT)
    return [
        _slim(a)
        for a in [*active, *readable(silenced)]
        if a.get("family") == "fire" and a.get("state") in ("firing", "suppressed")
    ]


def _slim(alert: dict[str, Any]) -> dict[str, Any]:
    """An alert without its evidence points (up to 240 per alert, every 2 s, to every page); the
    page keeps the metric name and fetches the series when the operator opens the alert."""
    evidence = alert.get("evidence")
    return {
        **alert,
        "evidence": {"metric": evidence.get("metric")} if isinstance(evidence, dict) else None,
    }
