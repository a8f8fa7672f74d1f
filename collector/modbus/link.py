"""One Modbus connection (TCP socket, serial port, or serial gateway) shared by the units behind it.

pymodbus' async client does not serialise calls, so a device holds this link's lock for its whole
poll (one hand-over per device, not per request); links are independent and run in parallel. Only
the four read function codes exist here: there is no code path that could send a write.
"""

from __future__ import annotations

import asyncio
import logging

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerType

from minewatch.config.polling import ModbusTarget
from minewatch.errors import ConfigError
from minewatch.profiles.modbus import Function

log = logging.getLogger(__name__)

#: Exception codes worth re-sending for: acknowledge (5), device busy (6), gateway path/target (10,
#: 11).
TRANSIENT_EXCEPTIONS = frozenset({5, 6, 10, 11})


class LinkDown(Exception):
    """The device or gateway did not answer (refused, timed out, disconnected)."""


class ExceptionReply(Exception):
    """The device answered with a Modbus exception code (e.g. 2 illegal data address)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"exception code {code}")
        self.code = code


class ModbusLink:
    """A lazily connected client plus the lock and pacing every request on it obeys."""

    def __init__(self, target: ModbusTarget) -> None:
        self.key = target.connection_key()
        self.target = target
        self.lock = asyncio.Lock()
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None

    def _make_client(self, timeout_s: float) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        t = self.target
        # retries=0: pymodbus "retries" only re-wait for a reply; re-sending is decided here.
        # A large reconnect delay keeps pymodbus from reconnecting in the background: the poller
        # reconnects on its own schedule and a dead device costs one attempt per poll.
        if t.transport == "rtu":
            return AsyncModbusSerialClient(
                _required(t.serial_port, t.name, "serial_port"),
                framer=FramerType.RTU,
                baudrate=t.baudrate,
                parity=t.parity,
                stopbits=t.stopbits,
                bytesize=t.bytesize,
                timeout=timeout_s,
                retries=0,
                reconnect_delay=3600,
                reconnect_delay_max=3600,
            )
        framer = FramerType.RTU if t.transport == "rtu_over_tcp" else FramerType.SOCKET
        return AsyncModbusTcpClient(
            _required(t.host, t.name, "host"),
            port=t.port,
            framer=framer,
            timeout=timeout_s,
            retries=0,
            reconnect_delay=3600,
            reconnect_delay_max=3600,
        )

    async def _connected(self, timeout_s: float) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        if self._client is not None and self._client.connected:
            return self._client
        self.close()
        client = self._make_client(timeout_s)
        try:
            ok = await asyncio.wait_for(client.connect(), timeout_s)
        except (TimeoutError, OSError, ModbusException) as exc:
            client.close()
            raise LinkDown(f"connect: {exc or type(exc).__name__}") from exc
        if not ok:
            client.close()
            raise LinkDown("connect: refused or unreachable")
        self._client = client
        return client

    async def read(
        self,
        function: Function,
        address: int,
        count: int,
        unit_id: int,
        timeout_s: float,
        pause_s: float = 0.0,
    ) -> list[int] | list[bool]:
        """Read ``count`` registers/bits; raises LinkDown or ExceptionReply. The caller holds
        ``lock``."""
        client = await self._connected(timeout_s)
        call = {
            Function.coil: client.read_coils,
            Function.discrete: client.read_discrete_inputs,
            Function.holding: client.read_holding_registers,
            Function.input: client.read_input_registers,
        }[function]
        try:  # the client's own timeout (timeout_s, no re-wait) bounds the wait for a reply
            reply = await call(address, count=count, device_id=unit_id)
        except (TimeoutError, OSError, ModbusException) as exc:
            self.close()  # a half-answered connection is poisoned: start clean next time
            raise LinkDown(f"{function} {address}+{count}: {exc or type(exc).__name__}") from exc
        finally:
            if pause_s:
                await asyncio.sleep(pause_s)
        if reply.isError():
            raise ExceptionReply(getattr(reply, "exception_code", 0))
        if function in (Function.coil, Function.discrete):
            return list(reply.bits[:count])
        regs = list(reply.registers)
        if len(regs) != count:
            raise ExceptionReply(0)
        return regs

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None


def _required(value: str | None, device: str, setting: str) -> str:
    """The config validator already demands ``setting`` for this transport; this says so to mypy and
    names the device should a target be built without validation."""
    if value is None:
        raise ConfigError([f"modbus device {device!r}: transport needs {setting}"])
    return value
