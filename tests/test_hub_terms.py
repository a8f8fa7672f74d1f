"""The hub issues licence terms signed by the regulator: to the facility that asks with a request
signed by its registered key (real server over HTTP, both storage engines), or as a file for an
offline site; every refusal is a 4xx naming its reason."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.hub.register import Licence
from minewatch.notifier.licence import TERMS_REQUEST, json_schemas, verify_terms
from minewatch.notifier.signing import KeyStore, key_id_of, load_public_key
from tests.support.notify_hub import FACILITY, LICENCE, HubServer

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def _regulator(hub: HubServer) -> dict:
    key = load_public_key(next(hub.regulator_keys.glob("*.pub")))
    return {key_id_of(key): key}


def _ask(hub: HubServer, key_dir: Path, **sign: int) -> httpx.Response:
    headers = KeyStore(key_dir).signer().headers(TERMS_REQUEST, **sign)
    return httpx.get(hub.terms_url, headers=headers, timeout=10)


def test_terms_served_signed_by_the_regulator(hub: HubServer, key_dir: Path) -> None:
    r = _ask(hub, key_dir)
    assert r.status_code == 200, r.text
    terms = verify_terms(r.content, _regulator(hub), FACILITY, time.time_ns())
    d = terms.doc
    assert (d.facility_id, d.licence_number, d.licence_active) == (FACILITY, LICENCE, True)
    assert d.heartbeat_interval_s == 60.0 and d.notifiable == []
    assert d.valid_from <= d.issued_at < d.valid_until


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_header"),
        (
            {
                "X-Minewatch-Key-Id": "mw-0000",
                "X-Minewatch-Timestamp": "1",
                "X-Minewatch-Signature": "x",
            },
            "unknown_key",
        ),
    ],
)
def test_unauthenticated_requests_are_refused(
    hub: HubServer, headers: dict[str, str], reason: str
) -> None:
    r = httpx.get(hub.terms_url, headers=headers, timeout=10)
    assert (r.status_code, r.json()["reason"]) == (401, reason)


def test_stale_and_forged_requests_are_refused(hub: HubServer, key_dir: Path) -> None:
    r = _ask(hub, key_dir, timestamp_s=int(time.time()) - 3600)
    assert (r.status_code, r.json()["reason"]) == (401, "stale_timestamp")
    headers = KeyStore(key_dir).signer().headers(b"GET /v1/something-else")
    r = httpx.get(hub.terms_url, headers=headers, timeout=10)
    assert (r.status_code, r.json()["reason"]) == (401, "bad_signature")


def test_terms_follow_the_register(hub: HubServer, key_dir: Path) -> None:
    """A term the regulator changes is in the next issue; a revoked licence says so."""
    hub.hub.register.register(
        Licence(
            facility_id=FACILITY,
            licence_number=LICENCE,
            holder="x",
            capacity_kw=5000,
            terms={"heartbeat_interval_s": 30, "notifiable": ["EL-01"]},
        )
    )
    d = verify_terms(_ask(hub, key_dir).content, _regulator(hub), FACILITY, time.time_ns()).doc
    assert (d.heartbeat_interval_s, d.notifiable) == (30.0, ["EL-01"])


def test_issue_terms_file_for_an_offline_site(hub_url: str, hub: HubServer, tmp_path: Path) -> None:
    out = tmp_path / "terms.json"
    args = ["hub", "issue-terms", "--db", hub_url, "--regulator-keys", str(hub.regulator_keys)]
    r = CliRunner().invoke(app, [*args, "--facility", FACILITY, "--out", str(out)])
    assert r.exit_code == 0, r.output
    d = verify_terms(out.read_bytes(), _regulator(hub), FACILITY, time.time_ns()).doc
    assert d.licence_number == LICENCE
    r = CliRunner().invoke(app, [*args, "--facility", "nobody", "--out", str(out)])
    assert r.exit_code != 0 and "not registered" in str(r.exception or r.output)


def test_regulator_key_command_prints_the_pinned_key(tmp_path: Path) -> None:
    folder = tmp_path / "reg"
    first = CliRunner().invoke(app, ["hub", "regulator-key", "--regulator-keys", str(folder)])
    again = CliRunner().invoke(app, ["hub", "regulator-key", "--regulator-keys", str(folder)])
    assert first.exit_code == 0 and first.output.startswith("-----BEGIN PUBLIC KEY-----")
    assert again.output == first.output  # generated once, then kept
    assert oct(next(folder.glob("*.key")).stat().st_mode & 0o777) == "0o600"


def test_shipped_terms_schemas_are_the_models() -> None:
    for name, schema in json_schemas().items():
        assert json.loads((SCHEMAS / f"{name}.schema.json").read_text()) == schema
