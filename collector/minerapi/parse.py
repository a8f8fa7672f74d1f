"""Tolerant parsing of cgminer-style JSON replies.

Firmware JSON is often broken (UpstreamData/pyasic ``pyasic/rpc/base.py`` ``_load_api_data`` lists
the habits): a trailing NUL, ``}{`` without a comma, ``,}`` / ``,]`` / ``[,``, raw control
characters, bare ``inf``/``nan``, stray bytes after the object (an S9k ``version`` reply ends
``"id":1}"}`` in the same file), and escapes JSON does not have (Whatsminer M20S firmware 20200917
sends ``"Firmware Version":"\\'20200917.22.REL\\'"``; delawr0190/foreman-apps
``WhatsminerStatsITest.java``). Those are repaired; a reply that is still not JSON (a truncated
buffer, garbage) is rejected with a reason and the caller keeps its raw bytes for diagnosis. Repairs
never invent values: a truncated reply is never "closed" into a shorter valid one.

A reply that parses but whose ``STATUS`` is ``E`` or ``F`` (cgminer API-README: error, fatal;
"Access denied to 'stats' command") carries no data: ``reply_status_error`` says so.
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
#: A backslash and the character after it; only JSON's own escapes are kept.
_ESCAPE = re.compile(r"\\(.)", re.S)
_JSON_ESCAPES = frozenset('"\\/bfnrtu')


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
    text = _ESCAPE.sub(lambda m: m.group(0) if m.group(1) in _JSON_ESCAPES else m.group(1), text)
    for pattern, repl in _REPAIRS:
        text = pattern.sub(repl, text)
    try:
        return json.loads(text)  # the stdlib accepts NaN/Infinity, orjson does not
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # a whole object, then stray bytes: the object is the reply
            return json.JSONDecoder().raw_decode(text.lstrip())[0]
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


def reply_status_error(doc: dict[str, Any]) -> str | None:
    """The firmware's message when the reply's ``STATUS`` is ``E``/``F``, else None.

    cgminer puts ``STATUS`` in a list of objects; btminer's ``get_*`` commands put a bare letter at
    the top level (``{"STATUS":"E","Msg":"..."}``)."""
    status = doc.get("STATUS")
    if isinstance(status, list) and status and isinstance(status[0], dict):
        letter, msg = status[0].get("STATUS"), status[0].get("Msg")
    else:
        letter, msg = status, doc.get("Msg")
    if letter in ("E", "F"):
        return str(msg or f"STATUS {letter}")
    return None
