"""The hub under test: on SQLite or on the session's real PostgreSQL, served by uvicorn on a free
port, with the facility of ``tests.support.notify.facility_config`` registered and its key bound."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from minewatch.hub.register import Licence, LicenceTerms
from minewatch.hub.service import Hub
from minewatch.notifier import regulator as reg
from minewatch.notifier.signing import KeyStore, public_pem
from tests.support.notify import UvicornThread

FACILITY = "ashgabat-01"
LICENCE = "TM-CB-2026-0042"
STAFF = {
    "MINEWATCH_HUB_ANALYST_TOKEN": "analyst-token",
    "MINEWATCH_HUB_SUPERVISOR_TOKEN": "sup-token",
}
ANALYST = {"Authorization": "Bearer analyst-token"}


def register_facility(
    hub: Hub,
    key_dir: Path,
    *,
    facility: str = FACILITY,
    licence: str = LICENCE,
    heartbeat_interval_s: float = 60.0,
) -> str:
    """Register ``facility`` with the current key of ``key_dir``; the key id."""
    hub.register.register(
        Licence(
            facility_id=facility,
            licence_number=licence,
            holder=f"{facility} LLC",
            capacity_kw=5000,
            terms=LicenceTerms(heartbeat_interval_s=heartbeat_interval_s),
        )
    )
    keys = KeyStore(key_dir)
    kid = keys.current_id()
    assert kid is not None
    return hub.register.add_key(facility, public_pem(keys.public_keys()[kid]), valid_from_ns=0)


def signed(key_dir: Path, msg: reg.RegulatorMessage | bytes) -> tuple[bytes, dict[str, str]]:
    body = msg if isinstance(msg, bytes) else reg.encode(msg)
    return body, KeyStore(key_dir).signer().headers(body)


@dataclass
class HubServer:
    hub: Hub

    def __post_init__(self) -> None:
        self.server = UvicornThread(self.hub.app)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/v1/messages"

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.base + path, headers=ANALYST, timeout=10, **kw)

    def kinds(self) -> list[str]:
        return [m["kind"] for m in reversed(self.timeline()["messages"])]

    def timeline(self) -> dict[str, Any]:
        return self.get(f"/v1/facilities/{FACILITY}/timeline").json()

    def findings(self, kind: str | None = None) -> list[dict[str, Any]]:
        rows = self.get("/v1/findings").json()
        return [f for f in rows if kind is None or f["kind"] == kind]


def wait_kinds(server: HubServer, *kinds: str, timeout_s: float = 20.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        got = server.kinds()
        if all(k in got for k in kinds) or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def hub_notifier(
    tmp_path: Path, url: str, key_dir: Path, *, bus: Any = None, **central: Any
) -> Any:
    """A notifier whose central bank is ``url``, fast retries, no daily report."""
    from minewatch.notifier.service import Notifier
    from tests.support.notify import facility_config, fast_backoff

    cfg = facility_config(
        tmp_path,
        notify={
            "central_bank": {
                "enabled": True,
                "url": url,
                "key_dir": str(key_dir),
                "backoff": fast_backoff(),
                "heartbeat_interval_s": 3600,
                "daily_report_at": None,
                "timeout_s": 2,
                **central,
            },
            "poll_interval_s": 0.05,
        },
    )
    return Notifier(cfg, bus)


def audit_verify(state_db: Path) -> tuple[int, str]:
    """``minewatch audit verify --db state_db``: exit code and output."""
    from typer.testing import CliRunner

    from minewatch.cli import app

    r = CliRunner().invoke(app, ["audit", "verify", "--db", str(state_db)])
    return r.exit_code, r.output
