"""Tolerant parsing of cgminer-style JSON replies.

Firmware JSON is often broken (research/miners.md §1.3, pyasic ``_load_api_data``): a trailing NUL,
``}{`` without a comma, ``,}`` / ``,]`` / ``[,``, raw control characters, bare ``inf``/``nan``.
Those
are repaired; a reply that is still not JSON (a truncated buffer, garbage) is rejected with a reason
and the caller keeps its raw bytes for diagnosis. Repairs never invent values: a truncated reply is
never "closed" into a shorter valid one.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_REPAIRS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"}\s*{"), "},{"),
    (re.compile(r",\s*([}\]])"), r"\1"),
    (re.compile(r"\[\s*,"), "["),
    (re.compile(r"(?<=[:\[,])\s*-inf\b", re.I), "-Infinity"),
    (re.compile(r"(?<=[:\[,])\s*\+?inf\b", re.I), "Infinity"),
    (re.compile(r"(?<=[:\[,])\s*nan\b", re.I), "NaN"),
)
_CONTROL = re.compile(r"[\x00-\x1f]")


class ReplyError(Exception):
    """A reply that could not be parsed; ``reason`` is a short label counted in stats."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def parse_reply(raw: bytes) -> dict[str, Any]:
    """The reply as a dict, repaired where firmware habitually breaks JSON; raises ReplyError."""
    data = raw.rstrip(b"\x00 \t\r\n")
    if not data:
        raise ReplyError("empty", "no bytes before the connection closed")
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        value = _repaired(data.decode("utf-8", errors="replace"))
    if not isinstance(value, dict):
        raise ReplyError("not_object", f"top level is {type(value).__name__}, expected an object")
    return value


def _repaired(text: str) -> Any:
    text = _CONTROL.sub(" ", text)
    for pattern, repl in _REPAIRS:
        text = pattern.sub(repl, text)
    try:
        return json.loads(text)  # the stdlib accepts NaN/Infinity, orjson does not
    except json.JSONDecodeError as exc:
        reason = "truncated" if _unbalanced(text) else "invalid_json"
        raise ReplyError(reason, f"{exc.msg} at byte {exc.pos}") from None


def _unbalanced(text: str) -> bool:
    """True when brackets or a string are left open: the reply was cut short."""
    depth, in_str, esc = 0, False, False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
    return in_str or depth > 0
