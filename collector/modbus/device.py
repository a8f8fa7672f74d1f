"""Polling one Modbus device: its planned reads, decoding, and its up/down state.

One device's failure is contained here: a block answered with an exception marks only that block's
metrics bad; a device that does not answer is marked down (``up`` = 0), logged once when it goes down
and once when it comes back, and never holds up another device.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field

from collector.modbus.codec import decode_words
from collector.modbus.link import TRANSIENT_EXCEPTIONS, ExceptionReply, LinkDown, ModbusLink
from collector.modbus.plan import ReadBlock, plan_reads
from minewatch.config.polling import ModbusTarget
from minewatch.counters import Counters
from minewatch.profiles import DeviceProfile
from minewatch.profiles.modbus import BIT_FUNCTIONS, DataType, Register
from minewatch.sample import Sample

log = logging.getLogger(__name__)


@dataclass
class PollResult:
    samples: list[Sample] = field(default_factory=list)
    up: bool = False
    bad_metrics: list[str] = field(default_factory=list)
    requests: int = 0


class ModbusDevice:
    """A configured device bound to its profile's map and to its (possibly shared) link."""

    def __init__(self, target: ModbusTarget, profile: DeviceProfile, link: ModbusLink, counters: Counters) -> None:
        if profile.modbus is None:
            raise ValueError(f"modbus device {target.name!r}: profile {profile.id!r} has no modbus: section")
        self.target = target
        self.profile = profile
        self.link = link
        self.counters = counters
        self.blocks: list[ReadBlock] = plan_reads(profile.modbus)
        self.up: bool | None = None  # unknown until the first poll
        self._failing_blocks: set[str] = set()

    @property
    def name(self) -> str:
        return self.target.name

    async def _read_block(self, block: ReadBlock, result: PollResult) -> list[int] | list[bool]:
        t = self.target
        attempt = 0
        while True:
            result.requests += 1
            self.counters.inc("modbus_requests_total", reason=f"fc{block.function_code}")
            try:
                return await self.link.read(block.function, block.address, block.count, t.unit_id, t.timeout_s, t.pause_s)
            except ExceptionReply as exc:
                if exc.code not in TRANSIENT_EXCEPTIONS or attempt >= t.retries:
                    raise
                self.counters.inc("modbus_retries_total", reason=f"exception_{exc.code}")
                await asyncio.sleep(t.backoff_s * (2 ** attempt))
                attempt += 1

    async def poll(self, ts: int) -> PollResult:
        """Read every block once; never raises for device or network problems."""
        result = PollResult()
        answered = False
        for block in self.blocks:
            key = block.describe()
            try:
                data = await self._read_block(block, result)
            except LinkDown as exc:
                self.counters.inc("modbus_errors_total", reason="no_answer")
                self._set_up(False, str(exc))
                result.samples = [Sample(ts, self.name, "up", 0.0)]
                result.up = False
                return result
            except ExceptionReply as exc:
                answered = True
                self.counters.inc("modbus_errors_total", reason=f"exception_{exc.code}")
                if key not in self._failing_blocks:
                    self._failing_blocks.add(key)
                    log.warning("modbus device %s: %s answered %s; its metrics (%s) are bad until it recovers",
                                self.name, key, exc, ", ".join(r.metric for r in block.registers))
                result.bad_metrics.extend(r.metric for r in block.registers)
                continue
            answered = True
            if key in self._failing_blocks:
                self._failing_blocks.discard(key)
                log.warning("modbus device %s: %s answers again", self.name, key)
            for reg in block.registers:
                value = self._decode(reg, block, data)
                if value is None:
                    result.bad_metrics.append(reg.metric)
                else:
                    result.samples.append(Sample(ts, self.name, reg.metric, value))
        result.up = answered
        self._set_up(answered, "")
        result.samples.append(Sample(ts, self.name, "up", 1.0 if answered else 0.0))
        return result

    def _decode(self, reg: Register, block: ReadBlock, data: list[int] | list[bool]) -> float | None:
        offset = reg.pdu_address - block.address
        if reg.function in BIT_FUNCTIONS:
            raw = 1.0 if data[offset] else 0.0
        elif reg.type is DataType.bool:
            raw = float((data[offset] >> reg.bit) & 1)  # type: ignore[operator]
        else:
            raw = decode_words(list(data[offset:offset + reg.words]), reg.type, reg.order)  # type: ignore[arg-type]
        if reg.type is DataType.bool:
            return 1.0 - raw if reg.invert else raw
        if raw in reg.invalid:
            self.counters.inc("rejected_total", reason="modbus_sensor_invalid")
            return None
        if not math.isfinite(raw):
            self.counters.inc("rejected_total", reason="modbus_non_finite")
            return None
        return raw * reg.scale + reg.offset

    def _set_up(self, up: bool, why: str) -> None:
        if up == self.up:
            return
        if not up:
            log.warning("modbus device %s (%s) is not answering: %s", self.name, self._where(), why)
        elif self.up is False:
            log.warning("modbus device %s (%s) answers again", self.name, self._where())
        self.up = up

    def _where(self) -> str:
        t = self.target
        endpoint = t.serial_port if t.transport == "rtu" else f"{t.host}:{t.port}"
        return f"{t.transport} {endpoint} unit {t.unit_id}"
