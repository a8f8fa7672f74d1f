"""Ed25519 signing of regulator messages, the key files, and the verifier (library and CLI)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.notifier.signing import (
    H_KEY_ID,
    H_SIGNATURE,
    H_TIMESTAMP,
    KeyFileError,
    KeyStore,
    Signer,
    load_public_keys,
    verify_message,
)

BODY = orjson.dumps(
    {
        "message_id": "6f1c7e52-4a0e-4a57-9d0b-8f3f0e3a1d11",
        "idempotency_key": "ik-abc",
        "kind": "breach_opened",
        "value": 91.5,
    }
)


@pytest.fixture
def keys(key_dir: Path) -> KeyStore:
    return KeyStore(key_dir)


def _check(body: bytes, headers: dict[str, str], keys: KeyStore, **kw):
    return verify_message(body, headers, keys.public_keys(), **kw)


def test_valid_message_passes(keys: KeyStore) -> None:
    v = _check(BODY, keys.signer().headers(BODY), keys)
    assert v.valid and v.reason == "ok" and v.key_id == keys.current_id()
    assert v.message_id == "6f1c7e52-4a0e-4a57-9d0b-8f3f0e3a1d11" and v.idempotency_key == "ik-abc"


@pytest.mark.parametrize("pos", [0, len(BODY) // 2, len(BODY) - 1])
def test_any_changed_byte_fails_as_bad_signature(keys: KeyStore, pos: int) -> None:
    headers = keys.signer().headers(BODY)
    body = bytearray(BODY)
    body[pos] ^= 0x01
    v = _check(bytes(body), headers, keys)
    assert (v.valid, v.reason) == (False, "bad_signature")


def test_changed_timestamp_header_fails_as_bad_signature(keys: KeyStore) -> None:
    headers = keys.signer().headers(BODY)
    headers[H_TIMESTAMP] = str(int(headers[H_TIMESTAMP]) + 1)
    assert _check(BODY, headers, keys).reason == "bad_signature"


def test_wrong_key_fails(keys: KeyStore, tmp_path: Path) -> None:
    other = KeyStore(tmp_path / "other")
    other.generate()
    # signed with another key that claims to be ours: the signature does not verify
    forged = other.signer().headers(BODY)
    forged[H_KEY_ID] = keys.current_id()
    assert _check(BODY, forged, keys).reason == "bad_signature"
    # signed with a key the regulator never registered
    v = _check(BODY, other.signer().headers(BODY), keys)
    assert (v.reason, v.valid) == ("unknown_key", False) and other.current_id() in v.detail


def test_old_timestamp_fails_as_stale(keys: KeyStore) -> None:
    old = int(time.time()) - 3600
    v = _check(BODY, keys.signer().headers(BODY, timestamp_s=old), keys)
    assert v.reason == "stale_timestamp" and "window" in v.detail
    # the same message was valid when it was sent
    assert _check(BODY, keys.signer().headers(BODY, timestamp_s=old), keys, now_s=old + 10).valid


def test_replayed_id_fails_as_replayed(keys: KeyStore) -> None:
    processed: set[str] = set()

    def seen(mid: str, key: str | None) -> bool:
        return mid in processed or key in processed

    first = _check(BODY, keys.signer().headers(BODY), keys, seen=seen)
    assert first.valid
    processed.add(first.message_id)
    again = _check(BODY, keys.signer().headers(BODY), keys, seen=seen)  # freshly signed, same id
    assert (again.valid, again.reason) == (False, "replayed")


@pytest.mark.parametrize("drop", [H_KEY_ID, H_TIMESTAMP, H_SIGNATURE])
def test_missing_header_fails(keys: KeyStore, drop: str) -> None:
    headers = keys.signer().headers(BODY)
    del headers[drop]
    v = _check(BODY, headers, keys)
    assert v.reason == "missing_header" and drop in v.detail


def test_header_names_are_case_insensitive(keys: KeyStore) -> None:
    headers = {k.lower(): v for k, v in keys.signer().headers(BODY).items()}
    assert _check(BODY, headers, keys).valid


def test_private_key_file_is_0600_and_never_in_repr(keys: KeyStore) -> None:
    kid = keys.current_id()
    assert (keys.dir / f"{kid}.key").stat().st_mode & 0o777 == 0o600
    signer = keys.signer()
    assert "PRIVATE" not in repr(signer) and kid in repr(signer)


def test_loose_private_key_permissions_are_refused(keys: KeyStore) -> None:
    os.chmod(keys.dir / f"{keys.current_id()}.key", 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        keys.signer()


def test_rotation_keeps_old_public_keys(keys: KeyStore) -> None:
    old_id = keys.current_id()
    old_headers = keys.signer().headers(BODY)
    new_id = keys.generate()
    assert keys.current_id() == new_id != old_id
    assert set(keys.public_keys()) == {old_id, new_id}
    assert _check(BODY, old_headers, keys).valid  # already-signed messages still verify
    assert isinstance(keys.signer(), Signer) and keys.signer().key_id == new_id


# --- CLI -------------------------------------------------------------------------------------

runner = CliRunner()


def test_keys_cli_generate_rotate_show_public(tmp_path: Path) -> None:
    d = tmp_path / "k"
    r = runner.invoke(app, ["keys", "generate", "--key-dir", str(d)])
    assert r.exit_code == 0, r.output
    assert "BEGIN PUBLIC KEY" in r.output and "PRIVATE" not in r.output
    first = KeyStore(d).current_id()
    assert (
        runner.invoke(app, ["keys", "generate", "--key-dir", str(d)]).exit_code == 1
    )  # never overwrite
    r = runner.invoke(app, ["keys", "rotate", "--key-dir", str(d)])
    assert r.exit_code == 0 and first in r.output
    r = runner.invoke(app, ["keys", "show-public", "--key-dir", str(d), "--all"])
    assert r.exit_code == 0 and "(retired)" in r.output and "(current)" in r.output
    assert "PRIVATE" not in r.output and r.output.count("BEGIN PUBLIC KEY") == 2


def test_verify_message_cli(keys: KeyStore, tmp_path: Path) -> None:
    body, hdrs, pub = (
        tmp_path / "body.json",
        tmp_path / "headers.txt",
        keys.dir / f"{keys.current_id()}.pub",
    )
    body.write_bytes(BODY)
    h = keys.signer().headers(BODY)
    hdrs.write_text("HTTP/1.1 POST\n" + "".join(f"{k}: {v}\n" for k, v in h.items()))
    r = runner.invoke(
        app, ["verify-message", "--body", str(body), "--headers", str(hdrs), "-k", str(pub)]
    )
    assert r.exit_code == 0 and r.output.startswith("valid"), r.output
    body.write_bytes(BODY.replace(b"91.5", b"81.5"))
    r = runner.invoke(
        app, ["verify-message", "--body", str(body), "--headers", str(hdrs), "-k", str(keys.dir)]
    )
    assert r.exit_code == 1 and "bad_signature" in r.output
    body.write_bytes(BODY)
    hdrs.write_text(json.dumps(keys.signer().headers(BODY, timestamp_s=1_700_000_000)))
    r = runner.invoke(
        app, ["verify-message", "--body", str(body), "--headers", str(hdrs), "-k", str(pub)]
    )
    assert r.exit_code == 1 and "stale_timestamp" in r.output


def test_load_public_keys_names_the_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.pub"
    bad.write_text("not a key")
    with pytest.raises(KeyFileError, match=r"x\.pub"):
        load_public_keys([bad])


def test_id_headers_must_match_the_body(keys: KeyStore) -> None:
    headers = {**keys.signer().headers(BODY), "Idempotency-Key": "ik-other"}
    v = _check(BODY, headers, keys)
    assert v.reason == "invalid_body" and "Idempotency-Key" in v.detail
