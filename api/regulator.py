"""The central-bank channel as the operator needs to see it: is it on, is anything stuck, when did
the
regulator last receive a message, and which ledger head it holds.

Read from the notifier's outbox and the ledger in the shared state database, so ``serve`` (which
only
queues) shows what the delivering process (``run``/``demo``/``notify``) achieved.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from minewatch.api.context import ApiContext
from minewatch.api.params import rfc3339
from minewatch.ledger import Ledger


def _outbox(ctx: ApiContext) -> tuple[Any, str] | None:
    """The notifier's outbox and the regulator's destination name in it (None when the notifier is
    not
    installed); opened once per app."""
    if "outbox" not in ctx.cache:
        try:
            from minewatch.notifier.outbox import Outbox
            from minewatch.notifier.regulator import DESTINATION
        except ModuleNotFoundError:
            ctx.cache["outbox"] = None
        else:
            ctx.cache["outbox"] = (Outbox(ctx.cfg.state_db), DESTINATION)
    return ctx.cache["outbox"]


def regulator_channel(ctx: ApiContext) -> dict[str, Any]:
    """Messages queued, delivered and dead; the last delivery; the oldest message still waiting and
    why;
    the ledger head (what the next message will carry)."""
    cb = ctx.cfg.notify.central_bank
    if "ledger" not in ctx.cache:
        ctx.cache["ledger"] = Ledger(ctx.cfg.state_db)
    head = ctx.cache["ledger"].head()
    out: dict[str, Any] = {
        "enabled": cb.enabled,
        "endpoint": urlsplit(cb.url).netloc if cb.url else None,
        "ledger_head": {"seq": head.seq, "hash": head.hash},
        "queued": 0,
        "delivered": 0,
        "dead": 0,
        "last_delivered": None,
        "oldest_queued": None,
    }
    found = _outbox(ctx)
    if found is None:
        return out
    outbox, dest = found
    counts = outbox.counts().get(dest, {})
    out.update(
        queued=counts.get("pending", 0),
        delivered=counts.get("delivered", 0),
        dead=counts.get("dead", 0),
    )
    last = outbox.messages(destination=dest, status="delivered", limit=1)
    if last:
        attempts = outbox.log(last[0].id)
        out["last_delivered"] = {
            "kind": last[0].kind,
            "message_id": last[0].message_id,
            "at": rfc3339(attempts[-1]["started_ns"] if attempts else None),
        }
    waiting = outbox.head(dest)
    if waiting is not None:
        out["oldest_queued"] = {
            "kind": waiting.kind,
            "since": rfc3339(waiting.created_ns),
            "attempts": waiting.attempts,
            "last_error": waiting.last_error,
        }
    return out
