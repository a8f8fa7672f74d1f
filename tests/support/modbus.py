"""Helpers for Modbus tests: a small facility model and a poller wired to a simulated server."""

from __future__ import annotations

from dataclasses import dataclass, field

from minewatch.collector.modbus.device import ModbusDevice
from minewatch.collector.modbus.link import ModbusLink
from minewatch.config.polling import ModbusTarget
from minewatch.configfile import validate
from minewatch.counters import Counters
from minewatch.profiles import DeviceProfile
from minewatch.profiles.schema import DeviceProfile as _Profile


@dataclass
class StubRig:
    serial: str
    zone: str
    rack: str
    power_w: float
    chip_temp_c: float = 70.0
    hashrate_ths: float = 140.0
    online: bool = True
    profile_id: str = "whatsminer-m60"


@dataclass
class StubFacility:
    """The attributes of ``SimFacility`` the Modbus and miner-API simulators read ."""

    rigs: list[StubRig] = field(default_factory=list)
    ambient_temp_c: float = 27.5
    humidity_pct: float = 41.0
    overhead_w: float = 1500.0

    def total_rig_power_w(self) -> float:
        return sum(r.power_w for r in self.rigs if r.online)

    def cooling_overhead_w(self) -> float:
        return self.overhead_w


def two_rack_facility() -> StubFacility:
    rigs = [
        StubRig(
            f"R{i:03d}", "hall1" if i < 4 else "hall2", "A01" if i < 4 else "B01", 3000.0 + 100 * i
        )
        for i in range(8)
    ]
    return StubFacility(rigs)


def profile_from(data: dict) -> DeviceProfile:
    """A device profile built in a test (validated by the same schema as the shipped files)."""
    return validate(_Profile, data, "test profile")


def device_for(
    target: ModbusTarget,
    profile: DeviceProfile,
    counters: Counters | None = None,
    link: ModbusLink | None = None,
) -> ModbusDevice:
    return ModbusDevice(target, profile, link or ModbusLink(target), counters or Counters())


class RawRegisterServer:
    """A pymodbus server serving fixed words/bits as given (no codec involved), with a request
    log."""

    def __init__(
        self,
        port: int,
        *,
        holding: list[int] | None = None,
        coils: list[bool] | None = None,
        discrete: list[bool] | None = None,
        inputs: list[int] | None = None,
        unit_id: int = 1,
        framer: str = "socket",
        invalid: tuple[int, int] | None = None,
    ) -> None:
        from pymodbus.framer import FramerType
        from pymodbus.simulator import DataType, SimData, SimDevice

        def regs(values: list[int] | None) -> list:
            if not values:
                return [SimData(0, values=[0], datatype=DataType.REGISTERS)]
            if invalid is None:
                return [SimData(0, values=values, datatype=DataType.REGISTERS)]
            lo, hi = invalid  # a hole the device refuses (exception 2, illegal data address)
            return [
                SimData(0, values=values[:lo], datatype=DataType.REGISTERS),
                SimData(lo, count=hi - lo + 1, datatype=DataType.INVALID),
                SimData(hi + 1, values=values[hi + 1 :], datatype=DataType.REGISTERS),
            ]

        def bits(values: list[bool] | None) -> list:
            return [SimData(0, values=values or [False] * 16, datatype=DataType.BITS)]

        self.port = port
        self.requests: list[tuple[int, int, int, int]] = []
        self._device = SimDevice(
            id=unit_id, simdata=(bits(coils), bits(discrete), regs(holding), regs(inputs))
        )
        self._framer = FramerType.RTU if framer == "rtu" else FramerType.SOCKET
        self._server = None

    def _trace(self, sending: bool, pdu):  # type: ignore[no-untyped-def]
        if not sending:
            self.requests.append(
                (
                    pdu.function_code,
                    pdu.dev_id,
                    getattr(pdu, "address", -1),
                    getattr(pdu, "count", -1),
                )
            )
        return pdu

    async def __aenter__(self) -> RawRegisterServer:
        from pymodbus.server import ModbusTcpServer

        self._server = ModbusTcpServer(
            self._device,
            address=("127.0.0.1", self.port),
            framer=self._framer,
            trace_pdu=self._trace,
        )
        await self._server.serve_forever(background=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.shutdown()
