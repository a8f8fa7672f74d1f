"""How a device's Modbus register map maps onto metrics.

A register is named by its *function* (coil, discrete input, holding register, input register)
and its *address*. Manuals disagree on addresses: some print the 0-based PDU address that goes on
the wire, some 1-based register numbers, some the Modicon 5-digit form (30001 = input register,
PDU address 0). A map states which one it uses in ``addressing`` and every register is converted
to its PDU address once, at load, so the poller never guesses.

Which options a data type may use is one table, ``TYPE_RULES``; an illegal combination is refused
at load with the register named.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from minewatch.units import check_metric_name


class Function(StrEnum):
    """Modbus data tables. The poller reads each with its read function code (1-4) and nothing
    else."""

    coil = "coil"
    discrete = "discrete"
    holding = "holding"
    input = "input"


#: Read function code of each table; these four are the only codes the poller ever sends.
READ_FUNCTION_CODE: dict[Function, int] = {
    Function.coil: 1,
    Function.discrete: 2,
    Function.holding: 3,
    Function.input: 4,
}
BIT_FUNCTIONS = frozenset({Function.coil, Function.discrete})
#: Modicon 5-digit prefixes: 0xxxx coils, 1xxxx discrete inputs, 3xxxx input registers, 4xxxx
#: holding.
MODICON_BASE: dict[Function, int] = {
    Function.coil: 0,
    Function.discrete: 10000,
    Function.input: 30000,
    Function.holding: 40000,
}


class DataType(StrEnum):
    bool = "bool"
    int16 = "int16"
    uint16 = "uint16"
    int32 = "int32"
    uint32 = "uint32"
    int64 = "int64"
    uint64 = "uint64"
    float32 = "float32"
    float64 = "float64"


class ByteOrder(StrEnum):
    """Byte order of a multi-byte value, A being the most significant byte as sent.

    ABCD big-endian; CDAB word-swapped (low word first); BADC bytes swapped inside each word;
    DCBA little-endian. For 64-bit values the same letters describe the pattern for all four
    words.
    """

    ABCD = "ABCD"
    CDAB = "CDAB"
    BADC = "BADC"
    DCBA = "DCBA"


@dataclass(frozen=True)
class TypeRule:
    """What a data type allows: registers it occupies, tables it can live in, orders, bit,
    scaling."""

    words: int
    functions: frozenset[Function]
    orders: frozenset[ByteOrder]
    bit: Literal["forbidden", "required_in_registers"]
    scale: bool
    struct_code: str


_REG = frozenset({Function.holding, Function.input})
_ALL_ORDERS = frozenset(ByteOrder)
_16_ORDERS = frozenset({ByteOrder.ABCD, ByteOrder.BADC})  # one word: only the bytes can swap

#: The legality table: one row per data type.
TYPE_RULES: dict[DataType, TypeRule] = {
    DataType.bool: TypeRule(
        1, frozenset(Function), frozenset({ByteOrder.ABCD}), "required_in_registers", False, ""
    ),
    DataType.int16: TypeRule(1, _REG, _16_ORDERS, "forbidden", True, "h"),
    DataType.uint16: TypeRule(1, _REG, _16_ORDERS, "forbidden", True, "H"),
    DataType.int32: TypeRule(2, _REG, _ALL_ORDERS, "forbidden", True, "i"),
    DataType.uint32: TypeRule(2, _REG, _ALL_ORDERS, "forbidden", True, "I"),
    DataType.int64: TypeRule(4, _REG, _ALL_ORDERS, "forbidden", True, "q"),
    DataType.uint64: TypeRule(4, _REG, _ALL_ORDERS, "forbidden", True, "Q"),
    DataType.float32: TypeRule(2, _REG, _ALL_ORDERS, "forbidden", True, "f"),
    DataType.float64: TypeRule(4, _REG, _ALL_ORDERS, "forbidden", True, "d"),
}


class Register(BaseModel):
    """One metric read from one register (or run of registers, or one bit)."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(description="Metric name with unit, e.g. voltage_v_l1")
    function: Function
    address: int = Field(
        ge=0,
        description="In the map's `addressing` convention; converted to the PDU address at load",
    )
    type: DataType | None = Field(
        None, description="Default: bool for coil/discrete, uint16 for registers"
    )
    order: ByteOrder = ByteOrder.ABCD
    bit: int | None = Field(
        None, ge=0, le=15, description="Bit of a holding/input register for type bool (0 = LSB)"
    )
    scale: float = Field(1.0, description="value = raw * scale + offset")
    offset: float = 0.0
    invert: bool = Field(False, description="bool only: the input is normally closed (1 = healthy)")
    estimate: bool = Field(False, description="The device computes rather than measures this value")
    invalid: list[float] = Field(
        default_factory=list, description="Raw values the device uses for 'no reading'"
    )
    unit: str | None = Field(None, description="Unit as printed in the manual (documentation)")

    _pdu_address: int = 0

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        return check_metric_name(v)

    @model_validator(mode="after")
    def _legal(self) -> Register:
        if self.type is None:
            self.type = DataType.bool if self.function in BIT_FUNCTIONS else DataType.uint16
        rule = TYPE_RULES[self.type]
        problems = []
        if self.function not in rule.functions:
            problems.append(
                f"type {self.type} cannot be read from {self.function} "
                f"(allowed: {', '.join(sorted(rule.functions))})"
            )
        if self.order not in rule.orders:
            problems.append(
                f"order {self.order} is not legal for {self.type} (allowed: "
                f"{', '.join(sorted(rule.orders))})"
            )
        in_registers = self.function not in BIT_FUNCTIONS
        if rule.bit == "forbidden" and self.bit is not None:
            problems.append(f"bit is only legal for type bool, not {self.type}")
        if rule.bit == "required_in_registers":
            if in_registers and self.bit is None:
                problems.append(f"a bool in {self.function} registers needs bit: 0..15")
            if not in_registers and self.bit is not None:
                problems.append(
                    f"bit is not legal on a {self.function}: each {self.function} is one bit "
                    "already"
                )
        if not rule.scale and (self.scale != 1.0 or self.offset != 0.0):
            problems.append(f"scale/offset are not legal for {self.type}")
        if self.invert and self.type is not DataType.bool:
            problems.append(f"invert is only legal for type bool, not {self.type}")
        if problems:
            raise ValueError(f"register {self.metric!r}: " + "; ".join(problems))
        return self

    @property
    def words(self) -> int:
        """Registers occupied (1 for a coil/discrete bit: one bit in the bit tables)."""
        return TYPE_RULES[self.type].words  # type: ignore[index]

    @property
    def pdu_address(self) -> int:
        return self._pdu_address


