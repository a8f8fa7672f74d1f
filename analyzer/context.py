"""What a rule sees while it evaluates: devices, their profiles, the registry, curtailment orders
and the telemetry, fetched once per metric for every rule of an evaluation."""

from __future__ import annotations

from typing import Any, overload

import numpy as np
import pandas as pd

from minewatch.analyzer.cadence import observed_intervals
from minewatch.analyzer.late_rows import cached_counts, changed_devices, written_devices
from minewatch.analyzer.profile import Rule, Selector, ns
from minewatch.analyzer.series import Buckets
from minewatch.analyzer.sliding_cadence import SlidingCadence
from minewatch.analyzer.value_ref import ValueRef
from minewatch.config.facility import FacilityConfig
from minewatch.profiles import DeviceProfile
from minewatch.registry import RegistryEntry
from minewatch.store.base import Aggregate, TelemetryStore, empty_samples


def rule_step_ns(rule: Rule, cfg: FacilityConfig, override_s: float | None = None) -> int:
    """A rule's evaluation step: its own ``every`` or the facility's analysis interval; a report
    replaying with a coarser step uses that step for every rule evaluated more often."""
    step = rule.every or cfg.analysis.interval_s
    return ns(max(step, override_s) if override_s else step)


class EvalContext:
    def __init__(
        self,
        cfg: FacilityConfig,
        store: TelemetryStore,
        devices: pd.DataFrame,
        profiles: dict[str, DeviceProfile],
        registry: dict[str, RegistryEntry] | None,
        orders: list[dict[str, Any]],
        step_override: float | None = None,
        watch_start_ns: int | None = None,
    ) -> None:
        self.cfg = cfg
        #: when evaluation began watching (the live loop's start, a report's period start): absence
        #: is only
        #: judged over windows that lie after it — see ``watched_since``
        self.watch_start_ns = watch_start_ns
        self.step_override = step_override
        self.store = store
        self.devices = devices
        self.profiles = profiles
        self.registry = registry
        self.orders = orders
        self._raw: dict[str, tuple[int, int, pd.DataFrame]] = {}
        self._slices: dict[tuple[str, int, int], pd.DataFrame] = {}
        #: the live cache's cadences, kept between cycles (None: computed afresh, as a report does)
        self._cadences: dict[str, SlidingCadence] | None = None
        self._buckets: dict[tuple, Buckets] = {}
        self._queries: dict[tuple, pd.DataFrame] = {}
        self._picks: dict[tuple, list[str]] = {}
        self._models: dict[int, tuple[list[str], np.ndarray, pd.Index]] = {}
        self._rows: dict[int, tuple[list[str], np.ndarray]] = {}
        self._luts: dict[tuple[int, int], tuple[list[str], pd.Index, np.ndarray]] = {}
        self.problems: list[str] = []

    def with_devices(self, devices: pd.DataFrame) -> EvalContext:
        """The same evaluation over a re-read device table, keeping the telemetry already
        fetched."""
        ctx = EvalContext(
            self.cfg,
            self.store,
            devices,
            self.profiles,
            self.registry,
            self.orders,
            self.step_override,
            self.watch_start_ns,
        )
        ctx._raw, ctx._slices, ctx._cadences = self._raw, self._slices, self._cadences
        return ctx

    def watched_since(self) -> float:
        """Since when absence can be judged: the later of the watch start and the first telemetry
        the store holds from anyone (a report period that begins before the site had data). With
        no telemetry at all, the watch start alone: a whole window watched in silence is a
        finding. NaN = neither is known."""
        first = (
            pd.to_numeric(self.devices["first_seen"], errors="coerce").min()
            if len(self.devices)
            else np.nan
        )
        known = [float(v) for v in (first, self.watch_start_ns) if v is not None and v == v]
        return max(known) if known else np.nan

    def pick(self, selector: Selector) -> list[str]:
        """Devices a selector matches (memoised: every rule of a cycle or chunk asks)."""
        role = tuple(selector.role) if isinstance(selector.role, list) else selector.role
        key = (selector.kind, role, selector.zone, selector.model)
        if key not in self._picks:
            self._picks[key] = selector.pick(self.devices)
        return self._picks[key]

    def step_ns(self, rule: Rule) -> int:
        return rule_step_ns(rule, self.cfg, self.step_override)

    def device_rows(self, devices: list[str]) -> np.ndarray:
        """Each device's row in the device table (-1: not in it), memoised per pick: several rules
        look up the same 30k devices' models and first-seen times every cycle."""
        key = id(devices)  # picks are memoised, so one list object per selector and context
        if key not in self._rows:  # the list is kept alive in the value, so the id stays unique
            self._rows[key] = (devices, pd.Index(self.devices["device"]).get_indexer(devices))
        return self._rows[key][1]

    def column(self, name: str, devices: list[str]) -> np.ndarray:
        """A device-table column for ``devices`` (None for a device not in the table)."""
        return np.append(self.devices[name].to_numpy(object), [None])[self.device_rows(devices)]

    def prefetch(
        self, start_by_metric: dict[str, int], end_ns: int, cache: RawCache | None = None
    ) -> None:
        """One range query per metric covering every rule's look-back (only the new part, given a
        cache)."""
        self._slices.clear()  # slices of the frames this replaces
        if cache is not None:
            self._raw.update(cache.update(self.store, start_by_metric, end_ns))
            self._cadences = cache.cadences
            return
        for m, start in start_by_metric.items():
            self._raw[m] = (start, end_ns, _raw_frame(self.store.query(start, end_ns, metrics=[m])))

    def raw(self, metric: str, start_ns: int, end_ns: int) -> pd.DataFrame:
        have = self._raw.get(metric)
        if have is None or have[0] > start_ns or have[1] < end_ns:
            df = _raw_frame(self.store.query(start_ns, end_ns, metrics=[metric]))
            self._raw[metric] = (start_ns, end_ns, df)
            self._slices.clear()
            return df
        if (have[0], have[1]) == (start_ns, end_ns):
            return have[2]
        key = (metric, start_ns, end_ns)  # the buckets and the cadence of a rule read one range
        if key not in self._slices:
            ts = have[2]["ts"].to_numpy()
            self._slices[key] = have[2][(ts >= start_ns) & (ts < end_ns)]
        return self._slices[key]

    def observed_intervals(
        self, key: str, metric: str, devices: list[str], start_ns: int, end_ns: int
    ) -> np.ndarray:
        """``cadence.observed_intervals`` of ``metric`` over ``[start_ns, end_ns)``; the live loop
        keeps it between cycles per ``key`` (the rule's id) and updates it from the rows that
        entered and left the window."""
        df = self.raw(metric, start_ns, end_ns)
        if self._cadences is None:
            return observed_intervals(df, devices)
        return self._cadences.setdefault(key, SlidingCadence()).observed(
            df, devices, start_ns, end_ns
        )

    def newest(self, key: str, devices: list[str], start_ns: int, end_ns: int) -> np.ndarray | None:
        """Each device's newest sample time in ``[start_ns, end_ns)`` as the live loop's kept
        cadence of ``key`` holds it (``SlidingCadence.newest``, after ``observed_intervals`` of the
        same window); None where nothing holds that window (a report, another device list)."""
        cadence = None if self._cadences is None else self._cadences.get(key)
        return None if cadence is None else cadence.newest(devices, start_ns, end_ns)

    def buckets(
        self, metric: str, devices: list[str], instants: np.ndarray, step_ns: int, lookback_ns: int
    ) -> Buckets:
        key = (metric, tuple(devices), int(instants[0]), len(instants), step_ns, lookback_ns)
        b = self._buckets.get(key)
        if b is None:
            lb = max(1, -(-lookback_ns // step_ns)) * step_ns
            df = self.raw(metric, int(instants[0]) - lb, int(instants[-1]))
            b = self._buckets[key] = Buckets(
                df, devices, instants, step_ns, lookback_ns, self._codes(df, devices)
            )
        return b

    def _codes(self, df: pd.DataFrame, devices: list[str]) -> np.ndarray | None:
        """Rows' positions in ``devices`` through a lookup table per (device list, categories),
        memoised: a cycle's rules bucket the same frames for the same selections many times."""
        col = df["device"]
        if not len(df) or not isinstance(col.dtype, pd.CategoricalDtype):
            return None
        cats = col.cat.categories
        key = (id(devices), id(cats))  # both kept alive in the value, so the ids stay unique
        if key not in self._luts:
            lut = np.append(pd.Index(devices).get_indexer(cats), -1)  # code -1 (NaN) -> -1
            self._luts[key] = (devices, cats, lut)
        return self._luts[key][2][col.cat.codes.to_numpy()]

    def aggregated(
        self,
        metric: str,
        devices: list[str] | None,
        start_ns: int,
        end_ns: int,
        step_ns: int,
        agg: Aggregate,
    ) -> pd.DataFrame:
        """Store-side downsampling for long windows (a week of voltage, a month of energy)."""
        key = (
            metric,
            tuple(devices) if devices is not None else None,
            start_ns,
            end_ns,
            step_ns,
            agg,
        )
        if key not in self._queries:
            df = (
                self.store.query(
                    start_ns, end_ns, devices=devices, metrics=[metric], step_ns=step_ns, agg=agg
                )
                if devices is None or devices
                else empty_samples()
            )
            self._queries[key] = df
        return self._queries[key]

    @overload
    def resolve(self, ref: ValueRef, devices: list[str]) -> np.ndarray: ...
    @overload
    def resolve(self, ref: ValueRef | None, devices: list[str]) -> np.ndarray | None: ...
    def resolve(self, ref: ValueRef | None, devices: list[str]) -> np.ndarray | None:
        """Per-device threshold values (NaN where the device's model does not define the
        referenced limit)."""
        if ref is None:
            return None
        if ref.value is not None:
            return np.full(len(devices), ref.value * ref.factor)
        if ref.facility is not None:
            section, name = ref.facility.split(".")
            return np.full(
                len(devices), float(getattr(getattr(self.cfg, section), name)) * ref.factor
            )
        per_model: dict[str, float] = {}
        for model, prof in self.profiles.items():
            if ref.limit is not None:
                metric, fld = ref.limit.split(".")
                lim = prof.limits.get(metric)
                v = getattr(lim, fld) if lim is not None else None
            else:
                r = prof.rated.get(ref.rated or "")
                v = r.value if r is not None else None
            if v is not None:
                per_model[model] = v * ref.factor
        key = id(devices)
        if key not in self._models:  # each device's model, factorised: a few models, 30k devices
            codes, found = pd.factorize(self.column("model", devices))
            self._models[key] = (devices, codes, pd.Index(found))
        _, codes, uniques = self._models[key]
        return np.array([per_model.get(str(m), np.nan) for m in uniques] + [np.nan])[codes]


class RawCache:
    """Raw samples per metric kept between live cycles, so each cycle reads mostly what arrived
    since the last one (the live loop is the incremental case of a replay).

    Samples arrive late and out of order: collectors batch, MQTT redelivers, polled devices stamp
    their own time. So every cycle checks the ``overlap_ns`` before its previous read point: the
    series written there since the frame was read (the store's write log, from the mark taken
    before that read) — or, for a store without a log, those whose count there differs from the
    store's (``late_rows``) — have that stretch replaced by what the store holds now: a sample
    stamped before the read point but written after it is still seen, exactly once (the store is
    idempotent on (device, metric, ts), so the re-read stretch is the de-duplicated truth). Only
    samples later than the overlap are left to reports, which read everything."""

    def __init__(self, overlap_ns: int = 0) -> None:
        self.overlap_ns = int(overlap_ns)
        self._frames: dict[str, tuple[int, int, pd.DataFrame]] = {}
        self._span: dict[str, int] = {}
        #: per metric, the store's write-log mark its frame is up to date with
        #: (``TelemetryStore.written_since``; None: the store keeps no log)
        self._marks: dict[str, int | None] = {}
        #: per rule, its observed cadence as of the last cycle (``EvalContext.observed_intervals``)
        self.cadences: dict[str, SlidingCadence] = {}
        #: device ids in the samples read by the last ``update`` that the cache did not hold yet
        #: (the engine spots devices its table lacks)
        self.devices_read: list[pd.Index] = []

    def update(
        self, store: TelemetryStore, starts: dict[str, int], end: int
    ) -> dict[str, tuple[int, int, pd.DataFrame]]:
        """(start, end, frame) per metric covering at least ``[starts[m], end)``. Metrics read
        last cycle fetch only the new part, all in one query, plus the overlap of the series that
        gained late samples; each metric keeps the longest look-back any cycle asked for, so
        rules evaluated every minute do not force a full re-read."""
        for m, s in starts.items():
            self._span[m] = max(self._span.get(m, 0), end - s)
        starts = {m: end - self._span[m] for m in starts}
        fresh = {
            m: s
            for m, s in starts.items()
            if m not in self._frames or self._frames[m][0] > s or self._frames[m][1] > end
        }
        groups: dict[tuple[int, int, int | None], list[str]] = {}
        for m in starts:
            if m not in fresh:
                since = self._frames[m][1]
                lo = max(since - self.overlap_ns, starts[m])
                groups.setdefault((since, lo, self._marks.get(m)), []).append(m)
        # what each frame lacks, asked of the store's write log before anything is read: a write
        # committed after this answer is in the next cycle's
        written = {key: store.written_since(key[2], key[0]) for key in groups}
        if fresh:
            fresh_mark = store.written_since(None, end)[0]
        out: dict[str, pd.DataFrame] = {}
        self.devices_read = []
        for m, s in fresh.items():
            out[m] = _raw_frame(store.query(s, end, metrics=[m]))
            self._marks[m] = fresh_mark
            self.devices_read.append(out[m]["device"].cat.categories)
        for key, metrics in groups.items():
            since, lo, _ = key
            mark, series = written[key]
            new = _by_metric(store.query(since, end, metrics=metrics) if end > since else None)
            late = self._late(store, metrics, lo, since, series)
            reread = _by_metric(
                store.query(lo, since, devices=late, metrics=metrics) if late else None
            )
            for m in metrics:
                self._marks[m] = mark
                df = self._frames[m][2]
                ts = df["ts"].to_numpy()
                keep = ts >= starts[m]
                dev = df["device"].array
                if late:  # the window of a series with late samples is replaced by its re-read
                    pos = dev.categories.get_indexer(late)  # the cached categories' hash table
                    stale = np.zeros(len(dev.categories) + 1, bool)
                    stale[pos[pos >= 0]] = True
                    keep &= (ts < lo) | ~stale[dev.codes]
                out[m] = _append(df, keep, [got[m] for got in (reread, new) if m in got])
                cats = out[m]["device"].cat.categories
                if len(cats) > len(dev.categories):  # a device new to the cache
                    self.devices_read.append(cats)
        for m, df in out.items():
            self._frames[m] = (starts[m], end, df)
        return {m: self._frames[m] for m in starts}

    def _late(
        self,
        store: TelemetryStore,
        metrics: list[str],
        lo: int,
        hi: int,
        written: pd.DataFrame | None,
    ) -> list[str]:
        """Devices with samples stamped in ``[lo, hi)`` that the cache lacks (in any of
        ``metrics``): those the store's write log lists as ``written`` since the frames were read,
        or else those whose count in the stretch differs from the cache's."""
        if hi <= lo:
            return []
        if written is not None:
            return written_devices(written, metrics)
        stored = store.counts_by_device(metrics, lo, hi)
        changed: set[str] = set()
        for m in metrics:
            changed.update(
                changed_devices(stored.get(m), cached_counts(self._frames[m][2], lo, hi))
            )
        return sorted(changed)


def _by_metric(df: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """A multi-metric read split into raw frames per metric. Device ids are hashed once for all
    metrics and each frame's categories taken from the integer codes (string takes and a hash per
    metric cost more than the read); rows come sorted by device, so categories stay sorted."""
    if df is None or df.empty:
        return {}
    metric, names = pd.factorize(df["metric"])
    device, ids = pd.factorize(df["device"])
    ts, value = df["ts"].to_numpy(np.int64), df["value"].to_numpy(np.float64)
    out = {}
    for i, name in enumerate(names):
        rows = np.flatnonzero(metric == i)
        used, codes = np.unique(device[rows], return_inverse=True)
        out[str(name)] = pd.DataFrame(
            {
                "ts": ts[rows],
                "device": pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(ids[used])),
                "value": value[rows],
            }
        )
    return out


def _append(df: pd.DataFrame, keep: np.ndarray, parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The rows of a cache frame that ``keep`` selects followed by newly read frames, each column
    written once (the kept rows compressed straight into the new array: at 2.2 M cached rows a
    filtered copy first cost as much again). Devices are recoded into the cache frame's categories
    through the small category tables; a device new to the cache is appended to them, so the
    codes of the rows kept stay valid."""
    dev = df["device"].array
    cats = dev.categories
    parts = [p for p in parts if len(p)]
    read = [p["device"].array for p in parts]
    pos = [cats.get_indexer(r.categories) for r in read]  # the cached categories' hash table
    if any((q < 0).any() for q in pos):
        cats = cats.append([r.categories[q < 0] for r, q in zip(read, pos, strict=True)]).unique()
        pos = [cats.get_indexer(r.categories) for r in read]
    dtype = dev.dtype if cats is dev.categories else pd.CategoricalDtype(cats)
    code = np.min_scalar_type(-len(cats) - 1)  # wide enough for the appended categories and -1
    codes = [np.append(q, -1).astype(code)[r.codes] for r, q in zip(read, pos, strict=True)]
    kept = int(np.count_nonzero(keep))

    def column(first: np.ndarray, rest: list[np.ndarray]) -> np.ndarray:
        out = np.empty(kept + sum(len(r) for r in rest), first.dtype)
        np.compress(keep, first, out=out[:kept])
        if rest:
            np.concatenate(rest, out=out[kept:])
        return out

    return pd.DataFrame(
        {
            "ts": column(df["ts"].to_numpy(np.int64), [p["ts"].to_numpy(np.int64) for p in parts]),
            "device": pd.Categorical.from_codes(
                column(dev.codes.astype(code, copy=False), codes), dtype=dtype
            ),
            "value": column(
                df["value"].to_numpy(np.float64), [p["value"].to_numpy(np.float64) for p in parts]
            ),
        }
    )


def _raw_frame(df: pd.DataFrame) -> pd.DataFrame:
    """ts, device (categorical: rules map device ids once per frame, not once per row), value."""
    df = df[["ts", "device", "value"]]
    if not isinstance(df["device"].dtype, pd.CategoricalDtype):
        df = df.assign(device=df["device"].astype("category"))
    return df
