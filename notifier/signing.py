"""Ed25519 signing of regulator messages, the facility's key files, and the receiver-side check.

The signature covers ``<timestamp>.`` followed by the exact body bytes, so neither the body nor
the timestamp header can be changed without detection; the receiver rejects timestamps outside a
window and message ids it has already processed (replay protection). Keys are named by a
fingerprint of the public key, so a regulator holding several keys of one facility (after
rotation) picks the right one from the ``X-Minewatch-Key-Id`` header. Private key material is
never logged or printed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

H_KEY_ID = "X-Minewatch-Key-Id"
H_TIMESTAMP = "X-Minewatch-Timestamp"
H_SIGNATURE = "X-Minewatch-Signature"
H_MESSAGE_ID = "X-Minewatch-Message-Id"
H_IDEMPOTENCY = "Idempotency-Key"
SIGNATURE_PREFIX = "ed25519="
DEFAULT_WINDOW_S = 300


class KeyFileError(Exception):
    """A key file is missing, unreadable or not an Ed25519 key (message names the file)."""


def key_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "mw-" + hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"{path}: cannot load public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: not an Ed25519 public key")
    return key


def load_public_keys(paths: list[Path]) -> dict[str, Ed25519PublicKey]:
    """Public keys from files or folders (every ``*.pub`` in a folder), by key id."""
    keys: dict[str, Ed25519PublicKey] = {}
    for p in paths:
        for f in sorted(p.glob("*.pub")) if p.is_dir() else [p]:
            k = load_public_key(f)
            keys[key_id_of(k)] = k
    return keys


class KeyStore:
    """The facility's signing keys in one folder: ``<key_id>.key`` (PKCS#8 PEM, mode 0600),
    ``<key_id>.pub`` (SubjectPublicKeyInfo PEM) and ``current`` (the key id in use)."""

    def __init__(self, key_dir: Path) -> None:
        self.dir = Path(key_dir)

    @property
    def _current_file(self) -> Path:
        return self.dir / "current"

    def current_id(self) -> str | None:
        try:
            return self._current_file.read_text().strip() or None
        except FileNotFoundError:
            return None

    def generate(self) -> str:
        """Create a new key pair and make it current; returns its key id. Older keys stay
        (retired)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        priv = Ed25519PrivateKey.generate()
        kid = key_id_of(priv.public_key())
        pem = priv.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        key_file = self.dir / f"{kid}.key"
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        (self.dir / f"{kid}.pub").write_text(public_pem(priv.public_key()))
        tmp = self.dir / "current.tmp"
        tmp.write_text(kid + "\n")
        tmp.replace(self._current_file)
        return kid

    def signer(self) -> Signer:
        kid = self.current_id()
        if kid is None:
            raise KeyFileError(f"{self.dir}: no signing key; run `minewatch keys generate`")
        path = self.dir / f"{kid}.key"
        try:
            mode = path.stat().st_mode & 0o777
            if mode & 0o077:
                raise KeyFileError(
                    f"{path}: private key is readable by others (mode {mode:o}); chmod 600 it"
                )
            priv = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise KeyFileError(
                f"{path}: cannot load private key: {exc.__class__.__name__}"
            ) from None
        if not isinstance(priv, Ed25519PrivateKey):
            raise KeyFileError(f"{path}: not an Ed25519 private key")
        return Signer(kid, priv)

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        return load_public_keys([self.dir]) if self.dir.is_dir() else {}


class Signer:
    def __init__(self, key_id: str, private_key: Ed25519PrivateKey) -> None:
        self.key_id = key_id
        self._key = private_key

    def __repr__(self) -> str:  # never show key material
        return f"Signer(key_id={self.key_id!r})"

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        """A detached signature over ``data``: report files, licence terms (callers add their own
        domain tag where one is needed)."""
        return self._key.sign(data)

    def headers(self, body: bytes, *, timestamp_s: int | None = None) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp_s is None else timestamp_s)
        sig = self._key.sign(signing_input(ts, body))
        return {
            H_KEY_ID: self.key_id,
            H_TIMESTAMP: ts,
            H_SIGNATURE: SIGNATURE_PREFIX + base64.b64encode(sig).decode(),
        }


def signing_input(timestamp: str, body: bytes) -> bytes:
    return timestamp.encode("ascii") + b"." + body


