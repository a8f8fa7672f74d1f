"""Register words ↔ values for every data type and byte/word order, done by hand.

pymodbus only swaps words; byte-swapped orders (BADC, DCBA) would need a manual swap anyway, so one
small table-driven codec here handles all four orders the same way and is what the golden cases
test. Packing the words little-endian (``<H``) is the byte swap; reversing the word list is the word
swap.
"""

from __future__ import annotations

import struct

from minewatch.profiles.modbus import TYPE_RULES, ByteOrder, DataType

_WORD_SWAP = frozenset({ByteOrder.CDAB, ByteOrder.DCBA})
_BYTE_SWAP = frozenset({ByteOrder.BADC, ByteOrder.DCBA})


class WordDecoder:
    """Decodes one (type, order) from its words; built once per register, used every poll."""

    __slots__ = ("_pack", "_unpack", "_word_swap", "words")

    def __init__(self, dtype: DataType, order: ByteOrder) -> None:
        rule = TYPE_RULES[dtype]
        self.words = rule.words
        self._word_swap = order in _WORD_SWAP
        self._pack = struct.Struct(("<" if order in _BYTE_SWAP else ">") + "H" * rule.words).pack
        self._unpack = struct.Struct(">" + rule.struct_code).unpack

    def __call__(self, words: list[int]) -> float:
        if len(words) != self.words:
            raise ValueError(f"needs {self.words} register(s), got {len(words)}")
        return float(self._unpack(self._pack(*(words[::-1] if self._word_swap else words)))[0])


def decode_words(words: list[int], dtype: DataType, order: ByteOrder) -> float:
    """Numeric value of ``words`` (each 0..65535) read as ``dtype`` in ``order``."""
    return WordDecoder(dtype, order)(list(words))


def encode_value(value: float, dtype: DataType, order: ByteOrder) -> list[int]:
    """The words a device sends for ``value``; the simulator serves these (inverse of
    ``decode_words``)."""
    rule = TYPE_RULES[dtype]
    code = rule.struct_code
    raw = struct.pack(">" + code, value if code in "fd" else round(value))
    words = list(struct.unpack(("<" if order in _BYTE_SWAP else ">") + "H" * rule.words, raw))
    return words[::-1] if order in _WORD_SWAP else words
