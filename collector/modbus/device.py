"""Polling one Modbus device: its planned reads, decoding, and its up/down state.

One device's failure is contained here: a block answered with an exception marks only that block's
metrics bad; a device that does not answer is marked down (``up`` = 0), logged once when it goes
down and once when it comes back, and never holds up another device.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field

from minewatch.collector.modbus.codec import WordDecoder
from minewatch.collector.modbus.link import (
    TRANSIENT_EXCEPTIONS,
    ExceptionReply,
    LinkDown,
    ModbusLink,
)
from minewatch.collector.modbus.plan import ReadBlock, plan_reads
from minewatch.config.polling import ModbusTarget
from minewatch.counters import Counters
from minewatch.profiles import DeviceProfile
from minewatch.profiles.modbus import BIT_FUNCTIONS, DataType, Register
from minewatch.sample import Sample

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Field:
    """A register prepared for decoding: plain attributes, no model lookups in the poll loop."""

    metric: str
    offset: int  # within its read block
    in_bits: bool  # a coil/discrete input (one bit per address)
    bit: int | None  # a bool inside a register
    decoder: WordDecoder | None
    scale: float
    add: float
    invert: bool
    invalid: frozenset[float]
    plausible: tuple[float, float]  # the physically possible range, after scaling


def _compile(reg: Register, block: ReadBlock, profile: DeviceProfile) -> _Field:
    is_bool = reg.type is DataType.bool
    return _Field(
        reg.metric,
        reg.pdu_address - block.address,
        reg.function in BIT_FUNCTIONS,
        reg.bit,
        None if is_bool else WordDecoder(reg.type, reg.order),  # type: ignore[arg-type]
        reg.scale,
        reg.offset,
        reg.invert,
        frozenset(reg.invalid),
        profile.plausible_range(reg.metric),
    )


@dataclass
class PollResult:
    samples: list[Sample] = field(default_factory=list)
    up: bool = False
    bad_metrics: list[str] = field(default_factory=list)
    requests: int = 0


class ModbusDevice:
    """A configured device bound to its profile's map and to its (possibly shared) link."""

    def __init__(
        self, target: ModbusTarget, profile: DeviceProfile, link: ModbusLink, counters: Counters
    ) -> None:
        if profile.modbus is None:
            raise ValueError(
                f"modbus device {target.name!r}: profile {profile.id!r} has no modbus: section"
            )
        self.target = target
        self.profile = profile
        self.link = link
        self.counters = counters
        self.blocks: list[ReadBlock] = plan_reads(profile.modbus)
        self._fields = [[_compile(r, b, profile) for r in b.registers] for b in self.blocks]
        self.up: bool | None = None  # unknown until the first poll
        self._failing_blocks: set[str] = set()
        self._implausible: set[str] = set()  # metrics whose last reading was impossible

    @property
    def name(self) -> str:
        return self.target.name

    async def _read_block(self, block: ReadBlock, result: PollResult) -> list[int] | list[bool]:
        t = self.target
        attempt = 0
        while True:
            result.requests += 1
            try:
                return await self.link.read(
                    block.function, block.address, block.count, t.unit_id, t.timeout_s, t.pause_s
                )
            except ExceptionReply as exc:
                if exc.code not in TRANSIENT_EXCEPTIONS or attempt >= t.retries:
                    raise
                self.counters.inc("modbus_retries_total", reason=f"exception_{exc.code}")
                await asyncio.sleep(t.backoff_s * (2**attempt))
                attempt += 1

    async def poll(self, ts: int) -> PollResult:
        """Read every block once, holding the link; never raises for device or network problems."""
        async with self.link.lock:
            return await self._poll_locked(ts)

    async def _poll_locked(self, ts: int) -> PollResult:
        result = PollResult()
        answered = False
        for block, fields in zip(self.blocks, self._fields, strict=True):
            key = block.describe()
            try:
                data = await self._read_block(block, result)
            except LinkDown as exc:
                self.counters.inc("modbus_errors_total", reason="no_answer")
                self._set_up(False, str(exc))
                self.counters.inc("modbus_requests_total", result.requests)
                result.samples = [Sample(ts, self.name, "up", 0.0)]
                result.up = False
                return result
            except ExceptionReply as exc:
                answered = True
                self.counters.inc("modbus_errors_total", reason=f"exception_{exc.code}")
                if key not in self._failing_blocks:
                    self._failing_blocks.add(key)
                    log.warning(
                        "modbus device %s: %s answered %s; its metrics (%s) are bad until it "
                        "recovers",
                        self.name,
                        key,
                        exc,
                        ", ".join(r.metric for r in block.registers),
                    )
                result.bad_metrics.extend(r.metric for r in block.registers)
                continue
            answered = True
            if key in self._failing_blocks:
                self._failing_blocks.discard(key)
                log.warning("modbus device %s: %s answers again", self.name, key)
            for f in fields:
                value = self._decode(f, data)
                if value is None:
                    result.bad_metrics.append(f.metric)
                else:
                    result.samples.append(Sample(ts, self.name, f.metric, value))
        self.counters.inc("modbus_requests_total", result.requests)
        result.up = answered
        self._set_up(answered, "")
        result.samples.append(Sample(ts, self.name, "up", 1.0 if answered else 0.0))
        return result

    def _decode(self, f: _Field, data: list[int] | list[bool]) -> float | None:
        if f.decoder is None:  # a bool: a coil/discrete input, or one bit of a register
            raw = 1.0 if (data[f.offset] if f.in_bits else (data[f.offset] >> f.bit) & 1) else 0.0  # type: ignore[operator]
            return 1.0 - raw if f.invert else raw
        raw = f.decoder(data[f.offset : f.offset + f.decoder.words])  # type: ignore[arg-type]
        if raw in f.invalid:
            self.counters.inc("rejected_total", reason="modbus_sensor_invalid")
            return None
        if not math.isfinite(raw):
            self.counters.inc("rejected_total", reason="modbus_non_finite")
            return None
        value = raw * f.scale + f.add
        lo, hi = f.plausible
        if not lo <= value <= hi:
            # register garbage (a wrong map, a meter mid-reset) must not reach the rules as a
            # breach; logged once until the metric reads a possible value again
            self.counters.inc("rejected_total", reason="modbus_implausible")
            if f.metric not in self._implausible:
                self._implausible.add(f.metric)
                log.warning(
                    "modbus device %s: %s = %g (register value %g) is outside the physically "
                    "possible %g..%g; rejected until it reads a possible value",
                    self.name,
                    f.metric,
                    value,
                    raw,
                    lo,
                    hi,
                )
            return None
        self._implausible.discard(f.metric)
        return value

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
