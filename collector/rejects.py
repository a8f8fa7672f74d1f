"""Bookkeeping for rejected input: count by reason, log without flooding, keep raw copies to
inspect.

Shared by every collector so that bad input reads the same whichever transport brought it.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections import deque
from typing import Any, Protocol

from minewatch.counters import Counters

#: Raw payload bytes kept per rejected message (enough to see what a firmware sent).
RAW_KEEP_BYTES = 2048


class RejectLike(Protocol):
    @property
    def reason(self) -> str: ...
    @property
    def device(self) -> str: ...
    @property
    def field(self) -> str: ...
    @property
    def detail(self) -> str: ...


class RateLimitedLog:
    """At most ``burst`` lines per ``window_s`` per key; the next line after a quiet spell says how
    many were suppressed, so a flood of bad payloads costs one line per window instead of one per
    message."""

    def __init__(
        self,
        logger: logging.Logger,
        burst: int = 5,
        window_s: float = 10.0,
        clock: Any = time.monotonic,
    ) -> None:
        self.logger, self.burst, self.window_s, self.clock = logger, burst, window_s, clock
        self._state: dict[
            str, list[float | int]
        ] = {}  # key -> [window_start, lines_in_window, suppressed]
        self._lock = threading.Lock()

    def warning(self, key: str, msg: str) -> bool:
        """Log ``msg`` unless ``key`` is over its budget; True when it was logged."""
        now = self.clock()
        with self._lock:
            st = self._state.setdefault(key, [now, 0, 0])
            if now - st[0] >= self.window_s:
                st[0], st[1] = now, 0
            if st[1] >= self.burst:
                st[2] += 1
                return False
            st[1] += 1
            suppressed, st[2] = int(st[2]), 0
        self.logger.warning(
            "%s%s", msg, f" ({suppressed} similar line(s) suppressed)" if suppressed else ""
        )
        return True


class RejectTracker:
    """Counts rejections under ``rejected_total{reason}``, logs them rate-limited per reason, and
    keeps the last ``keep`` unparseable payloads (raw, truncated) for ``recent()``."""

    def __init__(self, counters: Counters, logger: logging.Logger, keep: int = 100) -> None:
        self.counters = counters
        self.log = RateLimitedLog(logger)
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def record(self, reject: RejectLike, source: str) -> None:
        self.counters.inc("rejected_total", reason=reject.reason)
        self.log.warning(reject.reason, f"rejected from {source}: {reject}")

    def keep_raw(self, reject: RejectLike, source: str, raw: bytes, at_ns: int) -> None:
        """Store a raw copy of a payload nothing could be read from."""
        if self._recent.maxlen == 0:
            return
        head = raw[:RAW_KEEP_BYTES]
        try:
            text, encoding = head.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(head).decode("ascii"), "base64"
        entry = {
            "at_ns": at_ns,
            "source": source,
            "device": reject.device,
            "reason": reject.reason,
            "detail": reject.detail,
            "size": len(raw),
            "truncated": len(raw) > RAW_KEEP_BYTES,
            "encoding": encoding,
            "payload": text,
        }
        with self._lock:
            self._recent.append(entry)

    def recent(self, n: int | None = None) -> list[dict[str, Any]]:
        """Newest last."""
        with self._lock:
            items = list(self._recent)
        return items[-n:] if n else items
