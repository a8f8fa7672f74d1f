"""History import (``minewatch import``): telemetry recorded elsewhere — an old SCADA export, a
gateway's buffer, another InfluxDB — written into the facility's store with its original
timestamps, so that reports cover the time before minewatch ran.

Formats, one record a line: JSON lines and CSV, each either *long* (``ts, device, metric,
value``) or *wide* (``ts, device`` and one column per metric), and InfluxDB line protocol (the
``device`` tag names the device, each numeric field is a metric). A mapping file renames devices
and metrics and gives devices their kind, model, role, zone and rack. The store's key is (device,
metric, ts), as for the collectors, so importing the same file twice stores it once. A line that
cannot be imported goes to the reject file with its reason; the good lines beside it are
imported."""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import orjson
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from minewatch.configfile import validate
from minewatch.errors import ConfigError
from minewatch.sample import DeviceMeta, Sample
from minewatch.store.base import TelemetryStore
from minewatch.units import check_metric_name, is_valid_metric_name

Format = Literal["jsonl", "csv", "line"]
#: Samples written per store transaction.
BATCH = 20000
_ID_KEYS = ("ts", "time", "timestamp", "device")


class DeviceInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = ""
    model: str = ""
    role: str = ""
    zone: str = ""
    rack: str = ""


class ImportMapping(BaseModel):
    """The mapping file (YAML): names as the source wrote them → names in minewatch."""

    model_config = ConfigDict(extra="forbid")

    devices: dict[str, str] = Field(default_factory=dict, description="source id → device id")
    metrics: dict[str, str] = Field(
        default_factory=dict, description="source name → metric name (snake_case + unit)"
    )
    device_info: dict[str, DeviceInfo] = Field(
        default_factory=dict, description="device id → kind, model, role, zone, rack"
    )
    device_tag: str = Field("device", description="Line protocol: the tag naming the device")

    @field_validator("metrics")
    @classmethod
    def _metric_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v.values():
            check_metric_name(name)
        return v


def load_mapping(path: Path | None) -> ImportMapping:
    if path is None:
        return ImportMapping()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from exc
    return validate(ImportMapping, data, str(path))


