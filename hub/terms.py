"""Licence terms issued by the regulator: the hub signs each facility's terms (heartbeat interval,
notifiable rules, whether the licence is active) with the regulator's own Ed25519 key and serves
them to the facility that asks with a request signed by its registered key, or writes them to a file
for a site that is offline (``minewatch hub issue-terms``).

The regulator's key is kept like a facility's (``KeyStore``: PKCS#8 file mode 0600, ``current``
naming the key in use); its public key is what every facility pins, so a terms document is trusted
because of who signed it, not because of the connection it came over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from minewatch.hub.ingest import Answer, refuse
from minewatch.hub.register import NS, Register
from minewatch.notifier.licence import TERMS_REQUEST, LicenceTermsDoc, sign_terms
from minewatch.notifier.signing import H_KEY_ID, H_TIMESTAMP, KeyStore, Signer, verify_signed
from minewatch.readable import rfc3339

#: How long one issue of the terms is valid: long enough for a site offline for weeks, short
#: enough that a changed term reaches every facility that still talks to the hub.
DEFAULT_VALIDITY_S = 90 * 86400.0


def regulator_signer(key_dir: Path) -> Signer:
    """The regulator's signing key in ``key_dir``, generated there the first time."""
    keys = KeyStore(key_dir)
    if keys.current_id() is None:
        keys.generate()
    return keys.signer()


def issue(
    register: Register,
    facility_id: str,
    signer: Signer,
    *,
    now_ns: int,
    validity_s: float = DEFAULT_VALIDITY_S,
) -> bytes:
    """The signed terms of ``facility_id`` as the register holds them now."""
    number, active, terms = register.licence(facility_id)
    doc = LicenceTermsDoc(
        licence_number=number,
        facility_id=facility_id,
        licence_active=active,
        valid_from=rfc3339(now_ns, millis=True),
        valid_until=rfc3339(now_ns + int(validity_s * NS), millis=True),
        heartbeat_interval_s=terms.heartbeat_interval_s,
        notifiable=terms.notifiable,
        issued_at=rfc3339(now_ns, millis=True),
    )
    return sign_terms(doc, signer)


class TermsDesk:
    """``GET /v1/licence-terms``: authenticates the facility by the same signature check as the
    ingest (its request line signed as the body), then answers its signed terms."""

    def __init__(
        self,
        register: Register,
        signer: Signer,
        *,
        window_s: float,
        validity_s: float = DEFAULT_VALIDITY_S,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.register = register
        self.signer = signer
        self.window_s = window_s
        self.validity_s = validity_s
        self.clock = clock

    def answer(self, headers: dict[str, str]) -> Answer | bytes:
        """The signed terms (bytes), or a refusal with its reason code."""
        h = {k.lower(): v for k, v in headers.items()}
        kid = h.get(H_KEY_ID.lower(), "")
        key = self.register.key(kid) if kid else None
        now = self.clock()
        keys = {kid: key.public_key} if key is not None else {}
        verdict = verify_signed(TERMS_REQUEST, h, keys, now_s=now / NS, window_s=self.window_s)
        if not verdict.valid or key is None:
            return refuse(verdict.reason, verdict.detail)
        if not key.valid_at(int(h[H_TIMESTAMP.lower()]) * NS):
            return refuse("key_not_valid", f"key {kid} is not valid at the signing time")
        return issue(
            self.register, key.facility_id, self.signer, now_ns=now, validity_s=self.validity_s
        )
