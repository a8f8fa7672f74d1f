"""Reading profile field paths (``STATS[0].chain[*].temp_chip``) out of parsed replies."""

from __future__ import annotations

import fnmatch
import functools
import math
import re
from collections.abc import Iterator
from typing import Any

from minewatch.profiles.minerapi import ApiField, path_segments


@functools.lru_cache(maxsize=8192)
def _segments(path: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Parsed once per distinct path: thousands of miners share a handful of profile paths."""
    return tuple((key, tuple(idx)) for key, idx in path_segments(path))


def resolve(doc: Any, path: str) -> list[Any]:
    """Every value at ``path`` (a wildcard can yield several); empty when the path does not
    exist."""
    nodes = [doc]
    for key, indexes in _segments(path):
        nxt: list[Any] = []
        for node in nodes:
            if key:
                nxt.extend(_by_key(node, key))
            else:
                nxt.append(node)
        for idx in indexes:
            nxt = [x for node in nxt for x in _by_index(node, idx)]
        nodes = nxt
    return nodes


def _by_key(node: Any, key: str) -> Iterator[Any]:
    if not isinstance(node, dict):
        return
    if "*" in key or "?" in key:
        for k in sorted((k for k in node if fnmatch.fnmatchcase(k, key)), key=_natural):
            yield node[k]
    elif key in node:
        yield node[key]


def _by_index(node: Any, idx: str) -> Iterator[Any]:
    if isinstance(node, list):
        if idx == "*":
            yield from node
        elif int(idx) < len(node):
            yield node[int(idx)]


def _natural(key: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", key))


#: One signed number of a dash-joined sensor string: Antminer ``temp_pic1`` "-8--11-10-12" is
#: -8, -11, 10, 12 (delawr0190/foreman-apps AntminerStatsITest.java, "S19 (really cold)").
_DASHED_NUMBER = re.compile(r"(?:^|-)(-?\d+(?:\.\d+)?)")
_DASHED_STRING = re.compile(r"(-?\d+(?:\.\d+)?)?(?:-(?:-?\d+(?:\.\d+)?)?)*")


def dashed(value: str) -> list[str]:
    """The numbers of a dash-joined sensor string, minus signs kept; ValueError when it is not
    one."""
    text = value.strip()
    if not _DASHED_STRING.fullmatch(text):
        raise ValueError(f"{value!r} is not a dash-joined list of numbers")
    return _DASHED_NUMBER.findall(text)


def _split(value: str, split: str) -> list[str]:
    """Parts of a joined sensor string; a dash separator keeps the minus signs of its numbers."""
    return dashed(value) if split == "-" else value.split(split)


@functools.lru_cache(maxsize=256)
def _bracket_re(key: str) -> re.Pattern[str]:
    return re.compile(rf"(?:^|\s){re.escape(key)}\[([^\]]*)\]")


def _bracketed(value: str, key: str) -> list[str]:
    """The values of ``Key[v1 v2 ...]`` in a packed string (a trailing % dropped); none when the
    key is not there."""
    m = _bracket_re(key).search(value)
    return [v.removesuffix("%") for v in m.group(1).split()] if m else []


def _numbers(value: Any, fld: ApiField) -> Iterator[float]:
    if isinstance(value, str) and fld.bracket is not None:
        for part in _bracketed(value, fld.bracket):
            try:
                yield float(part)
            except ValueError:
                raise ValueError(f"{fld.bracket}[{part}] is not a number") from None
        return
    if isinstance(value, (bool, int, float)):
        yield float(value)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v, fld)
    elif isinstance(value, str):
        if fld.values is not None:
            if value.strip() not in fld.values:
                known = ", ".join(sorted(fld.values))
                raise ValueError(f"{value!r} is not one of the mapped texts ({known})")
            yield fld.values[value.strip()]
            return
        for p in _split(value, fld.split) if fld.split else [value]:
            p = p.strip()
            if not p:
                continue
            try:
                yield float(p)
            except ValueError:
                raise ValueError(f"{value!r} is not a number") from None


class FieldError(Exception):
    """The field's value is present but unusable (text, inf/nan); ``reason`` is counted."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def extract(
    field: ApiField, reply: dict[str, Any], faults: list[str] | None = None
) -> float | None:
    """The field's value from its command's reply; None when no path resolves; FieldError when
    bad. Values outside ``field.valid`` are left out and described in ``faults``."""
    values: list[float] = []
    for path in field.paths:
        for raw in resolve(reply, path):
            try:
                values.extend(_numbers(raw, field))
            except ValueError as exc:
                raise FieldError("not_a_number", f"{path}: {exc}") from None
    if any(not math.isfinite(v) for v in values):
        raise FieldError("non_finite", f"{field.paths[0]}: firmware reported inf/nan")
    resolved = bool(values)
    if field.ignore_zero:
        values = [v for v in values if v != 0]
    if field.valid is not None:
        low, high = field.valid
        bad = [v for v in values if not low <= v <= high]
        if bad and faults is not None:
            faults.append(f"{field.paths[0]}: {bad} outside [{low:g}, {high:g}]")
        values = [v for v in values if low <= v <= high]
    if field.reduce == "count" and resolved:  # a sleeping miner has 0 boards, not no answer
        return float(len(values)) * field.scale + field.offset
    if not values:
        return None
    if field.reduce == "first":
        v = values[0]
    elif field.reduce == "max":
        v = max(values)
    elif field.reduce == "min":
        v = min(values)
    elif field.reduce == "sum":
        v = sum(values)
    else:
        v = sum(values) / len(values)
    return v * field.scale + field.offset
