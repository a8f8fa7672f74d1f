"""Response headers every answer carries, and the limit on failed logins per client address.

The page loads only its own files (no CDN, no inline script), so the policy can be strict: a script
injected into a device name or an alert comment has nowhere to load from and cannot run, and no
other site may frame the page to trick an operator into clicking "acknowledge".
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from minewatch.api.errors import TooManyRequests

log = logging.getLogger("minewatch.api.security")

#: ``style-src 'self'``: the page sets sizes through the CSSOM, never with style attributes.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; media-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
#: FastAPI's interactive reference loads Swagger UI from a CDN with an inline bootstrap script;
#: it gets every header but the script policy, so it still works where a CDN is reachable.
RELAXED_CSP_PATHS = ("/api/docs",)


def security_headers(path: str) -> dict[str, str]:
    """The headers for a response to ``path``."""
    if path.startswith(RELAXED_CSP_PATHS):
        return {k: v for k, v in SECURITY_HEADERS.items() if k != "Content-Security-Policy"}
    return SECURITY_HEADERS


class FailedLogins:
    """At most ``limit`` failed logins per client address in a sliding ``window_s``; past it every
    login from that address (right token or not) is refused with 429 until the window has room.

    Tokens are 24+ random bytes, so this is not what keeps them secret; it keeps a scanner from
    filling the log and the CPU, and makes a guessing attempt show up as one logged address.
    """

    def __init__(
        self,
        limit: int = 20,
        window_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = 10_000,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._max_addresses = max_addresses
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.refused = 0

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.get(address, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def check(self, address: str) -> None:
        """Raise ``TooManyRequests`` while ``address`` has used up its failures."""
        now = self._clock()
        with self._lock:
            times = self._recent(address, now)
            if len(times) < self.limit:
                return
            self.refused += 1
            retry = max(1, int(times[0] + self.window_s - now) + 1)
        raise TooManyRequests(
            f"too many failed logins from this address ({self.limit} in {self.window_s:.0f} s); "
            f"try again in {retry} s",
            retry_after_s=retry,
        )

    def failed(self, address: str) -> int:
        """Record one failure from ``address``; returns its failures in the window (logged)."""
        now = self._clock()
        with self._lock:
            times = self._recent(address, now)
            times.append(now)
            self._failures[address] = times
            if len(self._failures) > self._max_addresses:  # forget the stalest addresses
                for stale in sorted(self._failures, key=lambda a: self._failures[a][-1])[
                    : len(self._failures) - self._max_addresses
                ]:
                    del self._failures[stale]
            count = len(times)
        log.warning("failed login from %s (%d in the last %.0f s)", address, count, self.window_s)
        return count

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "addresses_limited": sum(len(t) >= self.limit for t in self._failures.values()),
                "refused": self.refused,
            }
