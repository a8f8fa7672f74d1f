"""The units of telemetry that every transport produces and every store accepts: one ``Sample``,
or a ``SampleBatch`` of many held as columns."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter

import numpy as np

NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of one metric of one device at one instant.

    ``ts`` is UTC in integer nanoseconds so that storage, de-duplication and InfluxDB line
    protocol all agree on the same key without float rounding.
    """

    ts: int
    device: str
    metric: str
    value: float


@dataclass(frozen=True, slots=True, eq=False)
class SampleBatch:
    """Many samples as columns: each distinct (device, metric) series once in ``keys``, and per
    sample the index of its series in ``keys``, its time and its value as numpy arrays.

    A collector takes in ~100,000 samples a second; one Python object per sample (a ``Sample``
    costs ~0.5 µs to build and ~100 bytes to hold) was a large share of that. Columns cost
    nothing per sample on the way from decoder to store, and a store resolves each series once
    per batch instead of once per sample.
    """

    keys: list[tuple[str, str]]
    key: np.ndarray  # intp, index into ``keys``
    ts: np.ndarray  # int64 UTC ns
    value: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def of(cls, samples: Iterable[Sample] | SampleBatch) -> SampleBatch:
        """The batch itself, or ``Sample`` objects gathered into one (the single entry point of
        every store's ``write``)."""
        if isinstance(samples, SampleBatch):
            return samples
        rows = samples if isinstance(samples, (list, tuple)) else list(samples)
        n = len(rows)
        # C loops only (map, dict.fromkeys, numpy): no tuple per row for its series
        device, devices = _codes(list(map(_DEVICE, rows)))
        metric, metrics = _codes(list(map(_METRIC, rows)))
        combos, key = np.unique(device * len(metrics) + metric, return_inverse=True)
        width = len(metrics)
        return cls(
            [(devices[c // width], metrics[c % width]) for c in combos.tolist()],
            key.reshape(-1),
            np.fromiter(map(_TS, rows), np.int64, n),
            np.fromiter(map(_VALUE, rows), np.float64, n),
        )

    @classmethod
    def concat(cls, batches: Sequence[SampleBatch]) -> SampleBatch:
        """One batch holding all of ``batches``, in order (series merged by key)."""
        if len(batches) == 1:
            return batches[0]
        index: dict[tuple[str, str], int] = {}
        parts = []
        for b in batches:
            remap = np.fromiter(
                (index.setdefault(k, len(index)) for k in b.keys), np.intp, len(b.keys)
            )
            parts.append(remap[b.key])
        return cls(
            list(index),
            np.concatenate(parts) if parts else np.empty(0, np.intp),
            np.concatenate([b.ts for b in batches]) if batches else np.empty(0, np.int64),
            np.concatenate([b.value for b in batches]) if batches else np.empty(0, np.float64),
        )

    def where(self, mask: np.ndarray) -> SampleBatch:
        """The samples where ``mask`` is true (``keys`` unchanged: unused keys are harmless)."""
        return SampleBatch(self.keys, self.key[mask], self.ts[mask], self.value[mask])

    def samples(self) -> list[Sample]:
        """As ``Sample`` objects, for the few callers that want rows (tests, error messages)."""
        keys = self.keys
        return [
            Sample(ts, keys[k][0], keys[k][1], value)
            for k, ts, value in zip(
                self.key.tolist(), self.ts.tolist(), self.value.tolist(), strict=True
            )
        ]

    def device_spans(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Each device of the batch with its earliest and latest sample time (for first/last
        seen), computed once per device rather than per sample."""
        if not len(self):
            return [], np.empty(0, np.int64), np.empty(0, np.int64)
        names: dict[str, int] = {}
        key_device = np.fromiter(
            (names.setdefault(d, len(names)) for d, _ in self.keys), np.intp, len(self.keys)
        )
        device = key_device[self.key]
        order = np.argsort(device, kind="stable")
        device, ts = device[order], self.ts[order]
        starts = np.flatnonzero(np.r_[True, device[1:] != device[:-1]])
        listed = list(names)
        return (
            [listed[i] for i in device[starts].tolist()],
            np.minimum.reduceat(ts, starts),
            np.maximum.reduceat(ts, starts),
        )


class BatchBuilder:
    """Collects samples message by message (one device and one instant, several metrics each) and
    builds a ``SampleBatch``: per sample only a list append, no object."""

    __slots__ = ("_key", "_keys", "_run_len", "_run_ts", "_series", "_value")

    def __init__(self) -> None:
        self._series: dict[str, dict[str, int]] = {}
        self._keys: list[tuple[str, str]] = []
        self._key: list[int] = []
        self._value: list[float] = []
        self._run_ts: list[int] = []
        self._run_len: list[int] = []

    def add(self, device: str, ts: int, metrics: Sequence[str], values: Sequence[float]) -> None:
        """The values of ``metrics`` (same length) that ``device`` reported at ``ts``."""
        slots = self._series.get(device)
        if slots is None:
            slots = self._series[device] = {}
        append = self._key.append
        for m in metrics:
            k = slots.get(m)
            if k is None:
                k = slots[m] = len(self._keys)
                self._keys.append((device, m))
            append(k)
        self._value.extend(values)
        self._run_ts.append(ts)
        self._run_len.append(len(metrics))

    def __len__(self) -> int:
        return len(self._value)

    def build(self) -> SampleBatch:
        return SampleBatch(
            self._keys,
            np.array(self._key, dtype=np.intp),
            np.repeat(np.array(self._run_ts, dtype=np.int64), self._run_len),
            np.array(self._value, dtype=np.float64),
        )


@dataclass(frozen=True, slots=True)
class DeviceMeta:
    """Stable identity of a device, stored beside its samples (tags in InfluxDB, columns in
    SQLite)."""

    device: str
    kind: str = ""
    model: str = ""
    zone: str = ""
    rack: str = ""
    #: What the device is for at this site, e.g. ``revenue_meter`` (the licence meter),
    #: ``rack_pdu``,
    #: ``hall_sensor``; rules select devices by role so a compliance profile needs no device ids.
    role: str = ""


_DEVICE, _METRIC, _TS, _VALUE = (attrgetter(a) for a in ("device", "metric", "ts", "value"))


def _codes(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """Each value's index among the distinct values (in order of first appearance)."""
    index = {v: i for i, v in enumerate(dict.fromkeys(values))}
    return np.fromiter(map(index.__getitem__, values), np.intp, len(values)), list(index)


def now_ns() -> int:
    """Wall-clock UTC now in nanoseconds (one place, so tests and simulators agree)."""
    return time.time_ns()
