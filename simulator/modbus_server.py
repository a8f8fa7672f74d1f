"""Real pymodbus servers that serve a device profile's register map from live values.

Each ``SimUnit`` is one Modbus unit whose registers are encoded, on every request, from a
function returning its current metric values (through the profile's own map, so the poller and
the simulator can never disagree about layout). A ``SimModbusServer`` hosts one or more units on
one TCP port — several units behind one port model an RS-485 bus behind a serial gateway — with
the socket or RTU framer (RTU over TCP). Every request is recorded (function code, unit, address,
count), so tests can assert that no write ever reached a device.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice

from minewatch.collector.modbus.codec import encode_value
from minewatch.profiles import DeviceProfile
from minewatch.profiles.modbus import BIT_FUNCTIONS, DataType, Function

_TABLE_OF_FC = {1: Function.coil, 2: Function.discrete, 3: Function.holding, 4: Function.input}
_TABLE_ORDER = (Function.coil, Function.discrete, Function.holding, Function.input)


@dataclass(frozen=True)
class RequestRecord:
    function_code: int
    unit_id: int
    address: int | None
    count: int | None


@dataclass
class SimUnit:
    """One device on the wire: its profile, unit id and live values (metric → engineering value)."""

    name: str
    profile: DeviceProfile
    unit_id: int
    values: Callable[[], dict[str, float]]
    #: Set while the unit must not answer (a dead device behind a live gateway): requests hang.
    silent: bool = False
    #: (function, first, last) PDU address ranges answered with exception 2 (illegal data address).
    refused: list[tuple[Function, int, int]] = field(default_factory=list)
    #: Answer this many next requests with exception 6 (device busy), as slow meters do.
    busy_next: int = 0

    def image(self) -> dict[Function, dict[int, int]]:
        """Address → register word (or bit 0/1) per table, encoded from the current values."""
        assert self.profile.modbus is not None
        out: dict[Function, dict[int, int]] = {f: {} for f in Function}
        values = self.values()
        for reg in self.profile.modbus.registers:
            value = values.get(reg.metric, 0.0)
            table = out[reg.function]
            if reg.type is DataType.bool:
                bit = int(bool(value)) ^ int(reg.invert)
                if reg.function in BIT_FUNCTIONS:
                    table[reg.pdu_address] = bit
                else:
                    word = table.get(reg.pdu_address, 0) & ~(1 << reg.bit)  # type: ignore[operator]
                    table[reg.pdu_address] = word | (bit << reg.bit)  # type: ignore[operator]
                continue
            raw = (value - reg.offset) / reg.scale
            for i, word in enumerate(encode_value(raw, reg.type, reg.order)):  # type: ignore[arg-type]
                table[reg.pdu_address + i] = word
        return out

    def _sim_device(self, on_request: Callable) -> SimDevice:
        """Tables span each mapped address range (holes are served as 0, like real contiguous
        maps)."""
        image = self.image()
        blocks: list[list[SimData]] = []
        for table in _TABLE_ORDER:
            addrs = image[table]
            if not addrs:
                blocks.append(
                    [SimData(0, values=[False] * 16, datatype=SimType.BITS)]
                    if table in BIT_FUNCTIONS
                    else [SimData(0, values=[0], datatype=SimType.REGISTERS)]
                )
                continue
            lo, hi = min(addrs), max(addrs)
            if table in BIT_FUNCTIONS:
                blocks.append([SimData(lo, values=[False] * (hi - lo + 1), datatype=SimType.BITS)])
            else:
                blocks.append([SimData(lo, values=[0] * (hi - lo + 1), datatype=SimType.REGISTERS)])
        return SimDevice(id=self.unit_id, simdata=tuple(blocks), action=on_request)  # type: ignore[arg-type]


class SimModbusServer:
    """One TCP port serving one or more units; ``framer="rtu"`` for an RTU-over-TCP gateway."""

    def __init__(
        self, units: list[SimUnit], port: int, host: str = "127.0.0.1", framer: str = "socket"
    ) -> None:
        self.units = {u.unit_id: u for u in units}
        self.host, self.port = host, port
        self.framer = FramerType.RTU if framer == "rtu" else FramerType.SOCKET
        #: The most recent requests (bounded: a demo runs for days) and a count per function code.
        self.requests: deque[RequestRecord] = deque(maxlen=100_000)
        self.function_codes: Counter[int] = Counter()
        self._server: ModbusTcpServer | None = None
        self._wake = asyncio.Event()

    def _trace(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            self.function_codes[pdu.function_code] += 1
            self.requests.append(
                RequestRecord(
                    pdu.function_code,
                    pdu.dev_id,
                    getattr(pdu, "address", None),
                    getattr(pdu, "count", None),
                )
            )
        return pdu

    def _action(self, unit: SimUnit) -> Callable[..., Awaitable[ExcCodes | None]]:
        async def on_request(
            fc: int, start: int, address: int, count: int, registers: list[int], set_values
        ) -> ExcCodes | None:
            while unit.silent:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.5)
            if unit.busy_next > 0:
                unit.busy_next -= 1
                return ExcCodes.DEVICE_BUSY
            if set_values is not None:
                return (
                    ExcCodes.ILLEGAL_FUNCTION
                )  # read-only device: writes are refused (and recorded)
            table = _TABLE_OF_FC.get(fc)
            if table is None:
                return ExcCodes.ILLEGAL_FUNCTION
            last = address + count - 1
            for f, lo, hi in unit.refused:
                if f is table and address <= hi and last >= lo:
                    return ExcCodes.ILLEGAL_ADDRESS
            image = unit.image()[table]
            if table in BIT_FUNCTIONS:
                for bit_addr, bit in image.items():
                    i, b = bit_addr // 16 - start, bit_addr % 16
                    if 0 <= i < len(registers):
                        registers[i] = (registers[i] & ~(1 << b)) | (bit << b)
            else:
                for addr, word in image.items():
                    if 0 <= addr - start < len(registers):
                        registers[addr - start] = word
            return None

        return on_request

    def set_silent(self, unit_id: int, silent: bool) -> None:
        self.units[unit_id].silent = silent
        self._wake.set()

    async def start(self) -> None:
        devices = [u._sim_device(self._action(u)) for u in self.units.values()]
        self._server = ModbusTcpServer(
            devices if len(devices) > 1 else devices[0],
            address=(self.host, self.port),
            framer=self.framer,
            trace_pdu=self._trace,
        )
        await self._server.serve_forever(background=True)  # returns once listening

    async def stop(self) -> None:
        for u in self.units.values():
            u.silent = False
        self._wake.set()
        if self._server is not None:
            await self._server.shutdown()
            self._server = None
