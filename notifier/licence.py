"""The licence-terms document: what the regulator, not the operator, decides about a facility's
channel — its heartbeat interval, which rules are notifiable, whether the licence is active — signed
by the regulator with Ed25519 so the facility can take it from the hub's answer or from a file the
operator installs, and trust neither the hub connection nor the operator for its content.

The hub signs (``sign_terms``), the facility checks (``verify_terms``); both use this module, so the
format is written once. The signed bytes are the ``terms`` text as carried, prefixed with a domain
tag, and are verified before they are parsed — never re-serialised first (the same rule as the
facility's messages, docs/regulator-api.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from minewatch.notifier.signing import SIGNATURE_PREFIX, Signer

TERMS_SCHEMA: Final = "minewatch.licence-terms.v1"
SIGNED_SCHEMA: Final = "minewatch.signed-licence-terms.v1"
#: Domain separation: a terms signature can never be replayed as a signature over anything else.
DOMAIN: Final = b"minewatch-licence-terms.v1."
#: What a facility signs (as the body, after ``<timestamp>.``) to ask the hub for its terms.
TERMS_REQUEST: Final = b"GET /v1/licence-terms"
_RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"


class LicenceTermsDoc(BaseModel):
    """What the regulator issues for one facility (schema ``minewatch.licence-terms.v1``)."""

    model_config = ConfigDict(extra="forbid")

    schema_: Literal["minewatch.licence-terms.v1"] = Field(TERMS_SCHEMA, alias="schema")
    licence_number: str = Field(min_length=1, max_length=64)
    facility_id: str = Field(min_length=1, max_length=64)
    licence_active: bool
    valid_from: str = Field(pattern=_RFC3339)
    valid_until: str = Field(pattern=_RFC3339)
    heartbeat_interval_s: float = Field(ge=10, le=3600)
    notifiable: list[str] = Field(
        default_factory=list, description="Rule ids the facility must notify; empty: the profile's"
    )
    issued_at: str = Field(pattern=_RFC3339)

    def valid_ns(self) -> tuple[int, int]:
        return _ns(self.valid_from), _ns(self.valid_until)


class SignedTerms(BaseModel):
    """The envelope on the wire and in the file: the exact terms text and its signature."""

    model_config = ConfigDict(extra="forbid")

    schema_: Literal["minewatch.signed-licence-terms.v1"] = Field(SIGNED_SCHEMA, alias="schema")
    key_id: str
    signature: str
    terms: str = Field(max_length=65536)


class TermsRefused(Exception):
    """A terms document the facility will not use; ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class VerifiedTerms:
    doc: LicenceTermsDoc
    signed: bytes  # the envelope as received: what the facility ledgers and can show again
    sha256: str  # of ``terms``: names one issue of the terms

    def active_at(self, now_ns: int) -> bool:
        """The licence is active and these terms have begun (an expired issue still binds: only a
        newer issue, or a signed suspension, releases the facility)."""
        return self.doc.licence_active and self.doc.valid_ns()[0] <= now_ns


def _ns(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1e9)


def sign_terms(doc: LicenceTermsDoc, signer: Signer) -> bytes:
    """The signed envelope (JSON bytes) the hub serves and ``minewatch hub issue-terms`` writes."""
    text = orjson.dumps(doc.model_dump(by_alias=True), option=orjson.OPT_SORT_KEYS).decode()
    sig = signer.sign(DOMAIN + text.encode())
    env = SignedTerms(
        key_id=signer.key_id,
        signature=SIGNATURE_PREFIX + base64.b64encode(sig).decode(),
        terms=text,
    )
    return orjson.dumps(env.model_dump(by_alias=True), option=orjson.OPT_SORT_KEYS)


def verify_terms(
    signed: bytes,
    regulator_keys: dict[str, Ed25519PublicKey],
    facility_id: str,
    now_ns: int | None,
) -> VerifiedTerms:
    """Check a signed terms envelope against the pinned regulator keys and this facility; raises
    ``TermsRefused`` (``malformed``, ``unknown_issuer``, ``bad_signature``, ``foreign_facility``,
    ``not_yet_valid``, ``expired``). ``now_ns=None`` skips the validity period: terms already in
    force, re-read from the ledger, stay in force after they expire until newer ones arrive."""
    try:
        env = SignedTerms.model_validate_json(signed)
    except ValidationError as exc:
        raise TermsRefused("malformed", f"not a signed licence-terms document: {exc}") from None
    key = regulator_keys.get(env.key_id)
    if key is None:
        raise TermsRefused(
            "unknown_issuer", f"signed with key {env.key_id[:40]!r}, not the pinned regulator key"
        )
    try:
        if not env.signature.startswith(SIGNATURE_PREFIX):
            raise ValueError(env.signature[:20])
        sig = base64.b64decode(env.signature[len(SIGNATURE_PREFIX) :], validate=True)
        key.verify(sig, DOMAIN + env.terms.encode())
    except (InvalidSignature, binascii.Error, ValueError):
        raise TermsRefused(
            "bad_signature", "the regulator's signature does not match the terms (forged/altered)"
        ) from None
    try:
        doc = LicenceTermsDoc.model_validate_json(env.terms)
    except ValidationError as exc:
        raise TermsRefused("malformed", f"terms: {exc}") from None
    if doc.facility_id != facility_id:
        raise TermsRefused(
            "foreign_facility", f"terms are for facility {doc.facility_id!r}, not {facility_id!r}"
        )
    start, until = doc.valid_ns()
    if now_ns is not None and now_ns >= until:
        raise TermsRefused("expired", f"terms were valid until {doc.valid_until}")
    if now_ns is not None and now_ns < start:
        raise TermsRefused("not_yet_valid", f"terms are valid from {doc.valid_from}")
    return VerifiedTerms(doc, signed, hashlib.sha256(env.terms.encode()).hexdigest())


def json_schemas() -> dict[str, dict[str, Any]]:
    """The shipped JSON Schemas, ``schemas/<name>.schema.json``, generated from these models."""
    return {
        name: {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            **model.model_json_schema(by_alias=True),
        }
        for name, model in (
            ("licence-terms.v1", LicenceTermsDoc),
            ("signed-licence-terms.v1", SignedTerms),
        )
    }
