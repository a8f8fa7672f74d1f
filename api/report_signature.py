"""Detached Ed25519 signatures of report files, and their verification (``minewatch
verify-report``).

A file cannot state its own SHA-256 or carry a signature over all of its bytes, so each download
(PDF, JSON, CSV) comes with a small signature file, ``<name>.sig`` (JSON): the file's SHA-256 and
size, the facility key's id and public key, and the Ed25519 signature over the file's exact bytes.
``sha256sum report.pdf`` gives the same hash the ``.sig`` states. The public key inside the ``.sig``
proves the file was not changed; that it came from the facility is shown by its key id matching the
key registered with the central bank (``--key`` checks against that key file).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from minewatch.i18n import gettext_for
from minewatch.notifier.signing import Signer, key_id_of, load_public_keys, public_pem

FORMAT = "minewatch.signature/1"


def sign_file(name: str, data: bytes, signer: Signer, signed_at: str) -> dict[str, Any]:
    """The ``.sig`` document for ``data`` (the exact bytes served as ``name``)."""
    return {
        "format": FORMAT,
        "file": name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "algorithm": "ed25519",
        "key_id": signer.key_id,
        "public_key": public_pem(signer.public_key),
        "signature": base64.b64encode(signer.sign(data)).decode(),
        "signed_at": signed_at,
    }


def sig_bytes(sig: dict[str, Any]) -> bytes:
    return orjson.dumps(sig, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


@dataclass(frozen=True)
class Verification:
    valid: bool
    sha256: str
    key_id: str | None
    #: What was checked or why it failed, one line each (printed by ``verify-report``).
    lines: tuple[str, ...]
    #: True when the key came from a trusted key file, not from the ``.sig`` itself.
    trusted_key: bool = False


def _embedded_key(sig: dict[str, Any]) -> Ed25519PublicKey | None:
    try:
        key = serialization.load_pem_public_key(str(sig.get("public_key", "")).encode())
    except ValueError:
        return None
    return key if isinstance(key, Ed25519PublicKey) else None


def verify_file(
    data: bytes, sig: dict[str, Any], trusted: list[Path] | None = None, lang: str = "en"
) -> Verification:
    """Check ``data`` against its ``.sig``: its SHA-256, the key id and the signature; the lines say
    what was checked in ``lang``.

    With ``trusted`` (public key files or folders of ``*.pub``) the key must be one of them;
    without, the ``.sig``'s own public key is used and the result says so.
    """
    _ = gettext_for(lang)
    digest = hashlib.sha256(data).hexdigest()
    lines: list[str] = [_("SHA-256 of the file: {sha256}").format(sha256=digest)]
    kid = str(sig.get("key_id"))

    def refused(reason: str) -> Verification:
        return Verification(False, digest, kid, (*lines, reason))

    if sig.get("format") != FORMAT:
        return refused(_("not a {format} signature file").format(format=FORMAT))
    if sig.get("sha256") != digest:
        return refused(
            _("MISMATCH: the signature file states SHA-256 {sha256}").format(
                sha256=sig.get("sha256")
            )
        )
    lines.append(_("SHA-256 matches the signature file"))
    if trusted:
        keys = load_public_keys(trusted)
        key = keys.get(kid)
        if key is None:
            return refused(
                _("key {key} is not among the trusted keys ({known})").format(
                    key=kid, known=", ".join(sorted(keys)) or _("none")
                )
            )
    else:
        key = _embedded_key(sig)
        if key is None or key_id_of(key) != kid:
            return refused(
                _("the signature file's public key does not have key id {key}").format(key=kid)
            )
    try:
        key.verify(base64.b64decode(str(sig.get("signature", "")), validate=True), data)
    except (InvalidSignature, binascii.Error, ValueError):
        return refused(
            _("INVALID: the Ed25519 signature does not verify with key {key}").format(key=kid)
        )
    if trusted:
        lines.append(_("signature valid, made with trusted key {key}").format(key=kid))
    else:
        lines.append(
            _(
                "signature valid, made with key {key} (taken from the signature file: compare "
                "this key id with the facility key registered at the central bank, or pass --key)"
            ).format(key=kid)
        )
    return Verification(True, digest, kid, tuple(lines), trusted_key=bool(trusted))
