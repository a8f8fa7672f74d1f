"""The central-bank channel as the operator needs to see it: is it on, is anything stuck, when did
the regulator last receive a message, and which ledger head it holds.

Read from the notifier's outbox and the ledger in the shared state database, so ``serve`` (which
only queues) shows what the delivering process (``run``/``demo``/``notify``) achieved.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from minewatch.api.context import ApiContext
from minewatch.notifier.outbox import Outbox
from minewatch.notifier.regulator import DESTINATION
from minewatch.readable import rfc3339


def _outbox(ctx: ApiContext) -> Outbox:
    """The notifier's outbox, opened once per app."""
    outbox = ctx.cache.get("outbox")
    if outbox is None:
        outbox = ctx.cache["outbox"] = Outbox(ctx.cfg.state_db)
    return outbox


def regulator_channel(ctx: ApiContext) -> dict[str, Any]:
    """Messages queued, delivered and dead; the last delivery; the oldest message still waiting and
    why; the ledger head (what the next message will carry)."""
    cb = ctx.cfg.notify.central_bank
    head = ctx.ledger().head()
    outbox = _outbox(ctx)
    counts = outbox.counts().get(DESTINATION, {})
    out: dict[str, Any] = {
        "enabled": cb.enabled,
        "endpoint": urlsplit(cb.url).netloc if cb.url else None,
        "ledger_head": {"seq": head.seq, "hash": head.hash},
        "queued": counts.get("pending", 0),
        "delivered": counts.get("delivered", 0),
        "dead": counts.get("dead", 0),
        "last_delivered": None,
        "oldest_queued": None,
    }
    last = outbox.messages(destination=DESTINATION, status="delivered", limit=1)
    if last:
        attempts = outbox.log(last[0].id)
        out["last_delivered"] = {
            "kind": last[0].kind,
            "message_id": last[0].message_id,
            "at": rfc3339(attempts[-1]["started_ns"] if attempts else None),
        }
    waiting = outbox.head(DESTINATION)
    if waiting is not None:
        out["oldest_queued"] = {
            "kind": waiting.kind,
            "since": rfc3339(waiting.created_ns),
            "attempts": waiting.attempts,
            "last_error": waiting.last_error,
        }
    return out
