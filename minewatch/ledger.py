"""The tamper-evident ledger: an append-only, hash-chained record in state.db.

Each entry's hash is SHA-256 over the previous entry's hash and the canonical JSON of the entry (its
sequence number, time, kind, actor, subject and payload), so editing, deleting or reordering any
entry breaks the chain at that entry. A rewrite of the whole tail from some entry on is caught by
the anchors the central bank holds: every regulator message carries the head (seq, hash) at the time
it was written, an external anchor in the sense of audit trails that must not obscure prior values
(21 CFR 11.10(e)).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from minewatch.db import PerThreadConnection, immediate

GENESIS = "0" * 64
#: How far from its place a moved entry is recognised as moved (beyond: reported as edited).
REORDER_WINDOW = 1000

SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    seq       INTEGER PRIMARY KEY,
    at_ns     INTEGER NOT NULL,
    kind      TEXT    NOT NULL,
    actor     TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    payload   TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_kind ON ledger (kind, subject, seq);
"""

#: Anchors the regulator holds: (sequence number, hash) pairs. Pairs, not a dict: two different
#: hashes for one sequence number (a forked ledger) must both be checked, not one silently kept.
Anchors = Mapping[int, str] | Iterable[tuple[int, str]]


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8; NaN/inf become null. Stable across a store-and-reload."""
    return orjson.dumps(
        obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY, default=_fallback
    )


def _fallback(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, (bytes, bytearray)):
        return obj.hex()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"ledger payloads must be JSON values; got {type(obj).__name__}")


def entry_hash(
    prev_hash: str, seq: int, at_ns: int, kind: str, actor: str, subject: str, payload: Any
) -> str:
    body = canonical_json(
        {
            "seq": seq,
            "at_ns": at_ns,
            "kind": kind,
            "actor": actor,
            "subject": subject,
            "payload": payload,
        }
    )
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + body).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    at_ns: int
    kind: str
    actor: str
    subject: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at_ns": self.at_ns,
            "kind": self.kind,
            "actor": self.actor,
            "subject": self.subject,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class Problem:
    """One break in the chain: ``what`` is edited, deleted, reordered or anchor; ``seq`` the entry
    concerned."""

    what: str
    seq: int
    detail: str

    def __str__(self) -> str:
        return f"entry #{self.seq} {self.what}: {self.detail}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    entries: int
    head: Head
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


def _row_entry(row: tuple) -> Entry:
    seq, at_ns, kind, actor, subject, payload, prev_hash, h = row
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        data = {"__unparseable__": payload}
    return Entry(seq, at_ns, kind, actor, subject, data, prev_hash, h)


class Ledger(PerThreadConnection):
    """Append-only access to the ``ledger`` table. Safe across threads and processes: an append
    reads the head and writes the next entry inside one ``BEGIN IMMEDIATE`` transaction."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(path)
        self.conn().executescript(SCHEMA)

    def append(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        at_ns: int,
        actor: str = "system",
        subject: str = "",
        conn: sqlite3.Connection | None = None,
    ) -> Entry:
        """Append one entry. With ``conn`` the caller holds an open transaction (so the entry
        commits atomically with whatever else it writes); otherwise the append is its own
        transaction."""
        if conn is None:
            with immediate(self.conn()) as c:
                return self.append(kind, payload, at_ns=at_ns, actor=actor, subject=subject, conn=c)
        head = self.head(conn)
        seq = head.seq + 1
        text = canonical_json(payload).decode()
        data = orjson.loads(
            text
        )  # hash the payload as it will be read back, so verification agrees
        h = entry_hash(head.hash, seq, at_ns, kind, actor, subject, data)
        conn.execute(
            "INSERT INTO ledger (seq, at_ns, kind, actor, subject, payload, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, at_ns, kind, actor, subject, text, head.hash, h),
        )
        return Entry(seq, at_ns, kind, actor, subject, data, head.hash, h)

    def head(self, conn: sqlite3.Connection | None = None) -> Head:
        row = (
            (conn or self.conn())
            .execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1")
            .fetchone()
        )
        return Head(row[0], row[1]) if row else Head(0, GENESIS)

    def entries(
        self, after_seq: int = 0, limit: int | None = None, conn: sqlite3.Connection | None = None
    ) -> list[Entry]:
        sql = (
            "SELECT seq, at_ns, kind, actor, subject, payload, prev_hash, hash FROM ledger "
            "WHERE seq > ? ORDER BY seq"
        )
        args: list[Any] = [after_seq]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [_row_entry(r) for r in (conn or self.conn()).execute(sql, args)]

    def last_of(
        self, kind: str, subject: str, conn: sqlite3.Connection | None = None
    ) -> Entry | None:
        """The newest entry of ``kind`` about ``subject`` (indexed: cheap on a long ledger)."""
        row = (
            (conn or self.conn())
            .execute(
                "SELECT seq, at_ns, kind, actor, subject, payload, prev_hash, hash FROM ledger "
                "WHERE kind = ? AND subject = ? ORDER BY seq DESC LIMIT 1",
                (kind, subject),
            )
            .fetchone()
        )
        return _row_entry(row) if row else None

    def of_kinds(self, kinds: Iterable[str], subject: str) -> list[Entry]:
        """Every entry of these kinds about ``subject``, in ledger order."""
        names = list(kinds)
        marks = ",".join("?" * len(names))
        return [
            _row_entry(r)
            for r in self.conn().execute(
                "SELECT seq, at_ns, kind, actor, subject, payload, prev_hash, hash FROM ledger "
                f"WHERE kind IN ({marks}) AND subject = ? ORDER BY seq",
                [*names, subject],
            )
        ]

    def _iter_all(self) -> Iterator[Entry]:
        cur = self.conn().execute(
            "SELECT seq, at_ns, kind, actor, subject, payload, prev_hash, hash "
            "FROM ledger ORDER BY seq"
        )
        for row in cur:
            yield _row_entry(row)

    def verify(self, anchors: Anchors | None = None) -> VerifyReport:
        """Walk the chain from the first entry; report every break, first one first.

        ``anchors`` None means nobody outside was asked: then an empty ledger is a problem in itself
        (a ledger deleted wholesale verifies trivially otherwise). Given anchors, an empty ledger
        passes only if the regulator holds none either.

        - edited: an entry's content no longer hashes to its stored hash, or it was changed and
          re-hashed (then the next entry records a different predecessor);
        - deleted: a sequence number is missing;
        - reordered: an entry's hash checks out under another sequence number than the one it holds;
        - anchor: an entry differs from (or lacks) the hash the regulator holds for it.
        """
        problems: list[Problem] = []
        rows = list(self._iter_all())
        max_seq = rows[-1].seq if rows else 0
        expected_seq, expected_prev = 1, GENESIS
        prev_reported = False
        for e in rows:
            n_before = len(problems)
            if e.seq != expected_seq:
                last = e.seq - 1
                span = f"#{expected_seq}" if last == expected_seq else f"#{expected_seq}..#{last}"
                problems.append(
                    Problem(
                        "deleted",
                        expected_seq,
                        f"entry {span} missing; #{e.seq} follows #{expected_seq - 1}",
                    )
                )
                expected_prev = e.prev_hash  # resynchronise so one deletion is reported once
            if (
                entry_hash(e.prev_hash, e.seq, e.at_ns, e.kind, e.actor, e.subject, e.payload)
                != e.hash
            ):
                written_as = self._written_as(e, max_seq)
                if written_as is not None:
                    problems.append(
                        Problem("reordered", e.seq, f"holds the entry written as #{written_as}")
                    )
                else:
                    problems.append(Problem("edited", e.seq, "content does not match its hash"))
            elif e.prev_hash != expected_prev and e.seq > 1 and not prev_reported:
                problems.append(
                    Problem(
                        "edited",
                        e.seq - 1,
                        f"changed and re-hashed: #{e.seq} records "
                        f"predecessor {e.prev_hash[:16]}, found {expected_prev[:16]}",
                    )
                )
            prev_reported = len(problems) > n_before
            expected_prev, expected_seq = e.hash, e.seq + 1
        by_seq = {e.seq: e.hash for e in rows}
        pairs = sorted(set(anchors.items() if isinstance(anchors, Mapping) else anchors or ()))
        if not rows and anchors is None:
            problems.append(
                Problem(
                    "empty",
                    0,
                    "the ledger has no entries (deleted or never written); check it against "
                    "the central bank's anchors",
                )
            )
        for seq, h in pairs:
            if by_seq.get(seq) != h:
                detail = (
                    "missing"
                    if seq not in by_seq
                    else f"hash {by_seq[seq][:16]} differs from anchor {h[:16]}"
                )
                problems.append(Problem("anchor", seq, f"{detail} (chain rewritten or truncated)"))
        problems.sort(key=lambda p: p.seq)
        head = Head(rows[-1].seq, rows[-1].hash) if rows else Head(0, GENESIS)
        return VerifyReport(len(rows), head, problems)

    @staticmethod
    def _written_as(e: Entry, max_seq: int) -> int | None:
        """The sequence number under which this entry's hash was computed, if not its own (a moved
        entry). Looks within ``REORDER_WINDOW`` places so a badly damaged chain still verifies in
        linear time."""
        for cand in range(max(1, e.seq - REORDER_WINDOW), min(max_seq, e.seq + REORDER_WINDOW) + 1):
            if (
                cand != e.seq
                and entry_hash(e.prev_hash, cand, e.at_ns, e.kind, e.actor, e.subject, e.payload)
                == e.hash
            ):
                return cand
        return None
