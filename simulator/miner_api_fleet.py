"""Every rig of the facility model answering its own miner API, like the real fleet would.

Rig ``i`` listens on its own loopback address ``127.1.x.y`` and one shared port, the way a real
fleet has one IP per miner and the API on 4028 — so discovery can scan the range like a real
subnet. The rig's profile decides the firmware dialect and the model string it reports. Rigs that
appear later (the facility model's ``unregistered`` fault) get a server on ``sync()``. Fault
``miner_api_hang`` (target = rig serial) makes that miner accept connections and never answer.
"""

from __future__ import annotations

import ipaddress
import zlib
from typing import Any

from minewatch.simulator.miner_api import MinerApiServer, SimMiner

#: profile id → (dialect, model string the firmware reports)
FIRMWARE_OF_PROFILE: dict[str, tuple[str, str]] = {
    "antminer-s19-xp": ("antminer-legacy", "Antminer S19 XP"),
    "antminer-s21": ("antminer-new", "Antminer S21"),
    "antminer-s21-hydro": ("antminer-new", "Antminer S21 Hyd."),
    "whatsminer-m60": ("whatsminer", "M60.VK10"),
    "luxos-antminer-s19j-pro": ("luxos", "Antminer S19j Pro"),
}
#: Miner i gets FLEET_NET[i + 1]: 127.1.0.1, 127.1.0.2, ... (all loopback).
FLEET_NET = ipaddress.ip_network("127.1.0.0/16")


def sim_miner_for(rig: Any, profile_id: str, **kw: Any) -> SimMiner:
    """A simulated miner of ``profile_id`` reading live values from ``rig``."""
    if profile_id not in FIRMWARE_OF_PROFILE:
        raise ValueError(
            f"no simulated firmware for profile {profile_id!r}; "
            f"known: {', '.join(FIRMWARE_OF_PROFILE)}"
        )
    dialect, model = FIRMWARE_OF_PROFILE[profile_id]
    n = zlib.crc32(str(rig.serial).encode()) & 0xFFFFFF  # stable across runs, unlike hash()
    return SimMiner(
        rig,
        dialect,
        model,
        mac=f"02:00:00:{n >> 16:02x}:{(n >> 8) & 0xFF:02x}:{n & 0xFF:02x}",
        **kw,
    )


class MinerApiFleet:
    """One API server per rig; ``targets()`` is the matching ``polling.miners`` config."""

    def __init__(self, facility: Any, port: int) -> None:
        self.facility = facility
        self.port = port
        self.servers: dict[str, MinerApiServer] = {}
        self._unstarted: list[MinerApiServer] = (
            self._new_servers()
        )  # so targets() is known before start

    def _new_servers(self) -> list[MinerApiServer]:
        fresh = []
        for rig in list(self.facility.rigs):
            profile = getattr(rig, "profile_id", "")
            if rig.serial in self.servers or profile not in FIRMWARE_OF_PROFILE:
                continue
            host = str(FLEET_NET[len(self.servers) + 1])
            server = MinerApiServer(sim_miner_for(rig, profile), host, self.port)
            self.servers[rig.serial] = server
            fresh.append(server)
        return fresh

    def subnet(self) -> str:
        """A CIDR range holding every miner with room for as many again (rigs switched on later),
        at least a /24 — what ``polling.discovery.subnets`` should scan."""
        prefix = min(24, 32 - (2 * len(self.servers) + 1).bit_length())
        return str(ipaddress.ip_network(f"{FLEET_NET.network_address}/{prefix}", strict=False))

    def targets(
        self, interval_s: float = 30.0, timeout_s: float = 5.0, registered_only: bool = True
    ) -> list[dict]:
        """Config entries; stock Antminers give no serial on the API, so the serial is stated
        here."""
        return [
            {
                "host": s.host,
                "port": s.port,
                "profile": s.miner.rig.profile_id,
                "serial": serial,
                "zone": s.miner.rig.zone,
                "rack": s.miner.rig.rack,
                "interval_s": interval_s,
                "timeout_s": timeout_s,
            }
            for serial, s in self.servers.items()
            if not registered_only or getattr(s.miner.rig, "registered", True)
        ]

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

    async def sync(self) -> None:
        """Start the servers not started yet, including those of rigs added since (all on first
        call)."""
        pending, self._unstarted = self._unstarted + self._new_servers(), []
        for s in pending:
            await s.start()

    async def stop(self) -> None:
        for s in self.servers.values():
            await s.stop()
