"""The telemetry store interface that every backend implements and every reader relies on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from minewatch.errors import InvalidInput

# Re-exported: the backends raise it while the server cannot take or serve data right now
# (connection refused, timeout, 5xx, disk); writers catch it to spool the batch. It never means the
# data was bad.
from minewatch.errors import StoreUnavailable as StoreUnavailable
from minewatch.sample import DeviceMeta, Sample

Aggregate = Literal["mean", "min", "max", "sum", "count", "last"]
AGGREGATES: tuple[str, ...] = ("mean", "min", "max", "sum", "count", "last")

#: Column order of every frame a store returns.
SAMPLE_COLUMNS = ["ts", "device", "metric", "value"]
#: Columns of a roll-up (``TelemetryStore.rollup``): per device and bucket.
ROLLUP_COLUMNS = ["ts", "device", "count", "sum", "min", "max", "last", "last_ts"]
#: Columns of an hourly roll-up (``TelemetryStore.hourly``): per device and hour (``ts``), then the
#: sample count of each ``HOURLY_SUB_S`` sub-bucket (``n0`` ...).
HOURLY_SUB_S = 300
HOURLY_COLUMNS = [
    "ts",
    "device",
    "count",
    "sum",
    "min",
    "max",
    "first_ts",
    "last_ts",
    "last",
    "max_gap",
    "min_gap",
    *(f"n{j}" for j in range(3600 // HOURLY_SUB_S)),
]
DEVICE_COLUMNS = ["device", "kind", "model", "zone", "rack", "role", "first_seen", "last_seen"]


class TelemetryStore(ABC):
    """Time series of (ts, device, metric, value), plus device metadata.

    Contract every backend honours (tests/test_store_contract.py runs it on each):
    - ``write`` returns only when the batch is durable; writing the same (device, metric, ts)
      twice keeps one point, so redelivered MQTT messages are stored exactly once.
    - frames have the columns of ``SAMPLE_COLUMNS``; ``ts`` is int64 UTC nanoseconds.
    """

    @abstractmethod
    def write(self, samples: Sequence[Sample]) -> None: ...

    @abstractmethod
    def upsert_devices(self, metas: Iterable[DeviceMeta]) -> None: ...

    @abstractmethod
    def devices(self) -> pd.DataFrame:
        """One row per known device: ``DEVICE_COLUMNS`` (first/last seen in ns)."""

    @abstractmethod
    def latest(
        self, devices: Sequence[str] | None = None, metrics: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Newest value per (device, metric)."""

    def query(
        self,
        start_ns: int,
        end_ns: int,
        devices: Sequence[str] | None = None,
        metrics: Sequence[str] | None = None,
        step_ns: int | None = None,
        agg: Aggregate = "mean",
    ) -> pd.DataFrame:
        """Samples with ``start_ns <= ts < end_ns``, sorted by device, metric, ts.

        With ``step_ns`` the values are aggregated per device, metric and bucket; ``ts`` is then the
        bucket start (floored to a multiple of ``step_ns`` since the epoch). Parameters are checked
        here, once for every backend; backends implement ``_query``.
        """
        if agg not in AGGREGATES:
            raise InvalidInput(f"aggregate must be one of {', '.join(AGGREGATES)}, got {agg!r}")
        if step_ns is not None and step_ns <= 0:
            raise InvalidInput(f"step must be positive, got {step_ns} ns")
        if (devices is not None and not devices) or (metrics is not None and not metrics):
            return empty_samples()
        return self._query(start_ns, end_ns, devices, metrics, step_ns, agg)

    @abstractmethod
    def _query(
        self,
        start_ns: int,
        end_ns: int,
        devices: Sequence[str] | None,
        metrics: Sequence[str] | None,
        step_ns: int | None,
        agg: Aggregate,
    ) -> pd.DataFrame:
        """``query`` with parameters already validated and non-empty filters."""

    def rollup(
        self,
        start_ns: int,
        end_ns: int,
        metric: str,
        step_ns: int,
        devices: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """One metric per device and bucket of ``step_ns`` (``ts`` = bucket start, floored to a
        multiple of the step since the epoch) over ``start_ns <= ts < end_ns``: ``count``, ``sum``,
        ``min``, ``max``, ``last`` (the newest value) and ``last_ts`` (its time), sorted by device,
        ts — every statistic a rule's buckets hold, so a long report evaluates on these instead of
        each raw sample. ``last_ts`` is exact where the backend knows it; otherwise the bucket's
        last instant (never later than ``end_ns - 1``): its resolution is then the step. Backends
        implement ``_rollup``."""
        if step_ns <= 0:
            raise InvalidInput(f"step must be positive, got {step_ns} ns")
        if devices is not None and not devices:
            return empty_rollup()
        return self._rollup(start_ns, end_ns, metric, int(step_ns), devices)

    @abstractmethod
    def _rollup(
        self,
        start_ns: int,
        end_ns: int,
        metric: str,
        step_ns: int,
        devices: Sequence[str] | None,
    ) -> pd.DataFrame:
        """``rollup`` with the step checked and a non-empty device filter, aggregated inside the
        store (the point of it: no raw sample crosses into Python)."""

    def counts_by_device(self, metrics: list[str], lo: int, hi: int) -> dict[str, pd.Series]:
        """Per metric: samples per device with ``lo <= ts < hi`` (devices with none are absent).

        The analyzer's live cache checks its late-sample window with these counts every cycle, so
        only the series that gained samples are read again (``analyzer/late_rows.py``). This
        default counts through ``query``; a backend that can count in one ``GROUP BY`` overrides
        it (SQLite: less than half the cost at 30,000 rigs)."""
        if hi <= lo or not metrics:
            return {}

        # one bucket as wide as the range: it straddles at most two buckets of the store's grid
        df = self.query(lo, hi, metrics=metrics, step_ns=hi - lo, agg="count")
        if df.empty:
            return {}
        codes, names = pd.factorize(df["metric"])
        out: dict[str, pd.Series] = {}
        for i, name in enumerate(names):
            rows = np.flatnonzero(codes == i)
            dev = df["device"].to_numpy()[rows]
            # rows come sorted by device: sum each device's (at most two) adjacent buckets
            first = np.flatnonzero(np.append(True, dev[1:] != dev[:-1]))
            sums = np.add.reduceat(df["value"].to_numpy(np.float64)[rows], first)
            out[str(name)] = pd.Series(sums, index=pd.Index(dev[first]))
        return out

    @abstractmethod
    def prune(self, older_than_ns: int) -> int:
        """Drop samples older than the cut-off (retention); how many were dropped, if known."""

    def close(self) -> None:  # noqa: B027 - optional for backends without resources
        """Release connections."""

    # -- hourly roll-ups (issue #11: long reports) -------------------------------------------------
    def hourly(
        self, start_ns: int, end_ns: int, metric: str, devices: Sequence[str] | None = None
    ) -> pd.DataFrame | None:
        """One metric per device and hour overlapping ``[start_ns, end_ns)`` (whole hours), kept
        by the store as data is written: ``HOURLY_COLUMNS`` (count, sum, min, max, first and last
        sample time, last value, the longest and shortest positive gap between consecutive samples
        inside the hour, counts per ``HOURLY_SUB_S``), sorted by device, ts (``device`` may be
        categorical). Always equal to an
        aggregation of the committed raw rows. ``None``: this backend keeps no such roll-up (a long
        report then aggregates at each rule's step with ``rollup``)."""
        if devices is not None and not devices:
            return empty_hourly()
        return self._hourly(start_ns, end_ns, metric, devices)

    def _hourly(
        self, start_ns: int, end_ns: int, metric: str, devices: Sequence[str] | None
    ) -> pd.DataFrame | None:
        return None


def empty_samples() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": pd.Series(dtype="int64"),
            "device": pd.Series(dtype="str"),
            "metric": pd.Series(dtype="str"),
            "value": pd.Series(dtype="float64"),
        }
    )


def empty_rollup() -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pd.Series(
                dtype="str"
                if c == "device"
                else "int64"
                if c in ("ts", "count", "last_ts")
                else "float64"
            )
            for c in ROLLUP_COLUMNS
        }
    )


def empty_hourly() -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pd.Series(dtype="str" if c == "device" else "float64" if c in _FLOAT else "int64")
            for c in HOURLY_COLUMNS
        }
    )


_FLOAT = {"sum", "min", "max", "last", "count", "first_ts", "last_ts", "max_gap", "min_gap"}
