"""Runs the simulated Modbus equipment and miner APIs of a facility model in a background thread, so
``minewatch demo`` (or any synchronous caller) can start them beside the polling collector.

The facility model is stepped by its owner (the demo's simulator loop); these servers only read it.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from minewatch.profiles import DeviceProfile
from simulator.miner_api_fleet import MinerApiFleet
from simulator.modbus_facility import FAULTS as MODBUS_FAULTS
from simulator.modbus_facility import FacilityModbus


def loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PollingSimulator:
    """Modbus servers + one miner API per rig; ``polling_settings()`` is the matching ``polling:`` section."""

    def __init__(self, facility: Any, profiles: dict[str, DeviceProfile], *, miners: bool = True) -> None:
        self.modbus = FacilityModbus(facility, profiles, loopback_port)
        self.fleet = MinerApiFleet(list(facility.rigs) if miners else [], loopback_port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def polling_settings(self, modbus_interval_s: float = 1.0, miner_interval_s: float = 30.0) -> dict:
        return {"modbus": [t.model_dump() | {"interval_s": modbus_interval_s} for t in self.modbus.targets()],
                "miners": self.fleet.targets(interval_s=miner_interval_s)}

    def inject(self, fault: str, target: str | None = None) -> None:
        self._call(self.modbus.inject if fault in MODBUS_FAULTS else self.fleet.inject, fault, target)

    def clear(self, fault: str, target: str | None = None) -> None:
        self._call(self.modbus.clear if fault in MODBUS_FAULTS else self.fleet.clear, fault, target)

    def _call(self, fn: Any, *args: Any) -> None:
        if self._loop is None:
            fn(*args)
        else:  # server state belongs to the loop thread
            asyncio.run_coroutine_threadsafe(_as_coro(fn, *args), self._loop).result(5)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="minewatch-sim-polling", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("simulated Modbus/miner-API servers did not start within 30 s")

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        loop.run_until_complete(self.modbus.start())
        loop.run_until_complete(self.fleet.start())
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self.fleet.stop())
        loop.run_until_complete(self.modbus.stop())
        loop.close()

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._thread = None
        self._loop = None


async def _as_coro(fn: Any, *args: Any) -> None:
    fn(*args)
