"""The API as a long-running part (start/stop/stats), so the runtime can stop it in order.

uvicorn runs in its own thread: off the main thread it installs no signal handlers, which leaves
SIGINT/SIGTERM to the runtime (uvicorn would otherwise re-raise them after shutdown and the
process would not exit 0).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)


class ApiServer:
    def __init__(self, app: FastAPI, host: str, port: int, name: str = "api-server") -> None:
        self.app = app
        self.name = name
        self.host = host
        self.port = port
        # access_log off: uvicorn logs query strings; api.app logs paths only (tokens never logged).
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=5,
                log_config=None,
            )
        )
        self._thread: threading.Thread | None = None
        self._started_at: float | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.run, name=self.name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.name} could not listen on {self.host}:{self.port} "
                    f"(port in use or not allowed?)"
                )
            time.sleep(0.05)
        if self.port == 0:  # the OS chose: report the real one
            self.port = self._server.servers[0].sockets[0].getsockname()[1]
        self._started_at = time.monotonic()
        log.info("%s listening on %s", self.name, self.url)

    def stop(self) -> None:
        """Ends the live streams first (they never end on their own), then the server;
        idempotent."""
        hub = getattr(
            self.app.state, "hub", None
        )  # the minewatch API's live streams (the demo's receiver has none)
        if hub is not None:
            hub.close()
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join(15)
            self._thread = None

    def stats(self) -> dict[str, Any]:
        running = self._thread is not None and self._thread.is_alive()
        return {
            "url": self.url,
            "running": running,
            "uptime_s": round(time.monotonic() - self._started_at, 1)
            if running and self._started_at
            else 0,
        }
