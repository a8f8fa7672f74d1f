"""MQTT payload → Samples, by device profile. Pure functions of (topic, payload, receive time).

Wrong input never raises: every problem becomes a ``Reject`` naming the device, the field and the
reason, and the good fields of the same message are still returned. Message-level problems (not
JSON, not an object, oversized, unknown device, bad or out-of-range timestamp) reject the whole
message once; field-level problems (wrong type, NaN/inf, unknown field, missing required field)
reject that field only.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from minewatch.config.mqtt import DeviceGroup
from minewatch.payload_path import PathKey, format_path, parse_path
from minewatch.profiles import DeviceProfile
from minewatch.profiles.mqtt import MqttMapping
from minewatch.registry import RegistryEntry
from minewatch.sample import NS_PER_S, Sample

#: Every reason a payload or a field can be rejected for (``rejected_total{reason}``).
REASONS = (
    "oversized",
    "not_json",
    "not_object",
    "unknown_device",
    "bad_timestamp",
    "ts_future",
    "ts_past",
    "wrong_type",
    "not_finite",
    "implausible",
    "duplicate_key",
    "unknown_field",
    "missing_field",
    "internal_error",
)
_UNIT_NS = {"s": NS_PER_S, "ms": 1_000_000, "us": 1_000, "ns": 1}
# Firmware JSON quirks that strict parsers refuse: bare nan/inf tokens (Avalon firmware; pyasic's
# BaseMinerRPCAPI._load_api_data, github.com/UpstreamData/pyasic, tolerates the same).
_BARE_NONFINITE = re.compile(r"([:\[,]\s*)(-?)(nan|inf(?:inity)?)(?=\s*[,\]}])", re.IGNORECASE)
_MISSING = object()
#: A device id taken from a topic level becomes a stored key and a tag: printable, no spaces,
#: bounded.
_DEVICE_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: RFC 3339 date-time (section 5.6): what ``datetime.fromisoformat`` would also take beyond it
#: (week dates, basic format, "+0000", no zone) is a device clock bug worth a reject, not a guess.
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)
#: White space between a closing quote and a colon (a key written as ``"a" :``).
_SPACED_KEY_END = re.compile(rb'"\s+:')
#: Object shapes remembered per profile mapping for ``unknown_fields`` (bounds a hostile stream).
_MAX_SHAPES = 4096


@dataclass(frozen=True, slots=True)
class Reject:
    reason: str
    device: str
    field: str
    detail: str

    def __str__(self) -> str:
        where = f"device={self.device or '?'} field={self.field or '-'}"
        return f"{where} reason={self.reason}: {self.detail}"


@dataclass(slots=True)
class Decoded:
    """What one message yielded: its values (one device, one instant: ``metrics[i]`` is
    ``values[i]`` at ``ts``), its rejections, and who sent it. Kept as two lists rather than
    ``Sample`` objects so that the collector's batch takes them without building an object per
    value."""

    device: str
    profile: DeviceProfile | None
    ts: int = 0
    metrics: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    group: DeviceGroup | None = None

    @property
    def samples(self) -> list[Sample]:
        """The values as ``Sample`` objects (for callers that want rows)."""
        return [
            Sample(self.ts, self.device, m, v)
            for m, v in zip(self.metrics, self.values, strict=True)
        ]

    @property
    def unparseable(self) -> bool:
        """True when nothing of the message could be read (keep its raw bytes for inspection)."""
        return not self.values and any(r.field == "" for r in self.rejects)


def parse_json(payload: bytes) -> Any:
    """orjson first (fast path); on failure, a tolerant pass for trailing NULs and bare nan/inf."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        pass
    text = payload.rstrip(b"\x00 \t\r\n").decode("utf-8")
    text = _BARE_NONFINITE.sub(
        lambda m: m.group(1) + m.group(2) + ("NaN" if m.group(3)[0] in "nN" else "Infinity"), text
    )
    return json.loads(text)


class DuplicateKey(ValueError):
    """A JSON object names one key twice: which value the device meant is unknowable."""


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for k, v in pairs:
        if k in seen:
            raise DuplicateKey(f"key {_short(k)} appears twice in one object")
        seen[k] = v
    return seen


