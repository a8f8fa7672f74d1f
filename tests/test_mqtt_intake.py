"""The hand-off between paho's network thread and the decoder: batches, idle gaps, a full queue."""

from __future__ import annotations

import threading
import time

from minewatch.collector.mqtt_intake import Inbound, IntakeQueue
from minewatch.counters import Counters


def _msg(i: int) -> Inbound:
    return Inbound(i, 1, "site/demo/rigs/x/status", b"{}", 0, 1)


def test_a_batch_takes_what_is_queued_up_to_its_size() -> None:
    q = IntakeQueue(100, Counters(), threading.Event())
    for i in range(25):
        q.put(_msg(i))
    assert [m.mid for m in q.take_batch(10, 1.0)] == list(range(10))
    assert [m.mid for m in q.take_batch(100, 0.05)] == list(range(10, 25))
    assert q.depth() == 0 and q.take_batch(10, 0.05) == []


def test_a_message_put_while_the_decoder_waits_wakes_it_at_once() -> None:
    q = IntakeQueue(100, Counters(), threading.Event())
    threading.Timer(0.03, q.put, [_msg(1)]).start()
    t = time.monotonic()
    assert [m.mid for m in q.take_batch(10, 0.0)] == [1]
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
    assert len(q.take_batch(10, 0.0)) == 10
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
