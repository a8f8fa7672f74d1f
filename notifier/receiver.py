"""Reference receiver for the central bank: verifies, de-duplicates and stores facility messages.

It is the executable form of docs/regulator-api.md: a regulator can run it as is (``minewatch
receiver``) or copy its checks. Every message is verified (key, Ed25519 signature over timestamp and
body, timestamp window, schema) and processed exactly once: a retried or replayed message id or
idempotency key is answered ``200 duplicate`` so the sender stops retrying, and is not stored again.
Rejections are stored too (reason, body hash) so the regulator can see a facility sending bad
messages.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from minewatch.db import connect
from minewatch.notifier.outbox import sql_filters
from minewatch.notifier.regulator import RegulatorMessage
from minewatch.notifier.signing import (
    DEFAULT_WINDOW_S,
    H_TIMESTAMP,
    Verdict,
    load_public_keys,
    verify_message,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS received (
    seq             INTEGER PRIMARY KEY,
    message_id      TEXT    NOT NULL UNIQUE,
    idempotency_key TEXT    NOT NULL UNIQUE,
    facility_id     TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    key_id          TEXT    NOT NULL,
    signed_at_s     INTEGER NOT NULL,
    received_ns     INTEGER NOT NULL,
    ledger_seq      INTEGER NOT NULL,
    ledger_hash     TEXT    NOT NULL,
    body            BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS received_facility ON received (facility_id, seq);
CREATE TABLE IF NOT EXISTS rejected (
    id          INTEGER PRIMARY KEY,
    received_ns INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    client      TEXT,
    body_sha256 TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS duplicates (
    id          INTEGER PRIMARY KEY,
    received_ns INTEGER NOT NULL,
    message_id  TEXT,
    idempotency_key TEXT
);
"""

#: HTTP status per rejection reason: authentication problems 401, malformed content 400.
_STATUS = {"invalid_body": 400, "schema": 400, "too_large": 413}
#: A daily report with a day of hourly records is well under this; anything bigger is not ours.
MAX_BODY_BYTES = 16 * 1024 * 1024