def check_unique_keys(payload: bytes, obj: Any) -> None:
    r"""Raise DuplicateKey when an object of ``payload`` repeats a key (JSON parsers keep the last
    one silently).

    Fast path: the parsed object written back by orjson (no white space) has as many ``":`` as
    the payload — one per key, plus the same ones inside strings — so no key was dropped. That
    holds when every key of the payload ends in ``":`` (no ``"a" :``) and the payload has no
    ``\u`` escape (which could hide a quote that orjson writes plainly). Otherwise (a duplicate,
    spaced keys, an escape) an exact parse decides. ~1 µs a message; walking the object to count
    its keys cost ~4 µs."""
    if b"\\u" not in payload and not _SPACED_KEY_END.search(payload):
        try:
            if payload.count(b'":') == orjson.dumps(obj).count(b'":'):
                return
        except orjson.JSONEncodeError:  # e.g. an integer past 64 bits, read by the tolerant pass
            pass
    json.loads(payload.rstrip(b"\x00 \t\r\n"), object_pairs_hook=_refuse_duplicates)


def _get(obj: Any, keys: tuple[PathKey, ...]) -> Any:
    for k in keys:
        if isinstance(k, int):
            if not isinstance(obj, list) or k >= len(obj):
                return _MISSING
            obj = obj[k]
        else:
            if not isinstance(obj, dict) or k not in obj:
                return _MISSING
            obj = obj[k]
    return obj


class _CompiledMapping:
    """A profile's MQTT mapping with its paths parsed once."""

    __slots__ = ("_plans", "covered", "fields", "mapping", "prefixes", "ts_keys")

    def __init__(self, profile: DeviceProfile, mapping: MqttMapping) -> None:
        self.mapping = mapping
        self.fields = [
            (
                name,
                parse_path(f.path),
                f,
                f.scale == 1 and f.offset == 0,
                profile.plausible_range(name),
            )
            for name, f in mapping.fields.items()
        ]
        self.ts_keys = parse_path(mapping.timestamp_path) if mapping.timestamp_path else None
        covered = {keys for _, keys, _, _, _ in self.fields} | {
            parse_path(p) for p in mapping.ignore
        }
        if self.ts_keys:
            covered.add(self.ts_keys)
        self.covered = covered
        self.prefixes = {keys[:i] for keys in covered for i in range(1, len(keys))}
        self._plans: dict[tuple[tuple[PathKey, ...], tuple[str, ...] | int], Any] = {}

    def unknown_fields(self, obj: Any, prefix: tuple[PathKey, ...] = ()) -> list[str]:
        """Leaf paths of ``obj`` that the mapping neither reads nor ignores.

        Which keys of an object (or indexes of a list) are unknown, covered or to be walked into
        depends only on its keys (or length), and one firmware sends the same shape every time:
        so each shape is classified once (``_plan``) and remembered, and a message costs a lookup
        per nested object instead of a tuple and two set lookups per key."""
        shape = (prefix, tuple(obj) if isinstance(obj, dict) else len(obj))
        plan = self._plans.get(shape)
        if plan is None:
            plan = self._plan(obj, prefix)
            if len(self._plans) < _MAX_SHAPES:
                self._plans[shape] = plan
        unknown, inner = plan
        out = list(unknown)
        for k, p in inner:
            v = obj[k]
            if isinstance(v, (dict, list)):
                out.extend(self.unknown_fields(v, p))
            else:
                out.append(format_path(p))
        return out

    def _plan(
        self, obj: Any, prefix: tuple[PathKey, ...]
    ) -> tuple[tuple[str, ...], tuple[tuple[PathKey, tuple[PathKey, ...]], ...]]:
        """(unknown leaf paths, (key, path) of the entries that lead to mapped fields)."""
        unknown, inner = [], []
        for k in obj if isinstance(obj, dict) else range(len(obj)):
            p = (*prefix, k)
            if p in self.covered:
                continue
            if p in self.prefixes:
                inner.append((k, p))
            else:
                unknown.append(format_path(p))
        return tuple(unknown), tuple(inner)


