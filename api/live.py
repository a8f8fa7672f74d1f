"""The live snapshot behind the page (streamed by ``minewatch.api.routes.live``).

One ``LiveHub`` per app computes the snapshot at most once per interval whatever the number of open
pages, so ten operators watching cost the store what one does. The power trend (a store range query
over every rig when there is no revenue meter) is refreshed less often than the rest. The facility
summary inside it is shared with ``/api/v1/facility`` (``minewatch.api.summary``).
"""

from __future__ import annotations

import asyncio
import threading
import time
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
from minewatch.api.summary import shared_summary
from minewatch.readable import rfc3339
from minewatch.sample import NS_PER_S

TREND_WINDOW_NS = 30 * 60 * NS_PER_S
TREND_STEP_NS = 30 * NS_PER_S
TREND_REFRESH_S = 15.0
#: The page lists at most this many active alerts; the count beside it is exact.
ALERTS_SHOWN = 50


class LiveHub:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._snap: dict[str, Any] | None = None
        self._snap_at = 0.0
        self._trend: dict[str, Any] | None = None
        self._trend_at = 0.0
        self._trend_read_from = 0
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
            if self._trend is None or time.monotonic() - self._trend_at > TREND_REFRESH_S:
                self._trend = self._refresh_trend(counts, now)
                self._trend_at = time.monotonic()
            self._seq += 1
            self._snap = {
                "seq": self._seq,
                "summary": summary,
                "hottest": hottest_rigs(ctx, now, 10),
                "alerts": None if alerts is None else [_slim(a) for a in alerts[:ALERTS_SHOWN]],
                "fire": fire_alarms(ctx, alerts),
                "trend": self._trend,
                "regulator": regulator_channel(ctx),
                "server_time": rfc3339(now),
            }
            self._snap_at = time.monotonic()
            return self._snap

    def _refresh_trend(self, counts: pd.DataFrame, now: int) -> dict[str, Any]:
        """The last 30 minutes of facility power. After the first full read only the buckets since
        the previous refresh are read again (at 30,000 rigs the full read is the costly part)."""
        start = now - TREND_WINDOW_NS
        old = self._trend
        if old is not None and old["points"]:
            since = max(start, self._trend_read_from)
            source, fresh = facility_power_series(self.ctx, counts, since, now, TREND_STEP_NS)
            if source == old["source"]:
                keep = [p for p in old["points"] if start <= parse_time("trend", p[0]) < since]
                points = keep + fresh
            else:  # the meter appeared or went away: start over from the new source
                source, points = facility_power_series(self.ctx, counts, start, now, TREND_STEP_NS)
        else:
            source, points = facility_power_series(self.ctx, counts, start, now, TREND_STEP_NS)
        # the newest bucket is still filling: the next refresh reads it again
        self._trend_read_from = (now // TREND_STEP_NS) * TREND_STEP_NS
        return {"source": source, "step": format_step(TREND_STEP_NS), "points": points}

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
