"""``/api/v1/live``: the hub's snapshots over Server-Sent Events, one every ``live_interval_s``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import anyio
from fastapi import APIRouter, Depends
from fastapi.sse import EventSourceResponse, ServerSentEvent

from minewatch.api.dependencies import Hub, any_role

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["live"])


@router.get("/live", response_class=EventSourceResponse, dependencies=[Depends(any_role)])
async def live(hub: Hub) -> AsyncIterator[ServerSentEvent]:
    """``snapshot`` events (facility summary, hottest rigs, active alerts, power trend, central-bank
    channel) every ``live_interval_s``; an ``error`` event when the store cannot answer (the stream
    stays open)."""
    hub.clients += 1
    try:
        while not hub.closed.is_set():
            try:
                snap = await anyio.to_thread.run_sync(hub.snapshot)
                yield ServerSentEvent(data=snap, event="snapshot", id=str(snap["seq"]), retry=3000)
            except (
                Exception
            ) as exc:  # the page shows it and keeps the stream; the next tick retries
                hub.errors += 1
                log.warning("live snapshot failed: %s", exc)
                yield ServerSentEvent(
                    data={"message": f"live data unavailable: {exc}"}, event="error"
                )
            await hub.pause(hub.ctx.live_interval_s)
    finally:
        hub.clients -= 1
