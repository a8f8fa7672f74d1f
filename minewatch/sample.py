"""The one unit of telemetry that every transport produces and every store accepts."""

from __future__ import annotations

import time
from dataclasses import dataclass

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


def now_ns() -> int:
    """Wall-clock UTC now in nanoseconds (one place, so tests and simulators agree)."""
    return time.time_ns()
