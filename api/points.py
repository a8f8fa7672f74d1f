"""A series response as JSON bytes, built without one Python list per ``[time, value]`` point.

A day of raw points is 8,640 pairs. As lists they were enough allocations to set off the garbage
collector's full passes every ~10 requests, and a full pass over a 30,000-rig API's heap took 100 to
200 ms: the p95 and p99 of the series route (docs/benchmarks-api.md). Times and values are encoded
column by column by orjson (strings and floats are not tracked by the collector) and paired as
bytes; neither an RFC 3339 time nor a JSON number contains a comma, so each column splits cleanly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson


def points_json(times: Sequence[str], values: Sequence[float]) -> bytes:
    """``[[time, value], ...]``, the same JSON orjson writes for the list of pairs."""
    if not times:
        return b"[]"
    t = orjson.dumps(list(times))[1:-1].split(b",")
    v = orjson.dumps(list(values))[1:-1].split(b",")
    if len(t) != len(v):
        raise ValueError(f"{len(t)} times but {len(v)} values")
    return b"[" + b",".join(b"[%b,%b]" % pair for pair in zip(t, v, strict=True)) + b"]"


def series_json(head: dict[str, Any], times: Sequence[str], values: Sequence[float]) -> bytes:
    """``head`` with ``"points"`` appended as its last key."""
    if "points" in head:
        raise ValueError("head must not hold points: they are appended")
    return orjson.dumps(head)[:-1] + b',"points":' + points_json(times, values) + b"}"
