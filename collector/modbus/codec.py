"""Register words ↔ values for every data type and byte/word order, done by hand.

pymodbus only swaps words; byte-swapped orders (BADC, DCBA) would need a manual swap anyway, so one
small table-driven codec here handles all four orders the same way and is what the golden cases test.
"""

from __future__ import annotations

import struct

from minewatch.profiles.modbus import TYPE_RULES, ByteOrder, DataType

_WORD_SWAP = {ByteOrder.CDAB, ByteOrder.DCBA}
_BYTE_SWAP = {ByteOrder.BADC, ByteOrder.DCBA}


def _to_wire_order(words: list[int], order: ByteOrder) -> bytes:
    """Bytes in big-endian (ABCD) order from words as they came off the wire."""
    if order in _WORD_SWAP:
        words = words[::-1]
    raw = b"".join(w.to_bytes(2, "big") for w in words)
    if order in _BYTE_SWAP:
        raw = b"".join(raw[i + 1:i + 2] + raw[i:i + 1] for i in range(0, len(raw), 2))
    return raw


def decode_words(words: list[int], dtype: DataType, order: ByteOrder) -> float:
    """Numeric value of ``words`` (each 0..65535) read as ``dtype`` in ``order``."""
    rule = TYPE_RULES[dtype]
    if len(words) != rule.words:
        raise ValueError(f"{dtype} needs {rule.words} register(s), got {len(words)}")
    (value,) = struct.unpack(">" + rule.struct_code, _to_wire_order(list(words), order))
    return float(value)


def encode_value(value: float, dtype: DataType, order: ByteOrder) -> list[int]:
    """The words a device sends for ``value``; the simulator serves these (inverse of ``decode_words``)."""
    rule = TYPE_RULES[dtype]
    code = rule.struct_code
    raw = struct.pack(">" + code, value if code in "fd" else int(round(value)))
    words = [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]
    # the same transformation undoes itself: swapping bytes and reversing words are involutions
    back = _to_wire_order(words, order)
    return [int.from_bytes(back[i:i + 2], "big") for i in range(0, len(back), 2)]