class ReceiverStore:
    """The receiver's SQLite database: what was received (once), what was rejected and why."""

    def __init__(self, path: Path | str) -> None:
        self.conn = connect(path)
        self.conn.executescript(SCHEMA)
        self.lock = threading.Lock()

    def seen(self, message_id: str, idempotency_key: str | None) -> bool:
        with self.lock:
            return (
                self.conn.execute(
                    "SELECT 1 FROM received WHERE message_id = ? OR idempotency_key = ?",
                    (message_id, idempotency_key or ""),
                ).fetchone()
                is not None
            )

    def store(
        self, msg: RegulatorMessage, key_id: str, signed_at_s: int, body: bytes
    ) -> int | None:
        """Store once; None when a concurrent delivery of the same message won the race."""
        with self.lock:
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO received (message_id, idempotency_key, facility_id, kind, "
                "key_id, signed_at_s, "
                "received_ns, ledger_seq, ledger_hash, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    msg.message_id,
                    msg.idempotency_key,
                    msg.facility.id,
                    msg.kind,
                    key_id,
                    signed_at_s,
                    time.time_ns(),
                    msg.ledger.seq,
                    msg.ledger.hash,
                    body,
                ),
            )
            return cur.lastrowid if cur.rowcount else None

    def duplicate(self, message_id: str | None, key: str | None) -> None:
        with self.lock:
            self.conn.execute(
                "INSERT INTO duplicates (received_ns, message_id, idempotency_key) VALUES (?, ?, "
                "?)",
                (time.time_ns(), message_id, key),
            )

    def reject(self, reason: str, detail: str, client: str | None, body: bytes) -> None:
        with self.lock:
            self.conn.execute(
                "INSERT INTO rejected (received_ns, reason, detail, client, body_sha256) "
                "VALUES (?, ?, ?, ?, ?)",
                (time.time_ns(), reason, detail, client, hashlib.sha256(body).hexdigest()),
            )

    def messages(
        self,
        facility: str | None = None,
        kind: str | None = None,
        after_seq: int = 0,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        where, args = sql_filters(facility_id=facility, kind=kind)
        with self.lock:
            rows = self.conn.execute(
                "SELECT seq, message_id, idempotency_key, facility_id, kind, key_id, "
                "signed_at_s, received_ns, ledger_seq, ledger_hash, body FROM received WHERE "
                f"{where} AND seq > ? ORDER BY seq LIMIT ?",
                [*args, after_seq, limit],
            ).fetchall()
        cols = (
            "seq",
            "message_id",
            "idempotency_key",
            "facility_id",
            "kind",
            "key_id",
            "signed_at_s",
            "received_ns",
            "ledger_seq",
            "ledger_hash",
        )
        return [{**dict(zip(cols, r[:-1], strict=True)), "body": orjson.loads(r[-1])} for r in rows]

    def facilities(self, now_ns: int) -> list[dict[str, Any]]:
        """Per facility: last message, last heartbeat and whether it has gone silent (no heartbeat
        for three of its own heartbeat intervals), and the newest ledger anchor it sent."""
        out = []
        with self.lock:
            fids = [
                r[0]
                for r in self.conn.execute("SELECT DISTINCT facility_id FROM received ORDER BY 1")
            ]
            for fid in fids:
                last = self.conn.execute(
                    "SELECT MAX(received_ns), COUNT(*) FROM received WHERE facility_id = ?", (fid,)
                ).fetchone()
                anchor = self.conn.execute(
                    "SELECT ledger_seq, ledger_hash FROM received WHERE facility_id = ? "
                    "ORDER BY ledger_seq DESC LIMIT 1",
                    (fid,),
                ).fetchone()
                hb = self.conn.execute(
                    "SELECT received_ns, body FROM received WHERE facility_id = ? AND kind = "
                    "'heartbeat' ORDER BY seq DESC LIMIT 1",
                    (fid,),
                ).fetchone()
                silent = None
                if hb:
                    interval = orjson.loads(hb[1])["heartbeat"]["interval_s"]
                    silent = now_ns - hb[0] > 3 * interval * 1e9
                out.append(
                    {
                        "facility_id": fid,
                        "messages": last[1],
                        "last_received_ns": last[0],
                        "last_heartbeat_ns": hb[0] if hb else None,
                        "silent": silent,
                        "ledger_anchor": {"seq": anchor[0], "hash": anchor[1]},
                    }
                )
        return out

    def anchors(self, facility: str) -> list[tuple[int, str]]:
        """Every distinct ledger head the facility has sent: what `minewatch audit verify
        --anchors-from` checks against. Pairs, so two hashes for one sequence number (a fork) are
        both checked."""
        with self.lock:
            return [
                (int(seq), str(h))
                for seq, h in self.conn.execute(
                    "SELECT DISTINCT ledger_seq, ledger_hash FROM received WHERE facility_id = ?",
                    (facility,),
                )
            ]

    def close(self) -> None:
        self.conn.close()


def create_app(
    store: ReceiverStore,
    public_keys: dict[str, Ed25519PublicKey] | list[Path],
    *,
    window_s: float = DEFAULT_WINDOW_S,
) -> FastAPI:
    """``public_keys``: a fixed key table, or key files/folders that are re-read when a message
    names a key id not seen yet (registering a facility's new key = dropping its ``.pub`` file in
    the folder)."""
    app = FastAPI(title="minewatch reference receiver (central bank side)", version="1")
    app.state.store = store
    key_paths: list[Path] | None = None
    if isinstance(public_keys, list):
        key_paths = public_keys
        keys = load_public_keys(key_paths)
    else:
        keys = dict(public_keys)

    def stamp() -> tuple[int, ...]:
        return tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in key_paths or [])

    seen_stamp = [stamp()]

    def check(body: bytes, headers: dict[str, str]) -> Verdict:
        verdict = verify_message(body, headers, keys, window_s=window_s, seen=store.seen)
        # an unknown key id re-reads the key files only if they changed (bogus ids cost one stat)
        if verdict.reason == "unknown_key" and key_paths is not None and stamp() != seen_stamp[0]:
            seen_stamp[0] = stamp()
            keys.update(load_public_keys(key_paths))
            verdict = verify_message(body, headers, keys, window_s=window_s, seen=store.seen)
        return verdict

    @app.post("/v1/messages")
    async def receive(request: Request) -> JSONResponse:
        client = request.client.host if request.client else None
        buf = bytearray()
        async for chunk in request.stream():
            buf += chunk
            if len(buf) > MAX_BODY_BYTES:
                store.reject(
                    "too_large", f"body over {MAX_BODY_BYTES} bytes", client, bytes(buf[:1024])
                )
                return JSONResponse({"status": "rejected", "reason": "too_large"}, status_code=413)
        body = bytes(buf)
        verdict = check(body, dict(request.headers))
        if verdict.reason == "replayed":
            store.duplicate(verdict.message_id, verdict.idempotency_key)
            return JSONResponse({"status": "duplicate", "message_id": verdict.message_id})
        if not verdict.valid:
            store.reject(verdict.reason, verdict.detail, client, body)
            return JSONResponse(
                {"status": "rejected", "reason": verdict.reason, "detail": verdict.detail},
                status_code=_STATUS.get(verdict.reason, 401),
            )
        try:
            msg = RegulatorMessage.model_validate_json(body)
        except ValidationError as exc:
            detail = "; ".join(
                f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()
            )[:1000]
            store.reject("schema", detail, client, body)
            return JSONResponse(
                {"status": "rejected", "reason": "schema", "detail": detail}, status_code=400
            )
        seq = store.store(msg, verdict.key_id or "", int(request.headers[H_TIMESTAMP]), body)
        if seq is None:
            store.duplicate(msg.message_id, msg.idempotency_key)
            return JSONResponse({"status": "duplicate", "message_id": msg.message_id})
        return JSONResponse({"status": "stored", "seq": seq, "message_id": msg.message_id})

    @app.get("/v1/messages")
    def list_messages(
        facility: str | None = None, kind: str | None = None, after_seq: int = 0, limit: int = 1000
    ) -> list[dict[str, Any]]:
        return store.messages(facility, kind, after_seq, min(limit, 10000))

    @app.get("/v1/facilities")
    def facilities() -> list[dict[str, Any]]:
        return store.facilities(time.time_ns())

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
