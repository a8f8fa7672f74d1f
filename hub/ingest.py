"""Ingest: one facility message in, one answer out — stored once, or refused with a reason code,
never a 500.

Order of checks: size; headers and key (registered, bound to the facility the body names, valid when
it was used); Ed25519 signature and timestamp window (``minewatch.notifier.signing``, the checks
docs/regulator-api.md publishes); schema (the sender's own pydantic model); then, inside a
transaction that locks the facility's register row, the facility's chain: the sequence number must
be the next one (a jump is stored and raised as a gap; an old number with another body is a rewrite,
refused), and ``prev_sha256`` must be the hash of the message before it. Every ledger head is kept
as an anchor; a second hash for one ledger position, or a ledger that goes backwards, is a fork.
Heartbeats are read for what they prove (the analyzer's last cycle, profile and configuration
hashes) against the regulator's terms, never the interval the facility declares.

One facility's bad messages only ever touch its own rows and counters: each is answered and recorded
on its own, and the per-facility rate limit keeps one sender from crowding the others.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from minewatch.counters import Counters
from minewatch.hub.db import Database, Tx
from minewatch.hub.findings import raise_finding
from minewatch.hub.register import NS, Register
from minewatch.notifier.regulator import RegulatorMessage
from minewatch.notifier.signing import (
    DEFAULT_WINDOW_S,
    H_KEY_ID,
    H_TIMESTAMP,
    verify_message,
)

#: The largest message the hub takes: a daily report with a day of hourly records is far below.
MAX_BODY_BYTES = 1024 * 1024
#: HTTP status per reason code.
STATUS = {
    "too_large": 413,
    "invalid_body": 400,
    "schema": 400,
    "missing_header": 401,
    "unknown_key": 401,
    "malformed_timestamp": 401,
    "malformed_signature": 401,
    "bad_signature": 401,
    "stale_timestamp": 401,
    "foreign_key": 403,
    "key_not_valid": 403,
    "unknown_facility": 403,
    "rewrite": 409,
    "rate_limited": 429,
}


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]


def refuse(reason: str, detail: str) -> Answer:
    return Answer(STATUS[reason], {"status": "rejected", "reason": reason, "detail": detail})


@dataclass
class RateLimit:
    """A token bucket per facility: ``rate_per_s`` sustained, ``burst`` at once."""

    rate_per_s: float = 20.0
    burst: float = 400.0
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self, key: str, now_s: float) -> bool:
        with self._lock:
            tokens, at = self._buckets.get(key, (self.burst, now_s))
            tokens = min(self.burst, tokens + (now_s - at) * self.rate_per_s)
            if tokens < 1:
                self._buckets[key] = (tokens, now_s)
                return False
            self._buckets[key] = (tokens - 1, now_s)
            return True


def _ns(rfc3339: str | None) -> int | None:
    if not rfc3339:
        return None
    return int(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * NS)


class Ingestor:
    def __init__(
        self,
        db: Database,
        *,
        window_s: float = DEFAULT_WINDOW_S,
        max_body_bytes: int = MAX_BODY_BYTES,
        limit: RateLimit | None = None,
        clock: Any = time.time_ns,
    ) -> None:
        self.db = db
        self.register = Register(db)
        self.window_s = window_s
        self.max_body_bytes = max_body_bytes
        self.limit = limit or RateLimit()
        self.clock = clock
        self.counters = Counters()

    def ingest(self, body: bytes, headers: dict[str, str]) -> Answer:
        answer = self._ingest(body, {k.lower(): v for k, v in headers.items()})
        self.counters.inc("answers_total", reason=str(answer.body.get("reason", "stored")))
        if answer.status >= 400:
            self._log_rejection(answer, body)
        return answer

    def _ingest(self, body: bytes, h: dict[str, str]) -> Answer:
        if len(body) > self.max_body_bytes:
            return refuse("too_large", f"body is {len(body)} bytes; at most {self.max_body_bytes}")
        kid = h.get(H_KEY_ID.lower(), "")
        key = self.register.key(kid) if kid else None
        if key is None:
            verdict = verify_message(body, h, {}, window_s=self.window_s)
            return refuse(verdict.reason, verdict.detail)
        now = self.clock()
        if not self.limit.allow(key.facility_id, now / NS):
            return refuse("rate_limited", f"facility {key.facility_id}: too many messages")
        verdict = verify_message(
            body, h, {kid: key.public_key}, now_s=now / NS, window_s=self.window_s
        )
        if not verdict.valid:
            return refuse(verdict.reason, verdict.detail)
        try:
            msg = RegulatorMessage.model_validate_json(body)
        except ValidationError as exc:
            detail = "; ".join(
                f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            return refuse("schema", detail[:1000])
        if msg.sequence < 1:
            return refuse("schema", "sequence: must be 1 or more")
        signed_ns = int(h[H_TIMESTAMP.lower()]) * NS
        if msg.facility.id != key.facility_id:
            with self.db.transaction() as tx:
                raise_finding(
                    tx,
                    key.facility_id,
                    "key_misuse",
                    f"foreign:{msg.facility.id}",
                    f"key {kid} of {key.facility_id} signed a message naming {msg.facility.id}",
                    now,
                )
            return refuse(
                "foreign_key", f"key {kid} is bound to another facility than {msg.facility.id!r}"
            )
        if not key.valid_at(signed_ns):
            with self.db.transaction() as tx:
                raise_finding(
                    tx,
                    key.facility_id,
                    "key_misuse",
                    f"validity:{kid}",
                    f"key {kid} used outside its validity period",
                    now,
                )
            return refuse("key_not_valid", f"key {kid} is not valid at the signing time")
        with self.db.transaction() as tx:
            return self._store(tx, msg, body, kid, signed_ns // NS, now)

    def _store(
        self, tx: Tx, msg: RegulatorMessage, body: bytes, kid: str, signed_s: int, now: int
    ) -> Answer:
        fid = msg.facility.id
        fac = tx.lock_facility(fid)
        if fac is None:
            return refuse("unknown_facility", f"facility {fid!r} is not in the register")
        _, interval_s, last_seq, last_chain = fac
        digest = hashlib.sha256(body).hexdigest()
        seen = tx.one(
            "SELECT sequence, body_sha256 FROM messages WHERE message_id = ? OR "
            "(facility_id = ? AND (idempotency_key = ? OR sequence = ?))",
            (msg.message_id, fid, msg.idempotency_key, msg.sequence),
        )
        if seen is not None:
            if seen[1] == digest or msg.sequence > int(last_seq):
                return Answer(200, {"status": "duplicate", "message_id": msg.message_id})
            raise_finding(
                tx,
                fid,
                "rewrite",
                f"seq:{msg.sequence}",
                f"message #{msg.sequence} received again with other content",
                now,
            )
            return refuse("rewrite", f"sequence {msg.sequence} already holds another message")
        verification = "ok"
        if msg.sequence <= int(last_seq):
            raise_finding(
                tx,
                fid,
                "reorder",
                f"seq:{msg.sequence}",
                f"message #{msg.sequence} arrived after #{last_seq}",
                now,
            )
            verification = "late"
        elif msg.sequence > int(last_seq) + 1:
            raise_finding(
                tx,
                fid,
                "gap",
                f"{int(last_seq) + 1}-{msg.sequence - 1}",
                f"messages #{int(last_seq) + 1}..#{msg.sequence - 1} never arrived "
                "(deleted at the facility?)",
                now,
            )
            verification = "gap"
        elif int(last_seq) > 0 and msg.prev_sha256 != last_chain:
            raise_finding(
                tx,
                fid,
                "rewrite",
                f"chain:{msg.sequence}",
                f"message #{msg.sequence} does not link to #{last_seq} as received "
                "(a message was edited before it was sent)",
                now,
            )
            verification = "chain_broken"
        chain = msg.refused.body_sha256 if msg.refused is not None else digest
        tx.execute(
            "INSERT INTO messages (facility_id, sequence, message_id, idempotency_key, kind, "
            "key_id, signed_at_s, received_ns, ledger_seq, ledger_hash, body_sha256, "
            "chain_sha256, verification, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                fid,
                msg.sequence,
                msg.message_id,
                msg.idempotency_key,
                msg.kind,
                kid,
                signed_s,
                now,
                msg.ledger.seq,
                msg.ledger.hash,
                digest,
                chain,
                verification,
                body,
            ),
        )
        if msg.sequence > int(last_seq):
            tx.execute(
                "UPDATE facilities SET last_sequence = ?, last_body_sha256 = ? WHERE id = ?",
                (msg.sequence, chain, fid),
            )
        self._anchor(tx, msg, now)
        self._read(tx, msg, float(interval_s), now)
        return Answer(
            200,
            {
                "status": "stored",
                "sequence": msg.sequence,
                "message_id": msg.message_id,
                "verification": verification,
            },
        )

    def _anchor(self, tx: Tx, msg: RegulatorMessage, now: int) -> None:
        fid, seq, h = msg.facility.id, msg.ledger.seq, msg.ledger.hash
        other = tx.one(
            "SELECT ledger_hash FROM anchors WHERE facility_id = ? AND ledger_seq = ? AND "
            "ledger_hash <> ?",
            (fid, seq, h),
        )
        if other:
            raise_finding(
                tx,
                fid,
                "fork",
                f"ledger:{seq}",
                f"two ledger heads for entry #{seq}: {other[0][:16]} and {h[:16]}",
                now,
            )
        newest = tx.one("SELECT MAX(ledger_seq) FROM anchors WHERE facility_id = ?", (fid,))
        if newest and newest[0] is not None and seq < int(newest[0]):
            raise_finding(
                tx,
                fid,
                "fork",
                f"rewound:{seq}",
                f"ledger head went back from #{newest[0]} to #{seq} (truncated or rewritten)",
                now,
            )
        tx.execute(
            "INSERT INTO anchors (facility_id, ledger_seq, ledger_hash) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (fid, seq, h),
        )

    def _read(self, tx: Tx, msg: RegulatorMessage, interval_s: float, now: int) -> None:
        """What a message says that the bank's staff must see, raised as findings."""
        fid = msg.facility.id
        if msg.kind == "config_changed" and msg.config is not None:
            raise_finding(
                tx,
                fid,
                "config_changed",
                f"seq:{msg.sequence}",
                f"profile {msg.config.profile_id} ({(msg.config.profile_sha256 or '-')[:16]}), "
                f"configuration {(msg.config.config_sha256 or '-')[:16]}",
                now,
            )
        elif msg.kind == "channel_suspended" and msg.suspension is not None:
            raise_finding(
                tx, fid, "channel_suspended", f"seq:{msg.sequence}", msg.suspension.reason, now
            )
        elif msg.kind == "message_refused" and msg.refused is not None:
            r = msg.refused
            raise_finding(
                tx,
                fid,
                "refused",
                f"seq:{msg.sequence}",
                f"{r.kind} #{r.sequence} ({r.body_bytes} bytes, ledger #{r.source_entry}) "
                f"was refused: {r.answer[:200]}",
                now,
            )
        if msg.breach is not None:
            b = msg.breach
            tx.execute(
                "INSERT INTO breaches (facility_id, rule_id, subject, started_at, severity, state, "
                "opened_seq, updated_seq, resolved) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (facility_id, rule_id, subject, started_at) DO UPDATE SET "
                "state = excluded.state, updated_seq = excluded.updated_seq, "
                "resolved = excluded.resolved",
                (
                    fid,
                    b.rule.id,
                    b.subject,
                    b.started_at or "",
                    b.rule.severity,
                    b.state,
                    msg.sequence,
                    msg.sequence,
                    int(msg.kind == "breach_resolved"),
                ),
            )
        hb = msg.heartbeat
        if msg.kind != "heartbeat" or hb is None:
            return
        tx.execute("UPDATE facilities SET last_heartbeat_ns = ? WHERE id = ?", (now, fid))
        created = _ns(msg.created_at) or now
        cycle = _ns(hb.analyzer_last_cycle_at)
        if cycle is None or created - cycle > 3 * interval_s * NS:
            raise_finding(
                tx,
                fid,
                "analyzer_stopped",
                f"cycle:{hb.analyzer_last_cycle_at}",
                "no completed analyzer cycle"
                + (f" since {hb.analyzer_last_cycle_at}" if cycle else " reported"),
                now,
            )
        if hb.terms_source == "config":
            raise_finding(
                tx,
                fid,
                "no_terms",
                "source:config",
                "facility runs on its own configuration: it has not received the regulator's "
                "signed licence terms (no regulator key pinned, or the terms never reached it)",
                now,
            )
        if hb.interval_s > interval_s:
            raise_finding(
                tx,
                fid,
                "terms",
                f"interval:{hb.interval_s}",
                f"facility declares a {hb.interval_s:g} s heartbeat; the licence requires "
                f"{interval_s:g} s",
                now,
            )
        prev = tx.one(
            "SELECT body FROM messages WHERE facility_id = ? AND kind = 'heartbeat' AND "
            "sequence < ? ORDER BY sequence DESC LIMIT 1",
            (fid, msg.sequence),
        )
        if prev is not None:
            before = orjson.loads(bytes(prev[0])).get("heartbeat", {})
            for name in ("profile_sha256", "config_sha256"):
                if before.get(name) != getattr(hb, name):
                    raise_finding(
                        tx,
                        fid,
                        "config_changed",
                        f"{name}:{getattr(hb, name)}",
                        f"heartbeat {name} changed from {str(before.get(name))[:16]} to "
                        f"{str(getattr(hb, name))[:16]}",
                        now,
                    )

    def _log_rejection(self, answer: Answer, body: bytes) -> None:
        fid = None
        if len(body) <= self.max_body_bytes:
            try:
                named = orjson.loads(body).get("facility", {}).get("id")
                fid = named if isinstance(named, str) else None
            except (orjson.JSONDecodeError, AttributeError):
                pass
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO rejections (facility_id, received_ns, reason, detail, body_sha256) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    fid[:64] if fid else None,
                    self.clock(),
                    str(answer.body.get("reason")),
                    str(answer.body.get("detail", ""))[:1000],
                    hashlib.sha256(body).hexdigest(),
                ),
            )
