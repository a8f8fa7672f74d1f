"""Fast recovery: after a 5-minute outage of the bank, a fire alarm's ``breach_opened`` queued
during it is delivered within 10 s of the bank answering again.

The delivery worker runs against the real hub over HTTP, but on a simulated clock (each step's wait
is added to it instead of slept), so five minutes of retries take a second. The same outage with the
old schedule (no critical cap: backoff up to 300 s) is the control: it misses by minutes.
"""

from __future__ import annotations

from pathlib import Path

from minewatch.config.notify import Backoff
from minewatch.events import EventBus
from minewatch.notifier import regulator as reg
from minewatch.notifier.delivery import NS, DeliveryWorker
from minewatch.notifier.transports import HttpTransport
from tests.support.notify import transition
from tests.support.notify_hub import HubServer, hub_notifier

OUTAGE_S = 300.0
T0 = 1_800_000_000 * NS


def _seconds_after_return(tmp_path: Path, hub: HubServer, key_dir: Path, policy: Backoff) -> float:
    """Bank down from T0 for ``OUTAGE_S``; a heartbeat is queued at T0, a fire alarm at T0 + 60 s.
    Returns how long after the bank's return the fire alarm was delivered."""
    now = [T0]
    bus = EventBus()
    n = hub_notifier(tmp_path, hub.url, key_dir, bus=bus)
    n.clock = n.queues.clock = n.handlers.clock = lambda: now[0]
    n.queues.policies[reg.DESTINATION] = policy  # deadlines too (24 h by default)
    worker = DeliveryWorker(
        reg.DESTINATION,
        n.outbox,
        HttpTransport(hub.url, 2.0, signer_factory=n.keys.signer),
        policy,
        on_done=n._on_done,
        counters=n.counters,
        clock=lambda: now[0],
    )
    hub.stop()
    down = True
    n.process_once()  # the heartbeat, then retries with growing backoff while the bank is down
    alarm_at, back_at = T0 + 60 * NS, T0 + int(OUTAGE_S * NS)
    try:
        while now[0] < T0 + 3600 * NS:
            queued = [m.kind for m in n.outbox.messages(reg.DESTINATION)]
            if now[0] >= alarm_at and "breach_opened" not in queued:
                bus.publish(transition("FS-01", "firing", family="fire", at_ns=now[0]))
                n.process_once()
            if now[0] >= back_at and down:
                hub.start()
                down = False
            wait = worker.step()
            delivered = [
                m
                for m in n.outbox.messages(reg.DESTINATION, status="delivered")
                if m.kind == "breach_opened"
            ]
            if delivered:
                return (now[0] - back_at) / NS
            now[0] += int(max(wait, 0.001) * NS)
    finally:
        worker.transport.close()
        if down:
            hub.start()
    raise AssertionError("never delivered")


def test_critical_message_delivered_within_10_s_of_the_bank_returning(
    tmp_path: Path, hub: HubServer, key_dir: Path
) -> None:
    late = _seconds_after_return(tmp_path, hub, key_dir, Backoff())
    assert 0 <= late <= 10, late


def test_control_without_the_critical_cap_is_minutes_late(
    tmp_path: Path, hub: HubServer, key_dir: Path
) -> None:
    late = _seconds_after_return(tmp_path, hub, key_dir, Backoff(critical_max_s=300))
    assert late > 10