Addressing = Literal["pdu", "one_based", "modicon"]


class ModbusMap(BaseModel):
    """Register map of one device model, with the source it was taken from and read-size limits."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        min_length=3,
        description="Where the register map comes from (manual, document number, repo)",
    )
    addressing: Addressing = Field(
        description="pdu: 0-based address sent on the wire; one_based: register numbers (PDU = n - "
        "1); "
        "modicon: 5-digit numbers 0xxxx/1xxxx/3xxxx/4xxxx (PDU = n - base - 1)"
    )
    max_registers_per_read: int = Field(
        125, ge=1, le=125, description="Cap for meters that reject long reads"
    )
    max_bits_per_read: int = Field(2000, ge=1, le=2000)
    max_gap: int = Field(
        0,
        ge=0,
        le=124,
        description="Unused registers/bits a merged read may span to save a request",
    )
    registers: list[Register] = Field(min_length=1)

    @model_validator(mode="after")
    def _convert_and_check(self) -> ModbusMap:
        problems: list[str] = []
        seen: set[str] = set()
        for reg in self.registers:
            try:
                reg._pdu_address = to_pdu_address(self.addressing, reg.function, reg.address)
            except ValueError as exc:
                problems.append(f"register {reg.metric!r}: {exc}")
                continue
            if reg.metric in seen:
                problems.append(f"register {reg.metric!r}: metric defined twice")
            seen.add(reg.metric)
            if reg.function not in BIT_FUNCTIONS and reg.words > self.max_registers_per_read:
                problems.append(
                    f"register {reg.metric!r}: {reg.type} needs {reg.words} registers, more than "
                    f"max_registers_per_read {self.max_registers_per_read}"
                )
            if reg.pdu_address + reg.words > 65536:
                problems.append(
                    f"register {reg.metric!r}: PDU address {reg.pdu_address} + {reg.words} runs "
                    "past 65535"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self


def to_pdu_address(addressing: Addressing, function: Function, address: int) -> int:
    """Convert an address in the map's convention to the 0-based PDU address (raises ValueError)."""
    if addressing == "pdu":
        pdu = address
    elif addressing == "one_based":
        if address < 1:
            raise ValueError(f"one_based register numbers start at 1, got {address}")
        pdu = address - 1
    else:
        base = MODICON_BASE[function]
        if not base + 1 <= address <= base + 9999:
            raise ValueError(
                f"modicon number {address} is not a {function} number "
                f"(expected {base + 1}..{base + 9999})"
            )
        pdu = address - base - 1
    if pdu > 65535:
        raise ValueError(f"PDU address {pdu} is above 65535")
    return pdu
