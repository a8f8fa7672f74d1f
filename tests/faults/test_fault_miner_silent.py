"""Fault: a miner whose API accepts the TCP connection and never answers (a wedged cgminer).

Guarantee: every poll of it ends within its timeout with ``up = 0``, counted as a timeout; healthy
miners polled at the same time are never held up by it."""

from __future__ import annotations

import asyncio
import time

from minewatch.collector.minerapi.miner import MinerPoller
from minewatch.config.polling import MinerTarget
from minewatch.counters import Counters
from minewatch.profiles import load_profiles
from minewatch.sample import now_ns
from tests.support.minerapi import running, sim_miner

PROFILES = load_profiles()
ROUNDS, TIMEOUT_S = 5, 0.5


async def test_silent_miner_times_out_every_poll_and_stalls_nobody() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def swallow(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        accepted.append(w)  # read nothing, answer nothing, keep the connection open

    silent = await asyncio.start_server(swallow, "127.0.0.1", 0)
    silent_port = silent.sockets[0].getsockname()[1]
    healthy = [sim_miner("whatsminer-m60", f"W-{i}") for i in range(3)]
    counters = Counters()

    def poller(host: str, port: int, serial: str) -> MinerPoller:
        target = MinerTarget(
            host=host, port=port, profile="whatsminer-m60", serial=serial, timeout_s=TIMEOUT_S
        )
        return MinerPoller(target, PROFILES, counters, None)

    silent_up, healthy_up, slowest_healthy, slowest_silent = 0, 0, 0.0, 0.0
    async with running(healthy) as servers:
        pollers = [poller(s.host, s.port, f"W-{i}") for i, s in enumerate(servers)]
        stuck = poller("127.0.0.1", silent_port, "W-silent")
        for _ in range(ROUNDS):
            started = time.monotonic()
            stuck_task = asyncio.create_task(stuck.poll(now_ns()))
            results = await asyncio.gather(*(p.poll(now_ns()) for p in pollers))
            slowest_healthy = max(slowest_healthy, time.monotonic() - started)
            hung = await stuck_task
            slowest_silent = max(slowest_silent, time.monotonic() - started)
            healthy_up += sum({s.metric: s.value for s in r}["up"] == 1.0 for r in results)
            silent_up += {s.metric: s.value for s in hung}["up"] == 1.0
    silent.close()
    for w in accepted:
        w.close()
    assert (healthy_up, silent_up) == (3 * ROUNDS, 0)  # (15, 0)
    assert len(accepted) >= ROUNDS  # the silent miner really accepted every poll
    assert counters.get("miner_errors_total", "timeout") == ROUNDS  # one per poll
    assert slowest_healthy < TIMEOUT_S  # never waited on the silent one
    assert slowest_silent < TIMEOUT_S + 0.5  # bounded by its timeout (measured 0.50 s)
