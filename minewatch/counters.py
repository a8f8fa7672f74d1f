"""Thread-safe counters that every loop exposes (received, stored, rejected by reason, ...)."""

from __future__ import annotations

import threading
from collections import Counter


class Counters:
    """Named monotonically increasing counters, with an optional reason label.

    ``inc("rejected_total", reason="not_json")`` is read back as
    ``snapshot()["rejected_total"]["not_json"]``; unlabelled counters read back as plain ints.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plain: Counter[str] = Counter()
        self._labelled: dict[str, Counter[str]] = {}

    def inc(self, name: str, n: int = 1, *, reason: str | None = None) -> None:
        with self._lock:
            if reason is None:
                self._plain[name] += n
            else:
                self._labelled.setdefault(name, Counter())[reason] += n

    def get(self, name: str, reason: str | None = None) -> int:
        with self._lock:
            if reason is None:
                if name in self._labelled:
                    return sum(self._labelled[name].values())
                return self._plain[name]
            return self._labelled.get(name, Counter())[reason]

    def snapshot(self) -> dict[str, int | dict[str, int]]:
        with self._lock:
            out: dict[str, int | dict[str, int]] = dict(self._plain)
            for name, by_reason in self._labelled.items():
                out[name] = dict(by_reason)
            return out
