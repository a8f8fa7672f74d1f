"""The regulator channel's own chain: every message to the central bank takes the next sequence
number and links to the previous message's body, and its queueing is a ledger entry.

So nothing can vanish unseen. The bank sees a missing number (a message deleted from the outbox), a
repeated one or a broken ``prev_sha256`` link (a message rewritten); ``audit verify`` finds the same
locally, because each outbox row must match the ``message.queued`` (or ``message.refused``) entry
the ledger holds for its sequence number, and the ledger is hash-chained and anchored at the bank.
The sequence comes from the ledger, not the outbox: deleting the newest row cannot make its number
free again.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass

from minewatch.ledger import Ledger, Problem
from minewatch.notifier.outbox import Outbox
from minewatch.notifier.regulator import NO_PREVIOUS

QUEUED = "message.queued"
REFUSED = "message.refused"
ACTOR = "notifier"


@dataclass(frozen=True, slots=True)
class Link:
    """Where the next message of a destination goes: its sequence number and predecessor's hash."""

    sequence: int
    prev_sha256: str


def next_link(ledger: Ledger, destination: str, conn: sqlite3.Connection) -> Link:
    """The next free place in ``destination``'s chain, read inside the caller's transaction."""
    last = ledger.last_of(QUEUED, destination, conn)
    if last is None:
        return Link(1, NO_PREVIOUS)
    return Link(int(last.payload["sequence"]) + 1, str(last.payload["body_sha256"]))


def record_queued(
    ledger: Ledger,
    conn: sqlite3.Connection,
    *,
    destination: str,
    sequence: int,
    kind: str,
    message_id: str,
    body: bytes,
    source_entry: int | None,
    at_ns: int,
) -> None:
    """The ledger's copy of what was queued: the row can be checked against it ever after."""
    ledger.append(
        QUEUED,
        {
            "sequence": sequence,
            "kind": kind,
            "message_id": message_id,
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "source_entry": source_entry,
        },
        at_ns=at_ns,
        actor=ACTOR,
        subject=destination,
        conn=conn,
    )


def verify_outbox(ledger: Ledger, outbox: Outbox, destination: str) -> list[Problem]:
    """Every sequence number the ledger says was queued must be in the outbox with the body whose
    hash was ledgered (or, once refused, its stand-in's), gap-free from 1; and the outbox must hold
    nothing the ledger does not know."""
    expected: dict[int, tuple[str, int]] = {}  # sequence -> (body hash, ledger entry)
    problems: list[Problem] = []
    for e in ledger.of_kinds((QUEUED, REFUSED), destination):
        seq = int(e.payload.get("sequence", 0))
        if e.kind == QUEUED:
            if seq != len(expected) + 1:
                problems.append(
                    Problem(
                        "outbox", e.seq, f"queued message #{seq} follows #{len(expected)} (a gap)"
                    )
                )
            expected[seq] = (str(e.payload.get("body_sha256")), e.seq)
        elif seq in expected:
            expected[seq] = (str(e.payload.get("replacement_sha256")), e.seq)
    rows = outbox.sequenced(destination)
    for seq, (digest, entry) in sorted(expected.items()):
        body = rows.get(seq)
        if body is None:
            problems.append(
                Problem("outbox", entry, f"{destination} message #{seq} deleted from the outbox")
            )
        elif hashlib.sha256(body).hexdigest() != digest:
            problems.append(
                Problem(
                    "outbox",
                    entry,
                    f"{destination} message #{seq} edited in the outbox: its body no longer "
                    "matches the hash ledgered when it was queued",
                )
            )
    head = ledger.head().seq
    for seq in sorted(set(rows) - set(expected)):
        problems.append(
            Problem(
                "outbox",
                head,
                f"{destination} message #{seq} is in the outbox but not in the ledger "
                "(inserted, or the ledger was truncated)",
            )
        )
    return problems
