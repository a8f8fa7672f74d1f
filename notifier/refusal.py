"""A message the central bank refuses as too large or invalid must not block the queue.

Delivery is strictly in order, so one refused message would hold back every later one (heartbeats
included) until its deadline: an operator could hide a breach behind an oversized comment. Instead
the refused message is replaced, in its row and so at its place in the queue and with its sequence
number, by a signed ``message_refused`` stand-in naming the refused body's hash, kind and ledger
entry and the bank's answer; the ledger records both hashes (``message.refused``), so ``audit
verify`` still accounts for every row, and the refused body stays provable on inspection.
"""

from __future__ import annotations

import hashlib
import sqlite3

from pydantic import ValidationError

from minewatch.ledger import Ledger
from minewatch.notifier import regulator as reg
from minewatch.notifier.chain import ACTOR, REFUSED
from minewatch.notifier.outbox import Message, Outbox
from minewatch.notifier.transports import Result

#: Answers that say "this message will never be taken": retrying it cannot help. 401 is not among
#: them (a key not yet registered becomes valid once it is).
REFUSED_STATUSES = frozenset({400, 413, 422})


def refusable(msg: Message, res: Result) -> bool:
    """Whether ``res`` refuses ``msg`` for good (a stand-in is never itself replaced)."""
    return (
        msg.destination == reg.DESTINATION
        and msg.kind != "message_refused"
        and res.status_code in REFUSED_STATUSES
    )


def replace_refused(
    ledger: Ledger, outbox: Outbox, msg: Message, res: Result, now_ns: int, conn: sqlite3.Connection
) -> bool:
    """Put the stand-in in ``msg``'s place, inside the caller's transaction; False when the refused
    body is not a message this facility wrote (then it keeps being retried and, at its deadline,
    dies loudly)."""
    try:
        original = reg.RegulatorMessage.model_validate_json(msg.body)
    except ValidationError:
        return False
    stand_in = reg.refused_message(
        original,
        msg.body,
        status_code=res.status_code,
        answer=res.detail,
        now_ns=now_ns,
        head=ledger.head(conn),
    )
    body = reg.encode(stand_in)
    ledger.append(
        REFUSED,
        {
            "sequence": original.sequence,
            "kind": original.kind,
            "message_id": original.message_id,
            "body_sha256": hashlib.sha256(msg.body).hexdigest(),
            "replacement_sha256": hashlib.sha256(body).hexdigest(),
            "replacement_message_id": stand_in.message_id,
            "status_code": res.status_code,
            "answer": res.detail[:500],
        },
        at_ns=now_ns,
        actor=ACTOR,
        subject=msg.destination,
        conn=conn,
    )
    outbox.replace(
        msg,
        "message_refused",
        body,
        message_id=stand_in.message_id,
        key=stand_in.idempotency_key,
        now_ns=now_ns,
        conn=conn,
    )
    return True
