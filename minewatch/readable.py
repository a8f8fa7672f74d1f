"""Times as a person reads them: every place minewatch shows a time (the API, the CLI, reports)
writes UTC RFC 3339, never the integer nanoseconds it stores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

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
