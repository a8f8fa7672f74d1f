"""Paths into a device's JSON payload: dotted keys with ``[n]`` list indexes.

Both the facility file (a group may name the payload field holding the device id or profile) and
the device profiles (each metric's field) name payload fields this way, so the syntax lives below
both of them.
"""

from __future__ import annotations

import re

PathKey = str | int
_PATH = re.compile(r"^(?:[^.\[\]]+|\[\d+\])(?:\.[^.\[\]]+|\[\d+\])*$")
_PART = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def parse_path(path: str) -> tuple[PathKey, ...]:
    """``"boards[1].temp"`` → ``("boards", 1, "temp")``; ValueError saying what is wrong
    otherwise."""
    if not _PATH.match(path):
        raise ValueError(
            f"bad payload path {path!r}: expected keys separated by '.' and [n] list indexes, "
            f"e.g. temps.chip_max or fans[0]"
        )
    return tuple(
        m.group(1) if m.group(1) is not None else int(m.group(2)) for m in _PART.finditer(path)
    )


def format_path(keys: tuple[PathKey, ...]) -> str:
    """Inverse of ``parse_path`` (used to name unknown payload fields in rejections)."""
    out = ""
    for k in keys:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else k)
    return out
