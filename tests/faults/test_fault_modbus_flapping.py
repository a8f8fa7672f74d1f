"""Fault: a Modbus device flapping — its server goes away and comes back, four times.

Guarantee: every poll returns (no exception, no stall past the timeout); a poll while the device is
away yields only ``up = 0``; the first poll after it is back yields every metric; the outage and the
recovery are each logged once per episode, not once per poll."""

from __future__ import annotations

import logging
import time

import pytest

from minewatch.config.polling import ModbusTarget
from minewatch.profiles import load_profiles
from minewatch.sample import now_ns
from minewatch.simulator.modbus_server import SimModbusServer, SimUnit
from tests.support.modbus import device_for
from tests.support.ports import free_port

PROFILE = load_profiles()["generic-rack-pdu"]
CYCLES, UP_POLLS, DOWN_POLLS = 4, 3, 2


async def test_flapping_device_counts_every_poll(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="minewatch.collector.modbus.device")
    port = free_port()
    unit = SimUnit("pdu", PROFILE, 1, lambda: {"power_w": 5000.0})
    target = ModbusTarget(
        name="pdu-flap", profile="generic-rack-pdu", host="127.0.0.1", port=port, timeout_s=0.3
    )
    dev = device_for(target, PROFILE)
    up_polls = down_polls = 0
    slowest = 0.0
    for _ in range(CYCLES):
        server = SimModbusServer([unit], port)
        await server.start()
        try:
            for _ in range(UP_POLLS):
                started = time.monotonic()
                r = await dev.poll(now_ns())
                slowest = max(slowest, time.monotonic() - started)
                up_polls += r.up and {s.metric: s.value for s in r.samples}["power_w"] == 5000.0
        finally:
            await server.stop()
        for _ in range(DOWN_POLLS):
            started = time.monotonic()
            r = await dev.poll(now_ns())
            slowest = max(slowest, time.monotonic() - started)
            down_polls += not r.up and [(s.metric, s.value) for s in r.samples] == [("up", 0.0)]
    dev.link.close()
    assert (up_polls, down_polls) == (CYCLES * UP_POLLS, CYCLES * DOWN_POLLS)  # (12, 8)
    assert sum("is not answering" in m for m in caplog.messages) == CYCLES
    assert sum("answers again" in m for m in caplog.messages) == CYCLES - 1
    assert slowest < 2.0  # bounded by timeout x retries, never a hang
