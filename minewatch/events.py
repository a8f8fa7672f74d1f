"""In-process event bus: the analyzer and the API publish what happened; the notifier and the
ledger listen. It keeps the analyzer ignorant of who is told.

A payload is JSON-ready, because the ledger hashes and stores it as it is. Typed payloads are
built and read through their models: ``alert.transition`` is
``minewatch.alerting.AlertTransition`` (``to_json()`` to publish, ``AlertTransition.parse`` to
read)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Something that must be recorded and possibly sent: ``kind`` is dotted, e.g.
    ``alert.transition``, ``alert.ack``, ``silence.created``, ``curtailment.order``,
    ``report.issued``, ``config.loaded``."""

    kind: str
    at_ns: int
    actor: str
    subject: str
    payload: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Event], None]


class EventBus:
    """Synchronous fan-out. A failing subscriber is logged and counted, never breaks the
    publisher."""

    def __init__(self) -> None:
        self._subs: list[Subscriber] = []
        self._lock = threading.Lock()
        self.failures = 0

    def subscribe(self, fn: Subscriber) -> None:
        with self._lock:
            self._subs.append(fn)

    def publish(self, event: Event) -> None:
        with self._lock:
            subs = list(self._subs)
        for fn in subs:
            try:
                fn(event)
            except Exception:  # a subscriber's bug must not stop the analyzer loop
                self.failures += 1
                log.exception("event subscriber %r failed on %s %s", fn, event.kind, event.subject)