class PayloadDecoder:
    """Routes a topic to a device and its profile, then decodes the payload with the profile's
    mapping.

    The profile comes from, in order: the group's fixed ``profile``, the registry's model for the
    serial, the payload's ``model_path`` (so an unregistered rig is still recorded and can be
    flagged). A device matching none of these is rejected as ``unknown_device``.
    """

    def __init__(
        self,
        groups: list[DeviceGroup],
        profiles: Mapping[str, DeviceProfile],
        registry: Mapping[str, RegistryEntry],
        *,
        max_payload_bytes: int = 262144,
        max_future_s: int = 300,
        max_past_s: int = 7 * 86400,
    ) -> None:
        self.groups = [(g, g.matcher()) for g in groups]
        self.profiles = profiles
        self.registry = registry
        self.max_payload_bytes = max_payload_bytes
        self.max_future_ns = max_future_s * NS_PER_S
        self.max_past_ns = max_past_s * NS_PER_S
        self._compiled = {pid: _CompiledMapping(p, p.mqtt) for pid, p in profiles.items() if p.mqtt}
        self._model_keys = {g.name: parse_path(g.model_path) for g in groups if g.model_path}

    def route(self, topic: str) -> tuple[DeviceGroup, str] | None:
        for group, rx in self.groups:
            m = rx.match(topic)
            if m:
                return group, m.group("device")
        return None

    def _profile_id(self, group: DeviceGroup, device: str, obj: dict[str, Any]) -> str | None:
        if group.profile:
            return group.profile
        entry = self.registry.get(device)
        if entry is not None:
            return entry.model
        keys = self._model_keys.get(group.name)
        if keys:
            model = _get(obj, keys)
            if isinstance(model, str) and model in self.profiles:
                return model
        return None

    def decode(self, topic: str, payload: bytes, received_ns: int) -> Decoded:
        routed = self.route(topic)
        if routed is None:
            why = f"topic {topic!r} matches no device group"
            return Decoded("", None, rejects=[Reject("unknown_device", "", "", why)])
        group, device = routed
        if not _DEVICE_ID.match(device):
            why = f"device id {_short(device)} from topic is not 1-128 printable ASCII characters"
            return Decoded("", None, group=group, rejects=[Reject("unknown_device", "", "", why)])
        out = Decoded(device, None, group=group)

        def reject(reason: str, fld: str, detail: str) -> Decoded:
            out.rejects.append(Reject(reason, device, fld, detail))
            return out

        if len(payload) > self.max_payload_bytes:
            return reject("oversized", "", f"{len(payload)} bytes > limit {self.max_payload_bytes}")
        try:
            obj = parse_json(payload)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            return reject("not_json", "", f"payload is not JSON: {exc}")
        if not isinstance(obj, dict):
            return reject(
                "not_object", "", f"payload is a JSON {type(obj).__name__}, expected an object"
            )
        try:
            check_unique_keys(payload, obj)
        except DuplicateKey as exc:
            return reject("duplicate_key", "", str(exc))
        except ValueError:  # parsed only by the tolerant pass (bare nan/inf): no exact check
            pass
        pid = self._profile_id(group, device, obj)
        compiled = self._compiled.get(pid) if pid else None
        if compiled is None or pid is None:
            why = (
                f"device profile {pid!r} has no mqtt mapping"
                if pid in self.profiles
                else f"device profile {pid!r} is not known"
                if pid
                else f"not in the registry and group {group.name!r} names no profile"
            )
            return reject("unknown_device", "", why)
        out.profile = self.profiles[pid]
        mapping = compiled.mapping
        if len(payload) > mapping.max_payload_bytes:
            return reject(
                "oversized",
                "",
                f"{len(payload)} bytes > profile {pid} limit {mapping.max_payload_bytes}",
            )

        ts = received_ns
        if compiled.ts_keys is not None:
            raw_ts = _get(obj, compiled.ts_keys)
            if raw_ts is not _MISSING:
                try:
                    ts = _timestamp_ns(raw_ts, mapping.timestamp_unit)
                except ValueError as exc:
                    return reject("bad_timestamp", mapping.timestamp_path or "", str(exc))
                if ts > received_ns + self.max_future_ns:
                    return reject(
                        "ts_future",
                        mapping.timestamp_path or "",
                        f"{(ts - received_ns) / NS_PER_S:.0f} s ahead of the collector's clock",
                    )
                if ts < received_ns - self.max_past_ns:
                    return reject(
                        "ts_past",
                        mapping.timestamp_path or "",
                        f"{(received_ns - ts) / NS_PER_S:.0f} s older than the collector's clock",
                    )

        out.ts = ts
        metrics, values, rejects = out.metrics, out.values, out.rejects
        for metric, keys, spec, linear, (lo, hi) in compiled.fields:
            raw: Any = obj
            try:  # inline path walk: this loop runs ~10 times per message, ~30k times a second
                for k in keys:
                    raw = raw[k]
            except (KeyError, IndexError, TypeError):
                if spec.required:
                    rejects.append(
                        Reject(
                            "missing_field",
                            device,
                            spec.path,
                            f"required field for {metric} is absent",
                        )
                    )
                continue
            kind = type(raw)
            if kind is float or kind is int:
                try:
                    value = float(raw)
                except OverflowError:
                    value = math.inf
                if not math.isfinite(value):
                    rejects.append(
                        Reject("not_finite", device, spec.path, f"{metric} is {_short(raw)}")
                    )
                    continue
            else:
                value, problem = _number(raw, metric, spec.values)
                if problem:
                    rejects.append(Reject(problem[0], device, spec.path, problem[1]))
                    continue
            if not linear:
                value = value * spec.scale + spec.offset
                if not math.isfinite(value):
                    rejects.append(
                        Reject("not_finite", device, spec.path, f"{metric} scaled to {value}")
                    )
                    continue
            if not lo <= value <= hi:
                rejects.append(
                    Reject(
                        "implausible",
                        device,
                        spec.path,
                        f"{metric} = {value:g} is outside the physically possible {lo:g}..{hi:g}",
                    )
                )
                continue
            metrics.append(metric)
            values.append(value)

        for path in compiled.unknown_fields(obj):
            reject("unknown_field", path, f"not in the mqtt mapping of profile {pid}")
        return out


