"""The register of licensed facilities: licence, holder, capacity, the licence terms the regulator
sets (heartbeat interval, notifiable rules) and the facility's public keys, each bound to that
facility and valid for a period, so a key can be rotated without a gap and never speak for another
licensee."""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from minewatch.config.notify import ed25519_public_key
from minewatch.errors import Conflict, InvalidInput, NotFound
from minewatch.hub.db import Database, Tx
from minewatch.notifier.signing import key_id_of

NS = 1_000_000_000


class LicenceTerms(BaseModel):
    """What the regulator sets, not the operator: how often the facility must show it is alive and
    which compliance rules it must notify."""

    model_config = ConfigDict(extra="forbid")

    heartbeat_interval_s: float = Field(300.0, ge=10, le=3600)
    notifiable: list[str] = Field(
        default_factory=list, description="Rule ids; empty: the profile's"
    )


class Licence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    facility_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    licence_number: str = Field(min_length=1, max_length=64)
    holder: str = Field(min_length=1, max_length=200)
    capacity_kw: float = Field(gt=0)
    terms: LicenceTerms = Field(default_factory=LicenceTerms)


@dataclass(frozen=True, slots=True)
class RegisteredKey:
    key_id: str
    facility_id: str
    public_key: Ed25519PublicKey
    valid_from_ns: int
    valid_until_ns: int | None

    def valid_at(self, at_ns: int) -> bool:
        return self.valid_from_ns <= at_ns and (
            self.valid_until_ns is None or at_ns < self.valid_until_ns
        )


def _public_key(pem: str) -> Ed25519PublicKey:
    try:
        return ed25519_public_key(pem)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


class Register:
    def __init__(self, db: Database) -> None:
        self.db = db

    def register(self, lic: Licence, now_ns: int | None = None) -> None:
        """Add a facility, or update its licence and terms (a licence number names one facility)."""
        now = now_ns or time.time_ns()
        with self.db.transaction() as tx:
            other = tx.one(
                "SELECT id FROM facilities WHERE licence_number = ? AND id <> ?",
                (lic.licence_number, lic.facility_id),
            )
            if other:
                raise Conflict(f"licence {lic.licence_number} is registered to {other[0]}")
            terms = orjson.dumps(lic.terms.notifiable).decode()
            if tx.one("SELECT 1 FROM facilities WHERE id = ?", (lic.facility_id,)):
                tx.execute(
                    "UPDATE facilities SET licence_number = ?, holder = ?, capacity_kw = ?, "
                    "heartbeat_interval_s = ?, notifiable = ? WHERE id = ?",
                    (
                        lic.licence_number,
                        lic.holder,
                        lic.capacity_kw,
                        lic.terms.heartbeat_interval_s,
                        terms,
                        lic.facility_id,
                    ),
                )
            else:
                tx.execute(
                    "INSERT INTO facilities (id, licence_number, holder, capacity_kw, "
                    "heartbeat_interval_s, notifiable, registered_ns) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        lic.facility_id,
                        lic.licence_number,
                        lic.holder,
                        lic.capacity_kw,
                        lic.terms.heartbeat_interval_s,
                        terms,
                        now,
                    ),
                )

    def add_key(
        self,
        facility_id: str,
        public_pem: str,
        *,
        valid_from_ns: int | None = None,
        retire_others_after_s: float | None = None,
    ) -> str:
        """Bind a public key to a facility from ``valid_from_ns`` (default now). With
        ``retire_others_after_s`` (a rotation) the facility's other open-ended keys stop being valid
        that long after, so messages signed just before the switch still verify."""
        key = _public_key(public_pem)
        kid = key_id_of(key)
        start = valid_from_ns if valid_from_ns is not None else time.time_ns()
        with self.db.transaction() as tx:
            if not tx.one("SELECT 1 FROM facilities WHERE id = ?", (facility_id,)):
                raise NotFound(f"facility {facility_id!r} is not registered")
            bound = tx.one("SELECT facility_id FROM facility_keys WHERE key_id = ?", (kid,))
            if bound and bound[0] != facility_id:
                raise Conflict(f"key {kid} is bound to another facility")
            if bound is None:
                tx.execute(
                    "INSERT INTO facility_keys (key_id, facility_id, public_pem, valid_from_ns) "
                    "VALUES (?, ?, ?, ?)",
                    (kid, facility_id, public_pem, start),
                )
            if retire_others_after_s is not None:
                tx.execute(
                    "UPDATE facility_keys SET valid_until_ns = ? WHERE facility_id = ? "
                    "AND key_id <> ? AND valid_until_ns IS NULL",
                    (start + int(retire_others_after_s * NS), facility_id, kid),
                )
        return kid

    def key(self, key_id: str) -> RegisteredKey | None:
        rows = self.db.query(
            "SELECT key_id, facility_id, public_pem, valid_from_ns, valid_until_ns "
            "FROM facility_keys WHERE key_id = ?",
            (key_id,),
        )
        if not rows:
            return None
        kid, fid, pem, start, until = rows[0]
        return RegisteredKey(kid, fid, _public_key(pem), int(start), until)

    def terms(self, facility_id: str, tx: Tx | None = None) -> LicenceTerms:
        sql = "SELECT heartbeat_interval_s, notifiable FROM facilities WHERE id = ?"
        row = (
            tx.one(sql, (facility_id,))
            if tx
            else next(iter(self.db.query(sql, (facility_id,))), None)
        )
        if row is None:
            raise NotFound(f"facility {facility_id!r} is not registered")
        return LicenceTerms(heartbeat_interval_s=row[0], notifiable=orjson.loads(row[1]))

    def licence(self, facility_id: str) -> tuple[str, bool, LicenceTerms]:
        """Licence number, whether the licence is active, and its terms: what the hub signs."""
        rows = self.db.query(
            "SELECT licence_number, licence_active, heartbeat_interval_s, notifiable "
            "FROM facilities WHERE id = ?",
            (facility_id,),
        )
        if not rows:
            raise NotFound(f"facility {facility_id!r} is not registered")
        number, active, interval, notifiable = rows[0]
        terms = LicenceTerms(heartbeat_interval_s=interval, notifiable=orjson.loads(notifiable))
        return str(number), bool(active), terms
