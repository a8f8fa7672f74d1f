"""Versioned schema migrations: each step runs once, in order, in its own transaction, and is
recorded in ``schema_migrations``; a database newer than this code is refused rather than guessed
at. The same steps serve PostgreSQL and SQLite (``{id}``, ``{blob}`` and ``{big}`` stand for the
engine's types)."""

from __future__ import annotations

from minewatch.errors import ConfigError
from minewatch.hub.db import Database

_TYPES = {
    "postgresql": {
        "id": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "blob": "BYTEA",
        "big": "BIGINT",
    },
    "sqlite": {"id": "INTEGER PRIMARY KEY", "blob": "BLOB", "big": "INTEGER"},
}

#: (version, what it does, statements). Append only: a released step never changes.
STEPS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "register, messages, anchors, rejections, findings, breaches",
        [
            """CREATE TABLE facilities (
                id                   TEXT PRIMARY KEY,
                licence_number       TEXT NOT NULL UNIQUE,
                holder               TEXT NOT NULL,
                capacity_kw          DOUBLE PRECISION NOT NULL,
                heartbeat_interval_s DOUBLE PRECISION NOT NULL,
                notifiable           TEXT NOT NULL DEFAULT '[]',
                licence_active       INTEGER NOT NULL DEFAULT 1,
                registered_ns        {big} NOT NULL,
                last_sequence        {big} NOT NULL DEFAULT 0,
                last_body_sha256     TEXT NOT NULL DEFAULT '',
                last_heartbeat_ns    {big}
            )""",
            """CREATE TABLE facility_keys (
                key_id         TEXT PRIMARY KEY,
                facility_id    TEXT NOT NULL REFERENCES facilities (id),
                public_pem     TEXT NOT NULL,
                valid_from_ns  {big} NOT NULL,
                valid_until_ns {big}
            )""",
            """CREATE TABLE messages (
                id              {id},
                facility_id     TEXT NOT NULL REFERENCES facilities (id),
                sequence        {big} NOT NULL,
                message_id      TEXT NOT NULL UNIQUE,
                idempotency_key TEXT NOT NULL,
                kind            TEXT NOT NULL,
                key_id          TEXT NOT NULL,
                signed_at_s     {big} NOT NULL,
                received_ns     {big} NOT NULL,
                ledger_seq      {big} NOT NULL,
                ledger_hash     TEXT NOT NULL,
                body_sha256     TEXT NOT NULL,
                chain_sha256    TEXT NOT NULL,
                verification    TEXT NOT NULL,
                body            {blob} NOT NULL,
                UNIQUE (facility_id, sequence),
                UNIQUE (facility_id, idempotency_key)
            )""",
            "CREATE INDEX messages_kind ON messages (facility_id, kind, id)",
            """CREATE TABLE anchors (
                facility_id TEXT NOT NULL,
                ledger_seq  {big} NOT NULL,
                ledger_hash TEXT NOT NULL,
                PRIMARY KEY (facility_id, ledger_seq, ledger_hash)
            )""",
            """CREATE TABLE rejections (
                id          {id},
                facility_id TEXT,
                received_ns {big} NOT NULL,
                reason      TEXT NOT NULL,
                detail      TEXT NOT NULL,
                body_sha256 TEXT NOT NULL
            )""",
            "CREATE INDEX rejections_facility ON rejections (facility_id, id)",
            """CREATE TABLE findings (
                id          {id},
                facility_id TEXT NOT NULL,
                kind        TEXT NOT NULL,
                dedup       TEXT NOT NULL,
                raised_ns   {big} NOT NULL,
                detail      TEXT NOT NULL,
                closed_ns   {big},
                closed_by   TEXT,
                UNIQUE (facility_id, kind, dedup)
            )""",
            """CREATE TABLE breaches (
                facility_id TEXT NOT NULL,
                rule_id     TEXT NOT NULL,
                subject     TEXT NOT NULL,
                started_at  TEXT NOT NULL,
                severity    TEXT NOT NULL,
                state       TEXT NOT NULL,
                opened_seq  {big} NOT NULL,
                updated_seq {big} NOT NULL,
                resolved    INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (facility_id, rule_id, subject, started_at)
            )""",
        ],
    ),
]


def migrate(db: Database) -> int:
    """Bring ``db`` to the newest version; returns it."""
    types = _TYPES[db.dialect]
    with db.transaction() as tx:
        tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, description TEXT NOT NULL)"
        )
        done = {int(r[0]) for r in tx.all("SELECT version FROM schema_migrations")}
    newest = STEPS[-1][0]
    if done and max(done) > newest:
        raise ConfigError(
            [
                f"hub database is at schema version {max(done)}, newer than this minewatch "
                f"({newest}); upgrade minewatch"
            ]
        )
    for version, description, statements in STEPS:
        if version in done:
            continue
        with db.transaction() as tx:
            for stmt in statements:
                tx.execute(stmt.format(**types))
            tx.execute(
                "INSERT INTO schema_migrations (version, description) VALUES (?, ?)",
                (version, description),
            )
    return newest
