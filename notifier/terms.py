"""The licence terms the facility obeys: the regulator's, not the operator's.

Terms arrive signed by the regulator, from the hub (``TermsFetcher``, a signed request) or from a
file the operator installs (``minewatch licence install``). Each is checked against the pinned
regulator key and this facility's id and validity period; good terms are ledgered
(``licence.terms``, with the signed document itself, so they can be verified again later and an
inspection sees which terms were in force when) and then set the heartbeat interval and the
notifiable rules. A refused document is counted and logged once, and the last good terms stay in
force. Only a facility that never received terms uses its configuration's interval and the profile's
notifiable flags — and says so, in its log and in every heartbeat.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import threading
from collections.abc import Callable
from typing import Literal

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from minewatch.config.facility import FacilityConfig
from minewatch.config.notify import ed25519_public_key
from minewatch.counters import Counters
from minewatch.errors import ConfigError
from minewatch.ledger import Entry, Ledger
from minewatch.notifier.delivery import BackgroundThread
from minewatch.notifier.licence import (
    TERMS_REQUEST,
    TermsRefused,
    VerifiedTerms,
    verify_terms,
)
from minewatch.notifier.signing import KeyFileError, KeyStore, key_id_of, load_public_key

log = logging.getLogger(__name__)

ENTRY = "licence.terms"
ACTOR = "notifier"
#: After a failed fetch, ask again this soon (or at the refresh interval, if shorter).
RETRY_S = 60.0


def pinned_keys(cfg: FacilityConfig) -> dict[str, Ed25519PublicKey]:
    """The regulator key the configuration pins (none: no terms can be accepted)."""
    cb = cfg.notify.central_bank
    if cb.regulator_public_key:  # checked when the configuration was loaded
        key = ed25519_public_key(cb.regulator_public_key)
        return {key_id_of(key): key}
    if cb.regulator_key_file:
        try:
            key = load_public_key(cfg.path(cb.regulator_key_file))
        except KeyFileError as exc:
            raise ConfigError([f"notify.central_bank.regulator_key_file: {exc}"]) from None
        return {key_id_of(key): key}
    return {}


class TermsInForce:
    """The terms the facility runs under now; safe to read from any thread."""

    def __init__(
        self, cfg: FacilityConfig, ledger: Ledger, counters: Counters, clock: Callable[[], int]
    ) -> None:
        self.cfg = cfg
        self.cb = cfg.notify.central_bank
        self.ledger = ledger
        self.counters = counters
        self.clock = clock
        self.keys = pinned_keys(cfg)
        self._lock = threading.Lock()
        self._refusals_logged: set[tuple[str, str]] = set()
        last = ledger.last_of(ENTRY, cfg.facility.id)
        self.current: VerifiedTerms | None = None if last is None else self._reverify(last)
        #: Set once the terms are known or the first attempt to get them is over: the first
        #: heartbeat waits for it, so a facility that can get its terms never declares the
        #: configuration's interval to the bank.
        self.settled = threading.Event()
        if self.current is not None:
            self.settled.set()

    # what the rest of the notifier asks ---------------------------------------------------------
    @property
    def source(self) -> Literal["licence", "config"]:
        return "config" if self.current is None else "licence"

    @property
    def heartbeat_interval_s(self) -> float:
        cur = self.current
        return self.cb.heartbeat_interval_s if cur is None else cur.doc.heartbeat_interval_s

    def notifiable(self, rule_id: str, profile_says: bool) -> bool:
        """Whether a rule's breaches go to the bank: the terms' list when they name rules, else the
        compliance profile's flag."""
        cur = self.current
        if cur is None or not cur.doc.notifiable:
            return profile_says
        return rule_id in cur.doc.notifiable

    def licence_active(self) -> bool:
        cur = self.current
        return cur is not None and cur.active_at(self.clock())

    def describe(self) -> str:
        cur = self.current
        if cur is None:
            return (
                f"no licence terms received from the regulator: heartbeat every "
                f"{self.cb.heartbeat_interval_s:g} s and the profile's notifiable rules, from "
                "the configuration"
            )
        d = cur.doc
        return (
            f"licence {d.licence_number} terms issued {d.issued_at} (valid until "
            f"{d.valid_until}, {'active' if d.licence_active else 'inactive'}): heartbeat every "
            f"{d.heartbeat_interval_s:g} s, notifiable: {', '.join(d.notifiable) or 'the profile'}"
        )

    # taking new terms ---------------------------------------------------------------------------
    def offer(self, signed: bytes, origin: str) -> VerifiedTerms:
        """Check ``signed`` and, when it is good and newer than the terms in force, ledger it and
        put it in force; raises ``TermsRefused`` (counted, logged once per document and reason)."""
        try:
            terms = self._check(signed)
        except TermsRefused as exc:
            self.counters.inc("terms_refused_total", reason=exc.reason)
            seen = (exc.reason, hashlib.sha256(signed).hexdigest())
            if seen not in self._refusals_logged:
                self._refusals_logged.add(seen)
                log.error(
                    "licence terms from %s refused (%s): %s; the terms in force stay: %s",
                    origin,
                    exc.reason,
                    exc.detail,
                    self.describe(),
                )
            raise
        with self._lock:
            if self.current is not None and self.current.sha256 == terms.sha256:
                return self.current
            d = terms.doc
            self.ledger.append(
                ENTRY,
                {
                    "signed": terms.signed.decode(),
                    "sha256": terms.sha256,
                    "origin": origin,
                    "licence_number": d.licence_number,
                    "licence_active": d.licence_active,
                    "heartbeat_interval_s": d.heartbeat_interval_s,
                    "notifiable": d.notifiable,
                    "valid_until": d.valid_until,
                    "issued_at": d.issued_at,
                },
                at_ns=self.clock(),
                actor=ACTOR,
                subject=self.cfg.facility.id,
            )
            self.current = terms
        self.counters.inc("terms_accepted_total")
        log.warning("licence terms in force (from %s): %s", origin, self.describe())
        return terms

    def on_entry(self, e: Entry) -> None:
        """A ``licence.terms`` entry another process ledgered (``minewatch licence install`` while
        the notifier runs): in force here too, if it is newer."""
        terms = self._reverify(e)
        with self._lock:
            if terms is not None and not self._older(terms):
                self.current = terms

    def _check(self, signed: bytes) -> VerifiedTerms:
        if not self.keys:
            raise TermsRefused(
                "no_pinned_key",
                "no regulator key is pinned (notify.central_bank.regulator_key_file)",
            )
        terms = verify_terms(signed, self.keys, self.cfg.facility.id, self.clock())
        if self._older(terms):
            raise TermsRefused(
                "superseded",
                f"issued {terms.doc.issued_at}, before the terms in force "
                f"({self.current.doc.issued_at if self.current else '-'})",
            )
        return terms

    def _older(self, terms: VerifiedTerms) -> bool:
        cur = self.current
        return cur is not None and terms.doc.issued_at < cur.doc.issued_at

    def _reverify(self, e: Entry) -> VerifiedTerms | None:
        """Terms read back from the ledger are checked again (signature, facility), not their
        validity period: expired terms stay in force until newer ones arrive."""
        try:
            return verify_terms(
                str(e.payload["signed"]).encode(), self.keys, self.cfg.facility.id, None
            )
        except (TermsRefused, KeyError) as exc:
            log.error(
                "ledgered licence terms #%d no longer verify against the pinned regulator key "
                "(%s); they are not used",
                e.seq,
                exc,
            )
            return None


