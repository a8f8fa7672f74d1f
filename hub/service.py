"""The hub as a long-running part (``start``/``stop``/``stats``): its database, migrated at start,
the ingest, and a sweeper that raises ``silent`` findings for facilities whose heartbeat is late.
The HTTP server is whoever serves ``app`` (``minewatch hub serve``, or the demo's wiring)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastapi import FastAPI

from minewatch.hub.app import create_app
from minewatch.hub.db import Database
from minewatch.hub.ingest import Ingestor
from minewatch.hub.migrations import migrate
from minewatch.hub.register import Register
from minewatch.hub.status import sweep_silent
from minewatch.sample import now_ns

log = logging.getLogger(__name__)


class Hub:
    def __init__(self, db_url: str, *, window_s: float = 300.0, sweep_s: float = 15.0) -> None:
        self.db = Database(db_url)
        self.schema_version = migrate(self.db)
        self.ingestor = Ingestor(self.db, window_s=window_s)
        self.register = Register(self.db)
        self.app: FastAPI = create_app(self.ingestor)
        self.sweep_s = sweep_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.silent = 0

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._sweep, name="hub-sweeper", daemon=True)
            self._thread.start()

    def _sweep(self) -> None:
        while not self._stop.wait(self.sweep_s):
            try:
                self.silent = sweep_silent(self.db, now_ns())
            except Exception:  # the database hiccuped: try again at the next sweep
                log.exception("hub: silence sweep failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.db.close()

    def stats(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "dialect": self.db.dialect,
            "silent_facilities": self.silent,
            "counters": self.ingestor.counters.snapshot(),
        }
