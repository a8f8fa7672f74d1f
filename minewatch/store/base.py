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
from minewatch.sample import DeviceMeta, Sample, SampleBatch

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
#: Columns of ``TelemetryStore.written_since``.
WRITTEN_COLUMNS = ["device", "metric", "ts"]
DEVICE_COLUMNS = ["device", "kind", "model", "zone", "rack", "role", "first_seen", "last_seen"]
#: The columns of ``DEVICE_COLUMNS`` that every write moves (``TelemetryStore.devices_since``).
SEEN_COLUMNS = ["first_seen", "last_seen"]


class TelemetryStore(ABC):
    """Time series of (ts, device, metric, value), plus device metadata.

    Contract every backend honours (tests/test_store_contract.py runs it on each):
    - ``write`` returns only when the batch is durable; writing the same (device, metric, ts)
      twice keeps one point, so redelivered MQTT messages are stored exactly once.
    - ``write`` takes ``Sample`` objects or a columnar ``SampleBatch`` (what the MQTT collector
      builds); both reach the backend's ``_write`` as one ``SampleBatch``.
    - frames have the columns of ``SAMPLE_COLUMNS``; ``ts`` is int64 UTC nanoseconds.
    """

    def write(self, samples: Iterable[Sample] | SampleBatch) -> None:
        """Store the samples durably (see the class contract); backends implement ``_write``."""
        batch = SampleBatch.of(samples)
        if len(batch):
            self._write(batch)

    @abstractmethod
    def _write(self, batch: SampleBatch) -> None:
        """``write`` of a non-empty batch."""

    @abstractmethod
    def upsert_devices(self, metas: Iterable[DeviceMeta]) -> None: ...

    @abstractmethod
    def devices(self) -> pd.DataFrame:
        """One row per known device: ``DEVICE_COLUMNS`` (first/last seen in ns)."""

    def devices_since(self, version: int | None) -> tuple[int | None, pd.DataFrame]:
        """The device table for a reader that keeps a copy: the current version of the table and
        either the whole table (as ``devices()``) or, when no device was added or removed and no
        metadata changed since ``version`` (what the previous call returned), only its
        ``SEEN_COLUMNS`` (first/last seen change with every write) in the order of the copy.

        The live analyzer refreshes its copy every cycle; re-reading 30,000 rows of strings that
        rarely change cost 0.05-0.1 s of CPU per cycle. This default keeps no version (``None``)
        and always returns the whole table; the SQLite store overrides it."""
        return None, self.devices()

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

    def written_since(
        self, mark: int | None, before_ns: int
    ) -> tuple[int | None, pd.DataFrame | None]:
        """What was written after ``mark`` (a position in the store's write log that the previous
        call returned; ``None`` on the first call): the new mark, and one row per series that got
        samples stamped before ``before_ns`` — ``WRITTEN_COLUMNS``: device, metric and the oldest
        such sample time (``ts``). A series may be listed although every sample of it was a
        duplicate (never the other way round).

        The live analyzer's cache asks this every cycle to find the series that gained late
        samples (``analyzer/late_rows.py``) at the cost of what was written, not of the window.
        The frame is ``None`` when the store cannot say — no write log (this default: InfluxDB,
        the spool), a first call, or a log trimmed past ``mark`` — and the caller then counts
        (``counts_by_device``)."""
        return None, None

    @abstractmethod
    def prune(self, older_than_ns: int) -> int:
        """Drop samples older than the cut-off (retention); how many were dropped, if known."""

    def close(self) -> None:  # noqa: B027 - optional for backends without resources
        """Release connections."""

    def materialise_rollups(self, before_ns: int | None = None) -> int:
        """Bring the roll-ups a backend keeps (``hourly``) up to date for hours starting before
        ``before_ns`` (all: ``None``), so a long report does not pay for them; the samples read.
        A backend that keeps none has nothing to do."""
        return 0

    # -- aggregate reads for the live page: a few rows per call whatever the fleet size --------
    # A 30,000-rig site's headline numbers are recomputed every second; these defaults build them
    # from ``devices()`` and ``latest()`` (30,000 rows into Python), a backend that can aggregate
    # inside the database overrides them (SQLite). Groups are per (role, kind) so the caller keeps
    # its own definition of a rig and still never sees one row per device.

    def device_counts(self, online_since_ns: int) -> pd.DataFrame:
        """Per (role, kind): ``devices`` and ``online``, online meaning seen since
        ``online_since_ns`` and not reported down (newest ``up`` is not 0), sorted by role, kind."""
        df = self.devices()
        df = df.assign(online=self._online(df, online_since_ns))
        out = df.groupby(["role", "kind"], sort=True, as_index=False).agg(
            devices=("device", "size"), online=("online", "sum")
        )
        return out.astype({"devices": "int64", "online": "int64"})[list(COUNT_COLUMNS)]

    def latest_totals(self, metric: str, fresh_since_ns: int) -> pd.DataFrame:
        """Per (role, kind): ``sum`` and ``count`` of the newest ``metric`` of each device whose
        newest value is from ``fresh_since_ns`` or later, and ``oldest_ts`` of those values; groups
        with no fresh value are absent."""
        latest = self.latest(metrics=[metric])
        latest = latest[latest["ts"] >= fresh_since_ns]
        df = latest.merge(self.devices()[["device", "role", "kind"]], on="device")
        out = df.groupby(["role", "kind"], sort=True, as_index=False).agg(
            sum=("value", "sum"), count=("value", "size"), oldest_ts=("ts", "min")
        )
        return out.astype({"count": "int64", "oldest_ts": "int64"})[list(TOTAL_COLUMNS)]

    def latest_top(self, metric: str, n: int, online_since_ns: int) -> pd.DataFrame:
        """The ``n`` highest newest values of ``metric`` among online devices (as in
        ``device_counts``), highest first, ties by device: ``TOP_COLUMNS``."""
        devices = self.devices()
        devices = devices[self._online(devices, online_since_ns)]
        latest = self.latest(metrics=[metric])
        df = latest.merge(devices[["device", "role", "kind", "model", "zone"]], on="device")
        df = df.sort_values(["value", "device"], ascending=[False, True], kind="stable")
        return df.head(n).reset_index(drop=True)[list(TOP_COLUMNS)]

    def bucket_totals(self, metric: str, start_ns: int, end_ns: int, step_ns: int) -> pd.DataFrame:
        """Per bucket of ``step_ns`` (as ``query``) and (role, kind): the sum over devices of each
        device's mean ``metric`` in the bucket (``value``), sorted by ts, role, kind. The step is
        checked here; backends implement ``_bucket_totals``."""
        if step_ns <= 0:
            raise InvalidInput(f"step must be positive, got {step_ns} ns")
        return self._bucket_totals(metric, start_ns, end_ns, int(step_ns))

    def _bucket_totals(self, metric: str, start_ns: int, end_ns: int, step_ns: int) -> pd.DataFrame:
        q = self.query(start_ns, end_ns, metrics=[metric], step_ns=step_ns, agg="mean")
        df = q.merge(self.devices()[["device", "role", "kind"]], on="device")
        out = df.groupby(["ts", "role", "kind"], sort=True, as_index=False).agg(
            value=("value", "sum")
        )
        return out.astype({"ts": "int64", "value": "float64"})[list(BUCKET_TOTAL_COLUMNS)]

    def devices_with_roles(self, roles: Sequence[str]) -> pd.DataFrame:
        """``devices()`` rows whose role is one of ``roles`` (e.g. the few revenue meters)."""
        df = self.devices()
        return df[df["role"].isin(list(roles))].reset_index(drop=True)

    def _online(self, devices: pd.DataFrame, online_since_ns: int) -> pd.Series:
        """Seen since ``online_since_ns`` and newest ``up`` not 0 (how a poller reports a device
        that does not answer)."""
        up = self.latest(metrics=["up"])
        down = up.loc[up["value"] == 0, "device"]
        last = pd.to_numeric(devices["last_seen"], errors="coerce")
        return (last >= online_since_ns) & ~devices["device"].isin(down)

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


#: Columns of the aggregate reads (``TelemetryStore.device_counts`` and the methods after it).
COUNT_COLUMNS = ("role", "kind", "devices", "online")
TOTAL_COLUMNS = ("role", "kind", "sum", "count", "oldest_ts")
TOP_COLUMNS = ("device", "ts", "value", "role", "kind", "model", "zone")
BUCKET_TOTAL_COLUMNS = ("ts", "role", "kind", "value")


def empty_hourly() -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pd.Series(dtype="str" if c == "device" else "float64" if c in _FLOAT else "int64")
            for c in HOURLY_COLUMNS
        }
    )


_FLOAT = {"sum", "min", "max", "last", "count", "first_ts", "last_ts", "max_gap", "min_gap"}
