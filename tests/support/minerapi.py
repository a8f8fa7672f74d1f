"""Helpers for miner-API tests: start simulated miners on loopback and poll them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from minewatch.simulator.miner_api import MinerApiServer, RigValues, SimMiner
from minewatch.simulator.miner_api_fleet import sim_miner_for
from tests.support.ports import free_port


def sim_miner(profile: str, serial: str, **kw: object) -> SimMiner:
    """A miner of ``profile`` with stand-in values; rig fields (power_w, ...) and SimMiner options
    mixed."""
    rig_kw = {k: kw.pop(k) for k in list(kw) if k in RigValues.__dataclass_fields__}
    return sim_miner_for(RigValues(serial, **rig_kw), profile, **kw)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running(
    miners: list[SimMiner], host: str = "127.0.0.1", port: int | None = None
) -> AsyncIterator[list[MinerApiServer]]:
    """One server per miner: on free ports of ``host``, or all on ``port`` of distinct 127.0.0.x
    hosts."""
    servers = []
    for i, m in enumerate(miners):
        h = host if port is None else f"127.0.0.{i + 1}"
        servers.append(MinerApiServer(m, h, port or free_port()))
    for s in servers:
        await s.start()
    try:
        yield servers
    finally:
        for s in servers:
            await s.stop()
