"""Turning a register map into as few read requests as the device allows.

Registers of one table are sorted by PDU address and merged into one read while the read stays
within the per-request limit (125 registers / 2000 bits by protocol, lower per profile) and the hole
between them is at most ``max_gap`` unused addresses (reading a hole costs bytes, not a round trip,
but some devices answer "illegal address" for holes, so the default is 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from minewatch.profiles.modbus import (
    BIT_FUNCTIONS,
    READ_FUNCTION_CODE,
    Function,
    ModbusMap,
    Register,
)


@dataclass
class ReadBlock:
    """One read request: ``count`` registers or bits of ``function`` from ``address``."""

    function: Function
    address: int
    count: int
    registers: list[Register] = field(default_factory=list)

    @property
    def function_code(self) -> int:
        return READ_FUNCTION_CODE[self.function]

    @property
    def end(self) -> int:
        return self.address + self.count

    def describe(self) -> str:
        return f"{self.function} {self.address}..{self.end - 1}"


def _span(reg: Register) -> int:
    """Addresses a register occupies in its table (one bit in a bit table)."""
    return 1 if reg.function in BIT_FUNCTIONS else reg.words


def plan_reads(modbus: ModbusMap) -> list[ReadBlock]:
    """Read blocks covering every register of the map, in table then address order."""
    blocks: list[ReadBlock] = []
    for function in Function:
        regs = sorted(
            (r for r in modbus.registers if r.function is function), key=lambda r: r.pdu_address
        )
        limit = (
            modbus.max_bits_per_read if function in BIT_FUNCTIONS else modbus.max_registers_per_read
        )
        current: ReadBlock | None = None
        for reg in regs:
            start, end = reg.pdu_address, reg.pdu_address + _span(reg)
            if (
                current is not None
                and start - current.end <= modbus.max_gap
                and max(end, current.end) - current.address <= limit
            ):
                current.count = max(end, current.end) - current.address
                current.registers.append(reg)
                continue
            current = ReadBlock(function, start, end - start, [reg])
            blocks.append(current)
    return blocks
