"""Runs the simulated Modbus equipment and miner APIs of a facility model in a background thread,
so ``minewatch demo`` (or any synchronous caller) can start them beside the polling collector.

The facility model is stepped by its owner (the demo's simulator loop); these servers only read
it. Faults go through ``inject``/``clear`` here: Modbus and miner-API faults are handled by these
servers, anything else is passed to the facility model (``SimFacility.inject``).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from minewatch.errors import InvalidInput, MinewatchError
from minewatch.profiles import DeviceProfile
from minewatch.simulator.facility import FAULTS as FACILITY_FAULTS
from minewatch.simulator.miner_api_fleet import MinerApiFleet
from minewatch.simulator.modbus_facility import FAULTS as MODBUS_FAULTS
from minewatch.simulator.modbus_facility import FacilityModbus

MINER_FAULTS = ("miner_api_hang",)
#: Every fault the demo takes: the facility model's (rigs, load) and these servers' (meters, panels,
#: APIs).
ALL_FAULTS = (*FACILITY_FAULTS, *MODBUS_FAULTS, *MINER_FAULTS)


def loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PollingSimulator:
    """Modbus servers + one miner API per rig; ``polling_settings()`` is the matching
    ``polling:`` section."""

    def __init__(
        self, facility: Any, profiles: dict[str, DeviceProfile], *, miners: bool = True
    ) -> None:
        self.facility = facility
        self.modbus = FacilityModbus(facility, profiles, loopback_port)
        self.fleet = MinerApiFleet(facility, loopback_port()) if miners else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def polling_settings(
        self,
        modbus_interval_s: float = 1.0,
        miner_interval_s: float = 30.0,
        discovery_period_s: float = 300.0,
    ) -> dict:
        """Modbus targets, registered miners (serials stated: stock Antminers do not report
        theirs) and discovery over the fleet's address range, which finds miners that are not
        registered."""
        out: dict[str, Any] = {
            "modbus": [
                t.model_dump() | {"interval_s": modbus_interval_s} for t in self.modbus.targets()
            ]
        }
        if self.fleet is not None:
            out["miners"] = self.fleet.targets(interval_s=miner_interval_s)
            # one process serves every simulated device in the demo: give the probes time, and fewer
            # at once
            out["discovery"] = {
                "enabled": True,
                "subnets": [self.fleet.subnet()],
                "miner_ports": [self.fleet.port],
                "period_s": discovery_period_s,
                "timeout_s": 3.0,
                "concurrency": 64,
            }
        return out

    def inject(self, fault: str, target: str | None = None) -> Any:
        return self._dispatch("inject", fault, target)

    def clear(self, fault: str, target: str | None = None) -> Any:
        return self._dispatch("clear", fault, target)

    def _dispatch(self, action: str, fault: str, target: str | None) -> Any:
        if fault in MODBUS_FAULTS:
            owner: Any = self.modbus
        elif fault in MINER_FAULTS and self.fleet is not None:
            owner = self.fleet
        elif fault in FACILITY_FAULTS and hasattr(self.facility, action):
            return getattr(self.facility, action)(fault, target)  # the facility model's own faults
        else:
            raise InvalidInput(f"unknown fault {fault!r}; known: {', '.join(ALL_FAULTS)}")
        fn = getattr(owner, action)
        if self._loop is None:
            return fn(fault, target)
        # server state belongs to the loop thread
        return asyncio.run_coroutine_threadsafe(_as_coro(fn, fault, target), self._loop).result(5)

    def stats(self) -> dict:
        """For /health: what is being served and which Modbus / miner-API faults are active."""
        return {
            "modbus_servers": len(self.modbus.servers),
            "modbus_requests_by_function_code": self.modbus.function_codes(),
            "miner_apis": len(self.fleet.servers) if self.fleet else 0,
            "faults": self.active_faults(),
        }

    def active_faults(self) -> list[dict[str, str | None]]:
        """The facility model's faults plus the ones these servers carry."""
        own: list[dict[str, str | None]] = [
            {"fault": f, "target": t} for f, t in sorted(self.modbus.faults, key=str)
        ]
        if self.fleet is not None:
            own += [
                {"fault": "miner_api_hang", "target": serial}
                for serial, s in sorted(self.fleet.servers.items())
                if s.miner.hang
            ]
        model = self.facility.active_faults() if hasattr(self.facility, "active_faults") else []
        return list(model) + own

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="minewatch-sim-polling", daemon=True)
        self._thread.start()
        if not self._ready.wait(60):
            raise MinewatchError("simulated Modbus/miner-API servers did not start within 60 s")

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        loop.run_until_complete(self.modbus.start())
        if self.fleet is not None:
            loop.run_until_complete(self.fleet.sync())
            follow = loop.create_task(self._follow_new_rigs())
        self._ready.set()
        loop.run_forever()
        if self.fleet is not None:
            follow.cancel()
        if self.fleet is not None:
            loop.run_until_complete(self.fleet.stop())
        loop.run_until_complete(self.modbus.stop())
        loop.close()

    async def _follow_new_rigs(self) -> None:
        """Rigs added at run time (an unregistered miner switched on) get their API within a
        second."""
        while True:
            await asyncio.sleep(1.0)
            await self.fleet.sync()  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._thread = None
        self._loop = None


async def _as_coro(fn: Any, *args: Any) -> Any:
    return fn(*args)