class Reject(ValueError):
    """A line that cannot be imported; ``reason`` is the counted category."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass
class ImportSummary:
    lines: int = 0
    samples: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    devices: set[str] = field(default_factory=set)
    first_ns: int | None = None
    last_ns: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "samples": self.samples,
            "rejected_lines": sum(self.rejected.values()),
            "rejected_by_reason": dict(sorted(self.rejected.items())),
            "devices": len(self.devices),
            "first": _iso(self.first_ns),
            "last": _iso(self.last_ns),
        }


def _iso(ns: int | None) -> str | None:
    return None if ns is None else pd.Timestamp(ns, tz="UTC").isoformat().replace("+00:00", "Z")


def parse_ts(raw: Any, unit: str = "auto", local_tz: str | None = None) -> int:
    """ns since the epoch from an RFC 3339 string or an epoch number (``unit`` s/ms/us/ns, or
    auto: by magnitude — seconds before year 5138, then ms, us, ns). A time without a zone is
    read in ``local_tz`` (an IANA zone: SCADA exports often write local time); without one it is
    rejected rather than guessed, and so is a local time that a DST change makes ambiguous or
    skips."""
    if isinstance(raw, str):
        s = raw.strip()
        try:
            num: float | None = float(s)
        except ValueError:
            num = None
        if num is None:
            try:
                t = pd.Timestamp(s)
            except (ValueError, OverflowError) as exc:
                raise Reject("bad_timestamp", f"{raw!r} is not RFC 3339 or epoch") from exc
            if t is pd.NaT:
                raise Reject("bad_timestamp", f"{raw!r} is not a time")
            if t.tzinfo is None:
                if local_tz is None:
                    raise Reject(
                        "bad_timestamp",
                        f"{raw!r} has no time zone (add Z or an offset, or give --timezone)",
                    )
                try:
                    t = t.tz_localize(local_tz, ambiguous="raise", nonexistent="raise")
                except ValueError as exc:  # pandas' DST errors
                    raise Reject(
                        "bad_timestamp", f"{raw!r} is ambiguous or does not exist in {local_tz}"
                    ) from exc
            return int(t.value)
        raw = num
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise Reject("bad_timestamp", f"{raw!r} is not a time")
    if unit == "auto":
        mag = abs(raw)
        unit = "s" if mag < 1e11 else "ms" if mag < 1e14 else "us" if mag < 1e17 else "ns"
    scale = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[unit]
    return int(raw) * scale if isinstance(raw, int) else round(raw * scale)


def _value(raw: Any, decimal_comma: bool = False) -> float:
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, str):
        low = raw.strip().lower()
        if decimal_comma:  # "1234,5" from a ';'-separated export; "1.234,5" stays a reject
            low = low.replace(",", ".") if "." not in low else low
        if low in ("true", "false"):
            return 1.0 if low == "true" else 0.0
        try:
            raw = float(low)
        except ValueError as exc:
            raise Reject("bad_value", f"{raw!r} is not a number") from exc
    if not isinstance(raw, int | float) or not math.isfinite(raw):
        raise Reject("bad_value", f"{raw!r} is not a finite number")
    return float(raw)


class Importer:
    """Turns lines into samples (mapping applied, every field checked) and writes them in
    batches."""

    def __init__(
        self,
        store: TelemetryStore,
        mapping: ImportMapping,
        fmt: Format,
        ts_unit: str = "auto",
        max_future_ns: int | None = None,
        now_ns: int | None = None,
        local_tz: str | None = None,
    ) -> None:
        self.store = store
        self.mapping = mapping
        self.fmt = fmt
        self.ts_unit = ts_unit
        self.local_tz = local_tz
        #: CSV only: the header's separator, and whether values write "12,5" for 12.5
        self.delimiter = ","
        self.decimal_comma = False
        self.limit_ns = None if max_future_ns is None or now_ns is None else now_ns + max_future_ns
        self.summary = ImportSummary()
        self._header: list[str] | None = None
        self._batch: list[Sample] = []
        self._metas: set[str] = set()

    # ------------------------------------------------------------------ records
    def _sample(self, ts: Any, device: Any, metric: Any, value: Any) -> Sample:
        if device in (None, ""):
            raise Reject("missing_device", "no device")
        dev = self.mapping.devices.get(str(device), str(device))
        name = self.mapping.metrics.get(str(metric), str(metric))
        if not is_valid_metric_name(name):
            raise Reject(
                "bad_metric",
                f"{name!r} is not a metric name (snake_case ending with its unit; map it in "
                "the mapping file's metrics:)",
            )
        t = parse_ts(
            ts,
            "ns" if self.fmt == "line" and self.ts_unit == "auto" else self.ts_unit,
            self.local_tz,
        )
        if self.limit_ns is not None and t > self.limit_ns:
            raise Reject("future_timestamp", f"{_iso(t)} is in the future")
        return Sample(t, dev, name, _value(value, self.decimal_comma))

    def _wide(self, rec: dict[str, Any]) -> list[Sample]:
        ts = next((rec[k] for k in ("ts", "time", "timestamp") if k in rec), None)
        if ts is None:
            raise Reject("missing_timestamp", "no ts/time/timestamp")
        device = rec.get("device")
        if "metric" in rec and "value" in rec:  # long
            return [self._sample(ts, device, rec["metric"], rec["value"])]
        out = [
            self._sample(ts, device, k, v)
            for k, v in rec.items()
            if k not in _ID_KEYS and v not in (None, "")
        ]
        if not out:
            raise Reject("no_values", "no metric columns with a value")
        return out

    def parse(self, line: str) -> list[Sample]:
        """The samples of one line (a CSV header line gives none)."""
        if self.fmt == "jsonl":
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise Reject("bad_json", str(exc)) from exc
            if not isinstance(rec, dict):
                raise Reject("bad_json", "a line must be a JSON object")
            return self._wide(rec)
        if self.fmt == "csv":
            if self._header is None:
                self._read_header(line)
                return []
            row = next(csv.reader(io.StringIO(line), delimiter=self.delimiter))
            if len(row) != len(self._header):
                raise Reject(
                    "bad_columns", f"{len(row)} columns, the header has {len(self._header)}"
                )
            return self._wide(dict(zip(self._header, row, strict=True)))
        return self._line_protocol(line)

    def _read_header(self, line: str) -> None:
        """The CSV header fixes the separator: ',' or, as spreadsheets in locales with a decimal
        comma export, ';' (then values may write 12,5) or a tab."""
        self.delimiter = max((",", ";", "\t"), key=line.count)
        self.decimal_comma = self.delimiter != ","
        self._header = [h.strip() for h in next(csv.reader([line], delimiter=self.delimiter))]
        if "device" not in self._header:
            raise ConfigError(
                [
                    f"CSV header: needs a device column (read {self._header!r}, separator "
                    f"{self.delimiter!r})"
                ]
            )

    def _line_protocol(self, line: str) -> list[Sample]:
        parts = _split_unescaped(line.strip(), " ")
        if len(parts) < 2:
            raise Reject("bad_line_protocol", "expected 'measurement,tags fields [timestamp]'")
        series, fields = parts[0], parts[1]
        if len(parts) < 3:
            raise Reject("missing_timestamp", "line protocol without a timestamp")
        tags = dict(
            _kv(t) for t in _split_unescaped(series, ",")[1:] if t
        )  # measurement first, unused
        device = tags.get(self.mapping.device_tag)
        out = []
        for f in _split_unescaped(fields, ","):
            key, raw = _kv(f)
            if raw.startswith('"'):
                continue  # string fields are not metrics
            if raw[-1:] in ("i", "u") and raw[:-1].lstrip("-").isdigit():
                raw = raw[:-1]
            raw = {"t": "true", "T": "true", "f": "false", "F": "false"}.get(raw, raw)
            out.append(self._sample(parts[2], device, key, raw))
        if not out:
            raise Reject("no_values", "no numeric fields")
        return out

    # ------------------------------------------------------------------ the run
    def feed(self, lineno: int, line: str, rejects: IO[str] | None) -> None:
        if lineno == 1:
            line = line.lstrip("\ufeff")  # a byte order mark is not part of the first record
        if not line.strip():
            return
        self.summary.lines += 1
        try:
            samples = self.parse(line)
        except Reject as exc:
            self.summary.rejected[exc.reason] += 1
            if rejects is not None:
                rejects.write(f"{lineno}\t{exc}\t{line.rstrip()}\n")
            return
        for s in samples:
            self.summary.devices.add(s.device)
            f, la = self.summary.first_ns, self.summary.last_ns
            self.summary.first_ns = s.ts if f is None else min(f, s.ts)
            self.summary.last_ns = s.ts if la is None else max(la, s.ts)
        self._batch += samples
        if len(self._batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        new = sorted({s.device for s in self._batch} - self._metas)
        if new:
            self.store.upsert_devices(self._meta(d) for d in new)
            self._metas.update(new)
        if self._batch:
            self.store.write(self._batch)
            self.summary.samples += len(self._batch)
            self._batch = []

    def _meta(self, device: str) -> DeviceMeta:
        info = self.mapping.device_info.get(device, DeviceInfo())
        return DeviceMeta(device, info.kind, info.model, info.zone, info.rack, info.role)


def _split_unescaped(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside backslash escapes and double quotes (line protocol)."""
    out, cur, quoted, esc = [], [], False, False
    for ch in text:
        if esc:
            cur.append(ch)
            esc = False
        elif ch == "\\":
            cur.append(ch)
            esc = True
        elif ch == '"':
            quoted = not quoted
            cur.append(ch)
        elif ch == sep and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


_UNESCAPE = re.compile(r"\\(.)")


def _kv(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise Reject("bad_line_protocol", f"{text!r} is not key=value")
    return _UNESCAPE.sub(r"\1", key), _UNESCAPE.sub(r"\1", value)


def detect_format(path: Path | None, given: str | None) -> Format:
    if given:
        if given not in ("jsonl", "csv", "line"):
            raise ConfigError([f"--format: expected jsonl, csv or line, got {given!r}"])
        return given  # type: ignore[return-value]
    suffix = "".join(path.suffixes[-1:]).lower() if path is not None else ""
    by_suffix: dict[str, Format] = {
        ".jsonl": "jsonl",
        ".ndjson": "jsonl",
        ".json": "jsonl",
        ".csv": "csv",
        ".lp": "line",
        ".line": "line",
        ".txt": "line",
    }
    if suffix not in by_suffix:
        raise ConfigError(
            [f"{path or 'stdin'}: cannot tell the format; give --format jsonl, csv or line"]
        )
    return by_suffix[suffix]
