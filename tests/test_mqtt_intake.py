"""The hand-off between paho's network thread and the decoder: batches, idle gaps, a full queue."""

from __future__ import annotations

import threading
import time

from minewatch.collector.mqtt_intake import Inbound, IntakeQueue
from minewatch.counters import Counters


def _msg(i: int) -> Inbound:
    return Inbound(i, 1, "site/demo/rigs/x/status", b"{}", 0, 1)


def _take(q: IntakeQueue, batch_max: int, wait_s: float) -> list[int]:
    """The message ids of one batch."""
    return [m.mid for chunk in q.chunks(batch_max, wait_s) for m in chunk]


def test_a_batch_takes_what_is_queued_up_to_its_size() -> None:
    q = IntakeQueue(100, Counters(), threading.Event())
    for i in range(25):
        q.put(_msg(i))
    assert _take(q, 10, 1.0) == list(range(10))
    assert _take(q, 100, 0.05) == list(range(10, 25))
    assert q.depth() == 0 and _take(q, 10, 0.05) == []


def test_a_batch_comes_in_the_chunks_queued_while_the_last_was_decoded() -> None:
    """The decoder takes what queued up while it decoded, in one go, and the batch ends after an
    idle gap: it is not woken once per message."""
    q = IntakeQueue(100, Counters(), threading.Event())
    for i in range(3):
        q.put(_msg(i))
    chunks = q.chunks(100, 5.0)
    assert [m.mid for m in next(chunks)] == [0, 1, 2]
    for i in range(3, 8):  # arrive while chunk 1 is decoded
        q.put(_msg(i))
    assert [m.mid for m in next(chunks)] == [3, 4, 5, 6, 7]
    t = time.monotonic()
    assert list(chunks) == []  # nothing more: the idle gap ends the batch, not its 5 s wait
    assert time.monotonic() - t < 1.0


def test_a_message_put_while_the_decoder_waits_wakes_it_at_once() -> None:
    q = IntakeQueue(100, Counters(), threading.Event())
    threading.Timer(0.03, q.put, [_msg(1)]).start()
    t = time.monotonic()
    assert _take(q, 10, 0.0) == [1]
    assert time.monotonic() - t < 0.09  # woken, not the 0.1 s timeout


def test_a_full_queue_holds_the_producer_until_the_decoder_takes_some() -> None:
    counters = Counters()
    q = IntakeQueue(100, counters, threading.Event())
    for i in range(100):
        q.put(_msg(i))
    done = threading.Event()
    producer = threading.Thread(target=lambda: (q.put(_msg(100)), done.set()))
    producer.start()
    assert not done.wait(0.1) and q.depth() == 100  # waits rather than drops
    assert len(_take(q, 10, 0.0)) == 10
    assert done.wait(2.0) and q.depth() == 91
    producer.join()
    assert counters.snapshot()["queue_full_waits"] >= 1


def test_a_full_queue_lets_the_producer_go_when_stopping() -> None:
    stopping = threading.Event()
    q = IntakeQueue(100, Counters(), stopping)
    for i in range(100):
        q.put(_msg(i))
    stopping.set()
    q.put(_msg(100))  # returns: the broker redelivers what was not taken
    assert q.depth() == 100
