"""Times as a person reads them: every place minewatch shows a time (the API, the CLI, reports)
writes UTC RFC 3339, never the integer nanoseconds it stores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

from minewatch.sample import NS_PER_S


@overload
def rfc3339(ts_ns: int, *, millis: bool = False) -> str: ...
@overload
def rfc3339(ts_ns: None, *, millis: bool = False) -> None: ...
def rfc3339(ts_ns: int | None, *, millis: bool = False) -> str | None:
    """UTC RFC 3339 with the precision the value has (``Z`` suffix); None stays None.

    ``millis``: always exactly three fraction digits (truncated), the fixed form of signed regulator
    messages and licence terms, which other systems parse.
    """
    if ts_ns is None:
        return None
    secs, ns = divmod(int(ts_ns), NS_PER_S)
    base = datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if millis:
        return f"{base}.{ns // 1_000_000:03d}Z"
    if ns == 0:
        return base + "Z"
    if ns % 1_000_000 == 0:
        return f"{base}.{ns // 1_000_000:03d}Z"
    return f"{base}.{ns:09d}Z"


def readable(obj: Any) -> Any:
    """A record as a person reads it (API, CLI): plain dicts and lists, with every ``*_ns``
    timestamp turned into RFC 3339 (key without ``_ns``) and evidence points ``[ts_ns, value]`` into
    ``[time, value]``."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            if k.endswith("_ns") and (v is None or isinstance(v, int)):
                out[k[:-3]] = rfc3339(v)
            elif k == "points" and isinstance(v, list):
                out[k] = [
                    [rfc3339(p[0]), p[1]]
                    if isinstance(p, (list, tuple)) and len(p) == 2 and isinstance(p[0], int)
                    else readable(p)
                    for p in v
                ]
            else:
                out[k] = readable(v)
        return out
    if isinstance(obj, list):
        return [readable(x) for x in obj]
    return obj


def rfc3339_many(ts_ns: npt.ArrayLike) -> list[str]:
    """``rfc3339`` of each timestamp, formatted by numpy: a 24 h raw series is 8,640 points and
    one ``datetime`` per point was most of its response time. Same strings as ``rfc3339``."""
    ts = np.asarray(ts_ns, dtype=np.int64)
    at: npt.NDArray[np.datetime64] = ts.astype("datetime64[ns]")
    frac = ts % NS_PER_S
    out = np.empty(len(ts), dtype="<U40")
    whole_ms = frac % 1_000_000 == 0
    precisions: tuple[tuple[Literal["s", "ms", "ns"], npt.NDArray[np.bool_]], ...] = (
        ("s", frac == 0),
        ("ms", whole_ms & (frac != 0)),
        ("ns", ~whole_ms),
    )
    for unit, wanted in precisions:
        if wanted.all():  # the usual series: one precision throughout, one numpy call
            out = np.datetime_as_string(at, unit=unit, timezone="UTC")
            break
        if wanted.any():
            out[wanted] = np.datetime_as_string(at[wanted], unit=unit, timezone="UTC")
    strings: list[str] = out.tolist()
    return strings
