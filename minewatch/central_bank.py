"""The demo's central bank: the reference receiver (``minewatch.notifier.receiver``) served on a
loopback port by the api's server.

``minewatch demo`` gives the facility a fresh Ed25519 signing key, registers its public key with
this receiver (a copy in the receiver's own key folder, as a regulator would hold it) and points
``notify.central_bank`` here, so a regulator-notifiable breach in the demo travels the real path:
ledgered, queued, signed, delivered, verified and stored exactly once (docs/regulator-api.md).

It joins the notifier's receiver, the api's server and the simulator's port picker, so it is wiring
and lives in the composition root beside ``runtime``, not in the simulator (which then imports
neither api nor notifier).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from minewatch.api.server import ApiServer
from minewatch.config.notify import CentralBankSettings
from minewatch.notifier.receiver import ReceiverStore, create_app
from minewatch.notifier.signing import KeyStore
from minewatch.simulator.modbus_runner import loopback_port

#: Heartbeats every minute, so a few minutes of demo show the channel alive at the receiver.
DEMO_HEARTBEAT_S = 60.0


class SimCentralBank:
    """A long-running part (``start``/``stop``/``stats``) holding the receiver's database in
    ``folder``."""

    def __init__(self, folder: Path, facility_key_dir: Path, host: str = "127.0.0.1") -> None:
        self.facility_key_dir = facility_key_dir
        keys = KeyStore(facility_key_dir)
        kid = keys.current_id() or keys.generate()
        self.key_id = kid
        registered = folder / "facility-keys"
        registered.mkdir(parents=True, exist_ok=True)
        shutil.copy(facility_key_dir / f"{kid}.pub", registered / f"{kid}.pub")
        self.store = ReceiverStore(folder / "receiver.db")
        self.server = ApiServer(
            create_app(self.store, [registered]), host, loopback_port(), name="central-bank"
        )

    @property
    def url(self) -> str:
        """Where the facility POSTs its messages (a GET lists what the receiver stored)."""
        return f"{self.server.url}/v1/messages"

    def settings(self, current: CentralBankSettings) -> CentralBankSettings:
        """The facility's ``notify.central_bank`` section, pointed at this receiver. No daily
        report: the demo facility did not exist yesterday, and building an empty day's report at
        start would only delay the first breach behind it (messages are delivered in order)."""
        return current.model_copy(
            update={
                "enabled": True,
                "url": self.url,
                "key_dir": str(self.facility_key_dir),
                "heartbeat_interval_s": DEMO_HEARTBEAT_S,
                "daily_report_at": None,
            }
        )

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        self.store.close()

    def stats(self) -> dict[str, Any]:
        """What the receiver stored (only verified messages are) and what it rejected."""
        received = self.store.facilities(time.time_ns())
        with self.store.lock:
            by_kind = dict(
                self.store.conn.execute(
                    "SELECT kind, COUNT(*) FROM received GROUP BY kind"
                ).fetchall()
            )
            rejected = self.store.conn.execute("SELECT COUNT(*) FROM rejected").fetchone()[0]
        return {
            "url": self.url,
            "key_id": self.key_id,
            "stored_by_kind": by_kind,
            "rejected": rejected,
            "facilities": received,
        }
