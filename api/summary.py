"""The facility summary that ``/api/v1/facility`` and the live page share (a ``Shared`` value,
``minewatch.api.shared``): served for at most ``ctx.summary_ttl_s`` (1 s) and refreshed past half
of that, so however many clients poll, the store computes it about once a bound.
"""

from __future__ import annotations

from typing import Any

from minewatch.api.context import ApiContext
from minewatch.api.facility import active_alerts, counts_at, facility_summary
from minewatch.api.shared import Shared


def shared_summary(ctx: ApiContext) -> Shared[dict[str, Any]]:
    """The one per context (a test's dependency override gets its own)."""
    shared: Shared[dict[str, Any]] = ctx.cache.setdefault("summary", Shared("facility summary"))
    return shared


def current_summary(ctx: ApiContext) -> dict[str, Any]:
    """The facility summary, at most ``ctx.summary_ttl_s`` old."""

    def compute() -> dict[str, Any]:
        now = ctx.clock()
        return facility_summary(ctx, now, active_alerts(ctx), counts_at(ctx, now))

    ttl = ctx.summary_ttl_s
    return shared_summary(ctx).get(compute, refresh_after_s=ttl / 2, max_age_s=ttl)
