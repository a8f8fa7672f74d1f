"""The demo's central bank: ``minewatch hub`` (``minewatch.hub``) on an embedded SQLite file, served
on a loopback port by the api's server.

``minewatch demo`` gives the facility a fresh Ed25519 signing key, registers the facility in the
hub's register (licence, capacity, the regulator's heartbeat interval) with that key bound to it,
and points ``notify.central_bank`` here, so a regulator-notifiable breach in the demo travels the
real path: ledgered, queued in sequence, signed, delivered, verified, checked against the facility's
chain and stored exactly once (docs/hub.md). The demo needs no PostgreSQL: the same hub code runs on
SQLite; production points ``minewatch hub serve`` at PostgreSQL.

It joins the hub, the api's server and the simulator's port picker, so it is wiring and lives in the
composition root beside ``runtime``, not in the simulator.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from minewatch.api.server import ApiServer
from minewatch.config.facility import FacilityConfig
from minewatch.config.notify import CentralBankSettings
from minewatch.hub import status
from minewatch.hub.app import create_app
from minewatch.hub.register import Licence, LicenceTerms
from minewatch.hub.service import Hub
from minewatch.notifier.signing import KeyStore, public_pem
from minewatch.simulator.modbus_runner import loopback_port

#: Heartbeats every minute (a licence term the hub sets), so a few minutes of demo show the
#: channel alive at the bank.
DEMO_HEARTBEAT_S = 60.0


class SimCentralBank:
    """A long-running part (``start``/``stop``/``stats``) holding the hub's database in ``folder``;
    ``token`` is the demo's analyst token for the hub's staff API and page."""

    def __init__(
        self, folder: Path, facility_key_dir: Path, cfg: FacilityConfig, host: str = "127.0.0.1"
    ) -> None:
        self.facility_key_dir = facility_key_dir
        keys = KeyStore(facility_key_dir)
        self.key_id = keys.current_id() or keys.generate()
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.hub = Hub(str(folder / "hub.db"), regulator_keys=folder / "regulator-keys")
        self.hub.register.register(
            Licence(
                facility_id=cfg.facility.id,
                licence_number=cfg.licence.number,
                holder=cfg.facility.name,
                capacity_kw=cfg.licence.capacity_kw,
                terms=LicenceTerms(heartbeat_interval_s=DEMO_HEARTBEAT_S),
            )
        )
        self.hub.register.add_key(
            cfg.facility.id, public_pem(keys.public_keys()[self.key_id]), valid_from_ns=0
        )
        self.token = secrets.token_urlsafe(24)
        tokens = {"analyst": self.token, "supervisor": ""}
        self.server = ApiServer(
            create_app(self.hub.ingestor, tokens=lambda: tokens, terms=self.hub.terms),
            host,
            loopback_port(),
            name="central-bank",
        )

    @property
    def url(self) -> str:
        """Where the facility POSTs its messages (a GET with the staff token lists them)."""
        return f"{self.server.url}/v1/messages"

    def settings(self, current: CentralBankSettings) -> CentralBankSettings:
        """The facility's ``notify.central_bank`` section, pointed at this hub and pinning its
        regulator key (the facility takes its licence terms from the hub). No daily report: the demo
        facility did not exist yesterday, and building an empty day's report at start would only
        delay the first breach behind it (messages are delivered in order)."""
        regulator = KeyStore(self.folder / "regulator-keys")
        kid = regulator.current_id()
        assert kid is not None  # the hub made it
        return current.model_copy(
            update={
                "enabled": True,
                "url": self.url,
                "regulator_public_key": public_pem(regulator.public_keys()[kid]),
                "key_dir": str(self.facility_key_dir),
                "heartbeat_interval_s": DEMO_HEARTBEAT_S,
                "daily_report_at": None,
            }
        )

    def start(self) -> None:
        self.hub.start()
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        self.hub.stop()

    def stats(self) -> dict[str, Any]:
        """What the hub stored (only verified messages are), what it refused, what it found."""
        db = self.hub.db
        by_kind: dict[str, int] = dict(
            db.query("SELECT kind, COUNT(*) FROM messages GROUP BY kind")
        )
        rejected = db.query("SELECT COUNT(*) FROM rejections")[0][0]
        return {
            "url": self.url,
            "key_id": self.key_id,
            "stored_by_kind": by_kind,
            "rejected": rejected,
            "facilities": status.facilities(db, time.time_ns()),
        }
