"""Every rig of the facility model answering its own miner API, like the real fleet would.

The rig's profile decides the firmware dialect and the model string it reports. Fault
``miner_api_hang`` (target = rig serial) makes that miner accept connections and never answer.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

from simulator.miner_api import MinerApiServer, SimMiner

#: profile id → (dialect, model string the firmware reports)
FIRMWARE_OF_PROFILE: dict[str, tuple[str, str]] = {
    "antminer-s19-xp": ("antminer-legacy", "Antminer S19 XP"),
    "antminer-s21": ("antminer-new", "Antminer S21"),
    "antminer-s21-hydro": ("antminer-new", "Antminer S21 Hyd."),
    "whatsminer-m60": ("whatsminer", "M60.VK10"),
    "luxos-antminer-s19j-pro": ("luxos", "Antminer S19j Pro"),
}


def sim_miner_for(rig: Any, profile_id: str, **kw: Any) -> SimMiner:
    """A simulated miner of ``profile_id`` reading live values from ``rig``."""
    if profile_id not in FIRMWARE_OF_PROFILE:
        raise ValueError(f"no simulated firmware for profile {profile_id!r}; known: {', '.join(FIRMWARE_OF_PROFILE)}")
    dialect, model = FIRMWARE_OF_PROFILE[profile_id]
    n = zlib.crc32(str(rig.serial).encode()) & 0xFFFFFF  # stable across runs, unlike hash()
    return SimMiner(rig, dialect, model, mac=f"02:00:00:{n >> 16:02x}:{(n >> 8) & 0xFF:02x}:{n & 0xFF:02x}", **kw)


class MinerApiFleet:
    """One API server per rig on loopback; ``targets()`` is the matching ``polling.miners`` config."""

    def __init__(self, rigs: list[Any], port_factory: Callable[[], int], host: str = "127.0.0.1") -> None:
        self.servers: dict[str, MinerApiServer] = {}
        for rig in rigs:
            profile = getattr(rig, "profile_id", "")
            if profile in FIRMWARE_OF_PROFILE:
                self.servers[rig.serial] = MinerApiServer(sim_miner_for(rig, profile), host, port_factory())

    def targets(self, interval_s: float = 30.0, timeout_s: float = 5.0) -> list[dict]:
        """Config entries; stock Antminers give no serial on the API, so the serial is stated here."""
        return [{"host": s.host, "port": s.port, "profile": getattr(s.miner.rig, "profile_id", None),
                 "serial": serial, "zone": getattr(s.miner.rig, "zone", ""), "rack": getattr(s.miner.rig, "rack", ""),
                 "interval_s": interval_s, "timeout_s": timeout_s} for serial, s in self.servers.items()]

    def inject(self, fault: str, target: str | None = None) -> None:
        self._set(fault, target, True)

    def clear(self, fault: str, target: str | None = None) -> None:
        self._set(fault, target, False)

    def _set(self, fault: str, target: str | None, on: bool) -> None:
        if fault != "miner_api_hang":
            raise ValueError(f"unknown miner-API fault {fault!r}; known: miner_api_hang")
        if target not in self.servers:
            raise ValueError(f"no simulated miner with serial {target!r}")
        self.servers[target].miner.hang = on

    async def start(self) -> None:
        for s in self.servers.values():
            await s.start()

    async def stop(self) -> None:
        for s in self.servers.values():
            await s.stop()
