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
    """One line per (device, ts) with all its metrics as float fields.

    ``prefixes`` maps each device to its ``series_prefix``. Non-finite values cannot be written in
    line protocol; they are left out and counted.
    """
    finite = np.isfinite(batch.value)
    non_finite = len(batch) - int(finite.sum())
    if non_finite:
        batch = batch.where(finite)
    keys = _field_keys
    # each series' "device, escaped field key=" once per batch, not per sample
    series = [
        (dev, keys.get(met) or keys.setdefault(met, escape_key(met))) for dev, met in batch.keys
    ]
    grouped: dict[tuple[str, int], list[str]] = {}
    for k, ts, v in zip(batch.key.tolist(), batch.ts.tolist(), batch.value.tolist(), strict=True):
        dev, key = series[k]
        field = f"{key}={v!r}"
        fields = grouped.get((dev, ts))
        if fields is None:
            grouped[(dev, ts)] = [field]
        else:
            fields.append(field)
    span: dict[str, tuple[int, int]] = {}
    lines = []
    for (dev, ts), fields in grouped.items():
        lines.append(f"{prefixes[dev]} {','.join(fields)} {ts}")
        lo_hi = span.get(dev)
        if lo_hi is None:
            span[dev] = (ts, ts)
        elif ts < lo_hi[0] or ts > lo_hi[1]:
            span[dev] = (min(ts, lo_hi[0]), max(ts, lo_hi[1]))
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
