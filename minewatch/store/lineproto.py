"""InfluxDB line protocol, formatted as plain strings.

Pre-formatted strings are what makes the write path fast: influxdb-client's ``Point`` objects cap
one core at ~140-180k lines/s where formatted strings reach ~2.9M (measured on one core). One line
carries every metric a device reported at one instant, so a rig status of 12 values is one line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from minewatch.sample import DeviceMeta, SampleBatch

#: Measurement of samples whose device has no known kind yet.
UNCLASSIFIED = "unclassified"
#: Measurements minewatch keeps for itself (device metadata, alert copies) start with this; device
#: kinds never do, so readers of telemetry skip them.
OWN_PREFIX = "minewatch_"
#: Measurement holding device metadata (kind, model, zone, rack, role, first/last seen).
DEVICES_MEASUREMENT = OWN_PREFIX + "devices"
#: Tag keys, in the sorted order InfluxDB prefers (it sorts them anyway; sorted input saves it
#: work).
TAG_KEYS = ("device", "facility", "model", "rack", "role", "zone")

_MEAS_ESC = str.maketrans({",": r"\,", " ": r"\ ", "\n": " ", "\\": "\\\\"})
_KEY_ESC = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": " ", "\\": "\\\\"})
_STR_ESC = str.maketrans({'"': r"\"", "\\": "\\\\", "\n": " "})


def escape_measurement(name: str) -> str:
    return name.translate(_MEAS_ESC)


def escape_key(name: str) -> str:
    """Tag keys, tag values and field keys share one escaping rule."""
    return name.translate(_KEY_ESC)


def series_prefix(meta: DeviceMeta | None, device: str, facility: str) -> str:
    """``measurement,tag=value,...`` for one device. Only stable identity is a tag, never a
    value."""
    values = {"device": device, "facility": facility}
    if meta is not None:
        values.update(model=meta.model, rack=meta.rack, role=meta.role, zone=meta.zone)
    measurement = meta.kind if meta is not None and meta.kind else UNCLASSIFIED
    tags = "".join(f",{k}={escape_key(values[k])}" for k in TAG_KEYS if values.get(k))
    return escape_measurement(measurement) + tags


@dataclass
class Formatted:
    """Lines ready to send, how many values had to be left out, and each device's time span."""

    lines: list[str]
    non_finite: int
    span: dict[str, tuple[int, int]]


def format_samples(batch: SampleBatch, prefixes: Mapping[str, str]) -> Formatted:
    """One line per (device, ts) with all its metrics as float fields, lines in device then time
    order.

    ``prefixes`` maps each device to its ``series_prefix``. Non-finite values cannot be written in
    line protocol; they are left out and counted. The grouping into lines is one numpy sort; what
    remains in Python per sample is formatting its field (``key=repr(value)``).
    """
    finite = np.isfinite(batch.value)
    non_finite = len(batch) - int(finite.sum())
    if non_finite:
        batch = batch.where(finite)
    if not len(batch):
        return Formatted([], non_finite, {})
    names: dict[str, int] = {}
    key_device = np.fromiter(
        (names.setdefault(d, len(names)) for d, _ in batch.keys), np.intp, len(batch.keys)
    )
    field_key = [
        _field_keys.get(m) or _field_keys.setdefault(m, escape_key(m)) for _, m in batch.keys
    ]
    device = key_device[batch.key]
    order = np.lexsort((batch.ts, device))
    device, ts = device[order], batch.ts[order]
    fields = [
        f"{field_key[k]}={v!r}"
        for k, v in zip(batch.key[order].tolist(), batch.value[order].tolist(), strict=True)
    ]
    new_device = np.r_[True, device[1:] != device[:-1]]
    starts = np.flatnonzero(new_device | np.r_[True, ts[1:] != ts[:-1]])
    ends = np.r_[starts[1:], len(fields)].tolist()
    devices = list(names)
    lines = [
        f"{prefixes[devices[d]]} {','.join(fields[a:b])} {t}"
        for d, t, a, b in zip(
            device[starts].tolist(), ts[starts].tolist(), starts.tolist(), ends, strict=True
        )
    ]
    first = np.flatnonzero(new_device)  # rows are sorted by time within a device
    last = np.r_[first[1:], len(ts)] - 1
    span = {
        devices[d]: (lo, hi)
        for d, lo, hi in zip(
            device[first].tolist(), ts[first].tolist(), ts[last].tolist(), strict=True
        )
    }
    return Formatted(lines, non_finite, span)


#: Escaped field keys by metric name: there are few metrics and millions of samples.
_field_keys: dict[str, str] = {}


def string_field(value: str) -> str:
    """A double-quoted string field value."""
    return '"' + value.translate(_STR_ESC) + '"'


def device_line(meta: DeviceMeta, facility: str, ts: int) -> str:
    """The metadata point of one device (string fields, so Grafana can join it by the device
    tag)."""
    fields = ",".join(
        f"{k}={string_field(getattr(meta, k))}" for k in ("kind", "model", "rack", "role", "zone")
    )
    tags = f"device={escape_key(meta.device)},facility={escape_key(facility)}"
    return f"{DEVICES_MEASUREMENT},{tags} {fields} {ts}"


def seen_line(device: str, facility: str, first_ns: int, last_ns: int, ts: int) -> str:
    """When a device was first and last seen (merged with min/max across writers at read time)."""
    return (
        f"{DEVICES_MEASUREMENT},device={escape_key(device)},facility={escape_key(facility)} "
        f"first_seen={first_ns}i,last_seen={last_ns}i {ts}"
    )


def quote_ident(name: str) -> str:
    """An InfluxQL identifier in double quotes."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_str(value: str) -> str:
    """An InfluxQL string literal in single quotes."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def tag_filter(tag: str, values: Iterable[str]) -> str:
    """``("tag" = 'a' OR "tag" = 'b')``: InfluxQL's IN."""
    return "(" + " OR ".join(f"{quote_ident(tag)} = {quote_str(v)}" for v in values) + ")"
