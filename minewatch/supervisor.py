"""Starting a set of long-running parts in order, stopping them in reverse, on a signal.

Every part exposes ``start()`` (non-blocking), ``stop()`` (idempotent, joins, flushes) and
``stats()``; the supervisor knows nothing else about them, so ``demo``, ``run`` and ``serve`` are
just different lists of parts.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Part(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def stats(self) -> dict[str, Any]: ...


@dataclass
class Supervisor:
    parts: list[tuple[str, Part]] = field(default_factory=list)
    _started: list[tuple[str, Part]] = field(default_factory=list)
    stop_requested: threading.Event = field(default_factory=threading.Event)

    def add(self, name: str, part: Part) -> Part:
        self.parts.append((name, part))
        return part

    def start_all(self) -> None:
        """Start in order; if one fails, stop those already started and re-raise."""
        for name, part in self.parts:
            try:
                part.start()
            except BaseException:
                log.error("%s failed to start; stopping the parts already running", name)
                self.stop_all()
                raise
            self._started.append((name, part))
            log.info("started %s", name)

    def stop_all(self) -> None:
        """Stop in reverse start order; a part that fails to stop is logged and the rest still
        stop."""
        while self._started:
            name, part = self._started.pop()
            try:
                part.stop()
                log.info("stopped %s", name)
            except Exception:
                log.exception("%s failed to stop cleanly", name)

    def run(self, on_started: Callable[[], None] | None = None) -> int:
        """Start everything, wait for SIGINT/SIGTERM, stop everything; 0 on a clean stop.

        The signal handlers stay installed until every part has stopped, so a second Ctrl-C (or a
        terminal sending SIGINT to the whole process group) cannot interrupt the orderly stop.
        """
        received: list[int] = []

        def handler(signum: int, _frame: object) -> None:
            if received:
                log.warning(
                    "%s received while stopping; still stopping", signal.Signals(signum).name
                )
            received.append(signum)
            self.stop_requested.set()

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start_all()
            if on_started is not None:
                on_started()
            try:
                while not self.stop_requested.wait(0.5):
                    pass
                if received:
                    log.info("received %s, stopping", signal.Signals(received[0]).name)
            finally:
                self.stop_all()
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
        return 0