@dataclass(frozen=True, slots=True)
class Verdict:
    """Outcome of a check. ``reason`` is a stable code (see docs/regulator-api.md), ``detail``
    for humans."""

    valid: bool
    reason: str
    detail: str = ""
    key_id: str | None = None
    message_id: str | None = None
    idempotency_key: str | None = None

    def __str__(self) -> str:
        return "valid" if self.valid else f"invalid: {self.reason}: {self.detail}"


def verify_signed(
    body: bytes,
    headers: Mapping[str, str],
    public_keys: Mapping[str, Ed25519PublicKey],
    *,
    now_s: float | None = None,
    window_s: float = DEFAULT_WINDOW_S,
) -> Verdict:
    """Steps 1-5 of the published check: headers present, key known, signature over timestamp and
    body, timestamp within ``window_s``. A facility's signed request (``GET /v1/licence-terms``
    signs its request line as the body) is authenticated by exactly this."""
    h = {k.lower(): v for k, v in headers.items()}
    missing = [n for n in (H_KEY_ID, H_TIMESTAMP, H_SIGNATURE) if n.lower() not in h]
    if missing:
        return Verdict(False, "missing_header", f"missing {', '.join(missing)}")
    kid, ts, sig_txt = h[H_KEY_ID.lower()], h[H_TIMESTAMP.lower()], h[H_SIGNATURE.lower()]
    key = public_keys.get(kid)
    if key is None:
        # never list the registered ids: which keys the bank knows is not the sender's business
        return Verdict(False, "unknown_key", f"key id {kid[:80]!r} is not registered", kid[:80])
    # ASCII digits only: str.isdigit() also accepts superscripts ("²") that int() refuses
    if not (ts.isascii() and ts.isdigit() and len(ts) <= 12):
        return Verdict(
            False,
            "malformed_timestamp",
            f"{H_TIMESTAMP} must be integer seconds, got {ts[:40]!r}",
            kid,
        )
    if not sig_txt.startswith(SIGNATURE_PREFIX):
        return Verdict(
            False, "malformed_signature", f"{H_SIGNATURE} must start with {SIGNATURE_PREFIX!r}", kid
        )
    try:
        sig = base64.b64decode(sig_txt[len(SIGNATURE_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return Verdict(False, "malformed_signature", f"{H_SIGNATURE} is not base64", kid)
    try:
        key.verify(sig, signing_input(ts, body))
    except InvalidSignature:
        return Verdict(
            False,
            "bad_signature",
            "signature does not match body and timestamp for this key "
            "(message altered or signed with another key)",
            kid,
        )
    now = time.time() if now_s is None else now_s
    age = now - int(ts)
    if abs(age) > window_s:
        return Verdict(
            False,
            "stale_timestamp",
            f"timestamp is {age:+.0f} s from now; window is +/-{window_s:.0f} s",
            kid,
        )
    return Verdict(True, "ok", "", kid)


def verify_message(
    body: bytes,
    headers: Mapping[str, str],
    public_keys: Mapping[str, Ed25519PublicKey],
    *,
    now_s: float | None = None,
    window_s: float = DEFAULT_WINDOW_S,
    seen: Callable[[str, str | None], bool] | None = None,
) -> Verdict:
    """Check one received message: headers present, key known, signature over timestamp and body,
    timestamp within ``window_s`` of now, body a JSON object whose ids match the headers, and
    (with ``seen``) that its message id / idempotency key was not processed before."""
    verdict = verify_signed(body, headers, public_keys, now_s=now_s, window_s=window_s)
    if not verdict.valid:
        return verdict
    h = {k.lower(): v for k, v in headers.items()}
    kid = h[H_KEY_ID.lower()]
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return Verdict(False, "invalid_body", f"body is not JSON: {exc}", kid)
    if not isinstance(doc, dict) or not isinstance(doc.get("message_id"), str):
        return Verdict(
            False, "invalid_body", "body must be a JSON object with a string message_id", kid
        )
    mid, ikey = doc["message_id"], doc.get("idempotency_key")
    for name, value in ((H_MESSAGE_ID, mid), (H_IDEMPOTENCY, ikey)):
        sent = h.get(name.lower())
        if sent is not None and sent != value:
            return Verdict(
                False,
                "invalid_body",
                f"header {name} {sent!r} differs from the body's {value!r}",
                kid,
            )
    if seen is not None and seen(mid, ikey if isinstance(ikey, str) else None):
        return Verdict(
            False,
            "replayed",
            f"message {mid} (idempotency key {ikey}) was already processed",
            kid,
            mid,
            ikey,
        )
    return Verdict(True, "ok", "", kid, mid, ikey if isinstance(ikey, str) else None)
