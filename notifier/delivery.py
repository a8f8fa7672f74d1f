"""One delivery worker per destination: head-of-line, at-least-once, exponential backoff with
jitter.

The worker only ever attempts the oldest pending message of its destination, so messages arrive in
the order they were queued; a later message waits until the earlier one is delivered or declared
dead. Its whole state is in the outbox table, so a restart resumes exactly where it stopped.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable

from minewatch.config.notify import Backoff
from minewatch.counters import Counters
from minewatch.notifier.outbox import Message, Outbox
from minewatch.notifier.transports import Result, Transport

log = logging.getLogger(__name__)

NS = 1_000_000_000


def backoff_delay_s(
    policy: Backoff, attempts: int, rng: random.Random, *, critical: bool = False
) -> float:
    """Delay before attempt ``attempts + 1``: exponential from ``initial_s``, capped at ``max_s``
    (``critical_max_s`` while a critical message waits), spread by +/- ``jitter`` (then capped
    again, so the cap is a promise)."""
    cap = min(policy.max_s, policy.critical_max_s) if critical else policy.max_s
    base = min(cap, policy.initial_s * policy.multiplier ** max(0, attempts - 1))
    return min(cap, base * (1 + rng.uniform(-policy.jitter, policy.jitter)))


class BackgroundThread:
    """A named daemon thread running ``_run`` until ``stop_thread()``; setting ``wake`` cuts its
    waits short."""

    def __init__(self, name: str) -> None:
        self.thread_name = name
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        raise NotImplementedError

    def start_thread(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop_thread(self, join_s: float = 30.0) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(join_s)
            self._thread = None


#: Called when a message is delivered or dead, inside the transaction that records it:
#: (message, outcome, result or None, connection).
Outcome = Callable[[Message, str, Result | None, sqlite3.Connection], None]
#: Called with a message its receiver refused for good, inside the transaction that logs the
#: attempt; True when it put a stand-in in the message's place (then the queue moves on).
Refusal = Callable[[Message, Result, sqlite3.Connection], bool]


class DeliveryWorker(BackgroundThread):
    def __init__(
        self,
        destination: str,
        outbox: Outbox,
        transport: Transport,
        policy: Backoff,
        *,
        on_done: Outcome,
        counters: Counters,
        idle_s: float = 0.5,
        clock: Callable[[], int] = time.time_ns,
        done_event: threading.Event | None = None,
        on_refused: Refusal | None = None,
        hold: Callable[[Message], bool] | None = None,
    ) -> None:
        """``hold``: a message it answers True for is not sent (yet): the regulator's channel,
        switched off, delivers up to its signed suspension and then holds the rest."""
        super().__init__(f"notify-{destination}")
        self.destination = destination
        self.outbox = outbox
        self.transport = transport
        self.policy = policy
        self.on_done = on_done
        self.on_refused = on_refused
        self.hold = hold
        self.done_event = done_event  # set once a delivery or a death has committed
        self.counters = counters
        self.idle_s = idle_s
        self.clock = clock
        self._rng = random.Random()

    def start(self) -> None:
        self.start_thread()

    def stop(self) -> None:
        self.stop_thread()
        self.transport.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self.step()
            except Exception:  # the database hiccuped; keep the worker alive and try again
                self.counters.inc("worker_errors_total", reason=self.destination)
                log.exception("delivery worker %s failed; retrying", self.destination)
                delay = self.idle_s
            if delay > 0:
                self.wake.wait(delay)
                self.wake.clear()

    def step(self) -> float:
        """Attempt the head message if due; returns how long to wait before looking again."""
        msg = self.outbox.head(self.destination)
        if msg is None or (self.hold is not None and self.hold(msg)):
            return self.idle_s
        now = self.clock()
        if now >= msg.deadline_ns and msg.attempts > 0:
            self._dead(
                msg,
                now,
                f"undelivered after {msg.attempts} attempt(s) by its deadline; last error: "
                f"{msg.last_error}",
            )
            return 0
        if msg.next_attempt_ns > now:
            return min(self.idle_s, (msg.next_attempt_ns - now) / NS)
        t0 = time.perf_counter()
        res = self.transport.send(msg)
        ms = (time.perf_counter() - t0) * 1000
        if res.ok:
            self.outbox.record(
                msg,
                outcome="delivered",
                started_ns=now,
                duration_ms=ms,
                status_code=res.status_code,
                detail=res.detail,
                then=lambda c: self.on_done(msg, "delivered", res, c),
            )
            self.counters.inc("delivered_total", reason=self.destination)
            self._done()
            return 0
        self.counters.inc("attempts_failed_total", reason=self.destination)
        after = self.clock()
        critical = self.outbox.critical_pending(self.destination)
        delay_ns = int(
            backoff_delay_s(self.policy, msg.attempts + 1, self._rng, critical=critical) * NS
        )
        # never sleep past the deadline: the message must be declared dead on time
        next_ns = min(after + delay_ns, max(msg.deadline_ns, after))
        replaced: list[bool] = []
        on_refused = self.on_refused
        self.outbox.record(
            msg,
            outcome="failed",
            started_ns=now,
            duration_ms=ms,
            status_code=res.status_code,
            detail=res.detail,
            next_attempt_ns=next_ns,
            # a refusal for good puts a stand-in in the message's place, in the same transaction
            then=None if on_refused is None else lambda c: replaced.append(on_refused(msg, res, c)),
        )
        if any(replaced):
            self.counters.inc("refused_total", reason=self.destination)
            log.error(
                "%s refused message %s (%s) for good (%s); a signed stand-in takes its place",
                self.destination,
                msg.id,
                msg.kind,
                res.detail[:200],
            )
            return 0
        log.warning(
            "delivery to %s failed (message %s, attempt %d): %s; next try in %.3f s",
            self.destination,
            msg.id,
            msg.attempts + 1,
            res.detail,
            (next_ns - after) / NS,
        )
        return 0

    def _dead(self, msg: Message, now: int, why: str) -> None:
        self.outbox.record(
            msg,
            outcome="dead",
            started_ns=now,
            duration_ms=0.0,
            status_code=None,
            detail=why,
            then=lambda c: self.on_done(msg, "dead", None, c),
        )
        self.counters.inc("dead_total", reason=self.destination)
        log.error(
            "DEAD: message %s (%s, %s) to %s was not delivered by its deadline: %s",
            msg.id,
            msg.kind,
            msg.message_id,
            self.destination,
            why,
        )
        self._done()

    def _done(self) -> None:
        if self.done_event is not None:
            self.done_event.set()