def suspension_actor(cfg: FacilityConfig) -> str:
    """Who switched the channel off, for the signed suspension: the configured name, else the
    account that started the notifier."""
    return "operator:" + (cfg.notify.central_bank.suspended_by or getpass.getuser())


class TermsFetcher(BackgroundThread):
    """Asks the hub for the facility's terms at start and every ``terms_refresh_s``, with a request
    signed by the facility's key; a site that cannot reach the hub keeps its last terms."""

    def __init__(self, terms: TermsInForce, url: str, keys: KeyStore, timeout_s: float) -> None:
        super().__init__("licence-terms")
        self.terms = terms
        self.url = url
        self.keys = keys
        self.timeout_s = timeout_s
        self.refresh_s = terms.cb.terms_refresh_s

    def start(self) -> None:
        self.start_thread()

    def stop(self) -> None:
        self.stop_thread()

    def _run(self) -> None:
        while not self._stop.is_set():
            ok = self.fetch_once()
            self.terms.settled.set()
            self.wake.wait(self.refresh_s if ok else min(self.refresh_s, RETRY_S))
            self.wake.clear()

    def fetch_once(self) -> bool:
        """One request; True when good terms were received (new or the same as in force)."""
        try:
            headers = self.keys.signer().headers(TERMS_REQUEST)
            resp = httpx.get(self.url, headers=headers, timeout=self.timeout_s)
        except (httpx.HTTPError, KeyFileError) as exc:
            self.terms.counters.inc("terms_fetch_failed_total", reason=type(exc).__name__)
            log.warning("licence terms: cannot ask %s: %s", self.url, exc)
            return False
        if resp.status_code != 200:
            self.terms.counters.inc("terms_fetch_failed_total", reason=str(resp.status_code))
            log.warning("licence terms: %s answered %d: %s", self.url, resp.status_code, resp.text)
            return False
        try:
            self.terms.offer(resp.content, "hub")
        except TermsRefused:
            return False
        return True
