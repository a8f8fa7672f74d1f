"""The bounded queue between paho's network thread and the decoder: cheap to fill, read in batches.

The network thread only enqueues (any work there delays keepalives), and a full queue makes it wait
rather than drop: an unacknowledged message stays with the broker, whose in-flight window then stops
sending, so a slow store slows the broker, not memory.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import NamedTuple

from minewatch.counters import Counters

#: A batch closes when no message arrived for this long (the broker sends in bursts of its in-flight
#: window and waits for our acks, so waiting the full batch_wait_ms would only add latency).
IDLE_GAP_S = 0.005


class Inbound(NamedTuple):  # a tuple: built once per message on the network thread, so kept cheap
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_ns: int
    generation: int  # connection the message came on; acks are only valid on that connection


class IntakeQueue:
    def __init__(self, capacity: int, counters: Counters, stopping: threading.Event) -> None:
        self.capacity = capacity
        self._queue: queue.Queue[Inbound] = queue.Queue(maxsize=capacity)
        self._counters = counters
        self._stopping = stopping

    def put(self, item: Inbound) -> None:
        """Wait while full; give up only when stopping (the broker then redelivers the message)."""
        while True:
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                self._counters.inc("queue_full_waits")
                if self._stopping.is_set():
                    return

    def take_batch(self, batch_max: int, batch_wait_s: float) -> list[Inbound]:
        """Up to ``batch_max`` messages: the first within 0.1 s, the rest until the wait or an idle
        gap ends the batch. Empty when nothing arrived."""
        try:
            first = self._queue.get(timeout=0.1)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + batch_wait_s
        while len(batch) < batch_max:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=min(left, IDLE_GAP_S)))
            except queue.Empty:
                break
        return batch

    def depth(self) -> int:
        return self._queue.qsize()
