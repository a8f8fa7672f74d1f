"""Helpers for miner-API tests: start simulated miners on loopback and poll them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from simulator.miner_api import MinerApiServer, RigValues, SimMiner
from tests.support.ports import free_port

#: dialect, model string the firmware reports, profile that must match it
MODELS = {
    "antminer-s19-xp": ("antminer-legacy", "Antminer S19 XP"),
    "antminer-s21": ("antminer-new", "Antminer S21"),
    "antminer-s21-hydro": ("antminer-new", "Antminer S21 Hyd."),
    "whatsminer-m60": ("whatsminer", "M60.VK10"),
    "luxos-antminer-s19j-pro": ("luxos", "Antminer S19j Pro"),
}


def sim_miner(profile: str, serial: str, **kw: object) -> SimMiner:
    dialect, model = MODELS[profile]
    rig_kw = {k: kw.pop(k) for k in list(kw) if k in RigValues.__dataclass_fields__}
    return SimMiner(RigValues(serial, **rig_kw), dialect, model, **kw)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running(miners: list[SimMiner], host: str = "127.0.0.1", port: int | None = None) -> AsyncIterator[list[MinerApiServer]]:
    """One server per miner: on free ports of ``host``, or all on ``port`` of distinct 127.0.0.x hosts."""
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