def _number(
    raw: Any, metric: str, values: dict[str, float] | None
) -> tuple[float, tuple[str, str] | None]:
    """Non-number JSON values: (value, None) or (nan, (reason, detail))."""
    if isinstance(raw, bool):
        if metric.endswith("_bool"):
            return float(raw), None
        return math.nan, ("wrong_type", f"{metric} expects a number, got a boolean")
    if isinstance(raw, str) and values is not None:
        if raw in values:
            return values[raw], None
        return math.nan, ("wrong_type", f"{metric}: {raw!r} is not one of {', '.join(values)}")
    kind = "null" if raw is None else type(raw).__name__
    return math.nan, ("wrong_type", f"{metric} expects a number, got {kind} {_short(raw)}")


def _short(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def _timestamp_ns(raw: Any, unit: str) -> int:
    """RFC 3339 string (with a zone) or epoch number in ``unit`` → UTC ns."""
    if isinstance(raw, bool):
        raise ValueError("timestamp is a boolean")
    if isinstance(raw, (int, float)):
        if not math.isfinite(raw):
            raise ValueError(f"timestamp is {raw}")
        if isinstance(raw, int):
            return raw * _UNIT_NS[unit]
        ns = raw * _UNIT_NS[unit]
        if not math.isfinite(ns):  # found by hypothesis: 1e300 s overflowed round() to a crash
            raise ValueError(f"timestamp {raw:g} {unit} is out of range")
        return round(ns)
    if isinstance(raw, str):
        m = _RFC3339.match(raw)
        if m is None:
            zone = "" if re.search(r"([Zz]|[+-]\d{2}:?\d{2})$", raw) else " (no time zone)"
            raise ValueError(
                f"timestamp {_short(raw)} is not RFC 3339{zone}: expected "
                "YYYY-MM-DDThh:mm:ss[.fraction] and Z or +hh:mm"
            )
        try:
            dt = datetime.fromisoformat(raw.upper())  # RFC 3339 allows a lower-case t and z
        except ValueError as exc:
            raise ValueError(f"timestamp {_short(raw)} is not a valid date-time: {exc}") from None
        delta = dt - _EPOCH
        return (delta.days * 86400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000
    raise ValueError(
        f"timestamp must be an RFC 3339 string or an epoch number, got {type(raw).__name__}"
    )
