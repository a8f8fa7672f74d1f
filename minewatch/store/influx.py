"""InfluxDB backend of the telemetry store: line protocol in, InfluxQL out (InfluxDB 1.x and 2.x).

Schema (docs/influxdb.md): one measurement per device kind (``asic_miner``, ``power_meter``, ...),
tags ``facility, device, zone, rack, model, role`` (stable identity only), one float field per
metric. Device metadata lives in the ``minewatch_devices`` measurement so every process (collector,
analyzer, API, Grafana) sees the same devices.

InfluxDB keeps one point per series and timestamp, so a redelivered sample overwrites itself: the
same exactly-once outcome as SQLite's primary key, as long as a device's tags do not change in
between.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from minewatch.config.storage import InfluxSettings
from minewatch.counters import Counters
from minewatch.sample import NS_PER_S, DeviceMeta, SampleBatch, now_ns
from minewatch.store.base import (
    DEVICE_COLUMNS,
    ROLLUP_COLUMNS,
    SAMPLE_COLUMNS,
    Aggregate,
    StoreUnavailable,
    TelemetryStore,
    empty_rollup,
    empty_samples,
)
from minewatch.store.influx_http import (
    HttpStatusError,
    InfluxQL,
    V1Writer,
    V2Writer,
    WriteRejected,
    auth_error,
    http_client,
)
from minewatch.store.influx_setup import ensure_v1, ensure_v2
from minewatch.store.lineproto import (
    DEVICES_MEASUREMENT,
    OWN_PREFIX,
    device_line,
    format_samples,
    quote_ident,
    seen_line,
    series_prefix,
    tag_filter,
)

log = logging.getLogger(__name__)

#: ``last_seen`` is rewritten when it moved by more than this, so metadata costs a line a minute per
#: device.
SEEN_RESOLUTION_NS = 60 * NS_PER_S
#: How often an unknown device may trigger a reload of the metadata other processes wrote.
META_RELOAD_S = 30.0
_REJECT_STATUSES = (400, 413, 422)
_RETRY_STATUSES = (429, 503)
#: Most rejected lines logged per batch; the rest are counted.
_LOG_REJECTED = 5


class InfluxStore(TelemetryStore):
    """Thread-safe; nothing touches the network until the first call, so a store can be opened while
    InfluxDB is down (the spool then holds the writes)."""

    def __init__(
        self,
        settings: InfluxSettings,
        facility: str,
        retention_days: int = 400,
        counters: Counters | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.facility = facility
        self.retention_days = retention_days
        self.counters = counters or Counters()
        self._sleep = sleep
        self._http = http_client(settings)
        self._ql = InfluxQL(settings, self._http)
        self._v2 = V2Writer(settings) if settings.api == "v2" else None
        self._writer = self._v2 or V1Writer(settings, self._http)
        self._lock = threading.RLock()
        self._ready = False
        self._meta: dict[str, DeviceMeta] = {}
        self._prefix: dict[str, str] = {}
        self._seen: dict[str, tuple[int, int]] = {}
        self._meta_loaded_at = float("-inf")

    # -- start-up
    # -----------------------------------------------------------------------------------

    def connect(self) -> None:
        """Check credentials, create what is missing, load device metadata. Idempotent.

        Raises StoreUnavailable while the server is unreachable, StoreAuthError for bad credentials.
        """
        with self._lock:
            if self._ready:
                return
            if self._v2 is not None:
                if self.settings.create:
                    ensure_v2(self._v2.client, self.settings, self.retention_days)
            else:
                ensure_v1(self._ql, self.settings, self.retention_days)
            self._ready = True
            self._load_meta()

    def _load_meta(self) -> None:
        """Device metadata others wrote. Writes do not depend on it: if ``/query`` fails, samples of
        devices not yet upserted here go to ``unclassified`` and the load is retried later."""
        self._meta_loaded_at = time.monotonic()
        try:
            rows = self._device_rows()
        except (StoreUnavailable, ValueError) as exc:
            log.warning(
                "InfluxDB: could not read device metadata (%s); retrying in %.0f s",
                exc,
                META_RELOAD_S,
            )
            return
        for r in rows:
            if r.get("kind") is not None:
                self._remember(
                    DeviceMeta(
                        r["device"],
                        r["kind"] or "",
                        r["model"] or "",
                        r["zone"] or "",
                        r["rack"] or "",
                        r["role"] or "",
                    )
                )
            if r.get("first_seen") is not None:
                self._seen[r["device"]] = (int(r["first_seen"]), int(r["last_seen"]))

    # -- writing
    # ------------------------------------------------------------------------------------

    def _write(self, batch: SampleBatch) -> None:
        self.connect()
        with self._lock:
            self._learn_unknown({d for d, _ in batch.keys})
            out = format_samples(batch, self._prefix)
            seen = self._seen_updates(out.span)
        non_finite = out.non_finite
        if non_finite:
            self.counters.inc("rejected_total", non_finite, reason="non_finite_value")
            log.warning(
                "InfluxDB: %d non-finite value(s) not written (line protocol has no NaN/inf)",
                non_finite,
            )
        ts = now_ns()
        self.write_lines(
            out.lines
            + [seen_line(dev, self.facility, lo, hi, ts) for dev, (lo, hi) in seen.items()]
        )
        with self._lock:  # only once stored: a spooled batch must bring its seen times on replay
            self._seen.update(seen)
        self.counters.inc("samples_written_total", len(batch) - non_finite)

    def write_lines(self, lines: Sequence[str]) -> int:
        """Write pre-formatted line protocol in batches of ``batch_lines``; returns how many lines
        the server rejected (logged and counted as ``rejected_total{reason=influx_rejected}``)."""
        self.connect()
        rejected: list[tuple[str, str]] = []
        size = self.settings.batch_lines
        for i in range(0, len(lines), size):
            self._send_isolating(lines[i : i + size], rejected)
        if rejected:
            self.counters.inc("rejected_total", len(rejected), reason="influx_rejected")
            for line, why in rejected[:_LOG_REJECTED]:
                log.warning("InfluxDB rejected line %r: %s", line[:300], why)
            if len(rejected) > _LOG_REJECTED:
                log.warning(
                    "InfluxDB rejected %d more line(s) of this batch", len(rejected) - _LOG_REJECTED
                )
        self.counters.inc("lines_written_total", len(lines) - len(rejected))
        return len(rejected)

    def _send_isolating(self, chunk: Sequence[str], rejected: list[tuple[str, str]]) -> None:
        """Send; if the server calls the batch malformed, bisect until the bad lines are alone.

        Re-sending the good half is harmless: a point overwrites itself (1.x partial writes
        included).
        """
        try:
            self._post(chunk)
        except WriteRejected as exc:
            if len(chunk) == 1:
                rejected.append((chunk[0], exc.message))
                return
            self.counters.inc("influx_batch_splits_total")
            mid = len(chunk) // 2
            self._send_isolating(chunk[:mid], rejected)
            self._send_isolating(chunk[mid:], rejected)

    def _post(self, chunk: Sequence[str]) -> None:
        """One request, retried on 429/503 after the server's Retry-After (capped) or a backoff."""
        attempt = 0
        while True:
            try:
                self._writer.post(chunk)
                self.counters.inc("influx_requests_total")
                return
            except HttpStatusError as exc:
                status = exc.status
                if status in _REJECT_STATUSES:
                    raise WriteRejected(status, exc.message) from exc
                if status in (401, 403):
                    raise auth_error(self.settings, status, exc.message) from exc
                if status not in _RETRY_STATUSES or attempt >= self.settings.max_retries:
                    if status == 404:  # database/bucket dropped under us: provision again next time
                        self._ready = False
                    raise StoreUnavailable(
                        f"InfluxDB write to {self.settings.url}: HTTP {status}: {exc.message}"
                    ) from exc
                self.counters.inc("influx_retries_total", reason=str(status))
                wait = exc.retry_after_s if exc.retry_after_s is not None else 0.5 * 2**attempt
                self._sleep(min(wait, self.settings.retry_max_wait_s))
                attempt += 1

    # -- device metadata
    # ----------------------------------------------------------------------------

    def upsert_devices(self, metas: Iterable[DeviceMeta]) -> None:
        metas = list(metas)
        if not metas:
            return
        self.connect()
        ts = now_ns()
        self.write_lines([device_line(m, self.facility, ts) for m in metas])
        with self._lock:
            for m in metas:
                self._remember(m)

    def _remember(self, meta: DeviceMeta) -> None:
        self._meta[meta.device] = meta
        self._prefix[meta.device] = series_prefix(meta, meta.device, self.facility)

    def _learn_unknown(self, devices: set[str]) -> None:
        """A device another process registered: reload metadata (rate-limited) before writing it; a
        device nobody registered is written as ``unclassified``."""
        unknown = devices.difference(self._meta)
        if unknown and time.monotonic() - self._meta_loaded_at > META_RELOAD_S:
            self._load_meta()
            unknown = devices.difference(self._meta)
        for dev in unknown:
            if dev not in self._prefix:
                self._prefix[dev] = series_prefix(None, dev, self.facility)

    def _seen_updates(self, span: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        """New (first, last) seen of devices whose span moved (last seen: by more than the
        resolution)."""
        out = {}
        for dev, (lo, hi) in span.items():
            known = self._seen.get(dev)
            if known is None:
                out[dev] = (lo, hi)
            elif lo < known[0] or hi > known[1] + SEEN_RESOLUTION_NS:
                out[dev] = (min(lo, known[0]), max(hi, known[1]))
        return out

    def _device_rows(self) -> list[dict[str, Any]]:
        q = (
            "SELECT last(kind) AS kind, last(model) AS model, last(zone) AS zone, last(rack) AS "
            "rack, "
            f"last(role) AS role, min(first_seen) AS first_seen, max(last_seen) AS last_seen "
            f"FROM {quote_ident(DEVICES_MEASUREMENT)} GROUP BY device"
        )
        rows = []
        for series in _series(self._ql.run(q)):
            rec = dict(zip(series["columns"], series["values"][0], strict=True))
            rec["device"] = series.get("tags", {}).get("device", "")
            rows.append(rec)
        return rows

    def devices(self) -> pd.DataFrame:
        self.connect()
        rows = sorted(self._device_rows(), key=lambda r: r["device"])
        out = [
            [
                r["device"],
                *(r.get(k) or "" for k in ("kind", "model", "zone", "rack", "role")),
                _int_or_none(r.get("first_seen")),
                _int_or_none(r.get("last_seen")),
            ]
            for r in rows
        ]
        return pd.DataFrame(out, columns=DEVICE_COLUMNS)

    # -- reading
    # ------------------------------------------------------------------------------------

    @staticmethod
    def _where(devices: Sequence[str] | None, time_clause: str = "") -> str:
        clauses = [c for c in (time_clause, tag_filter("device", devices) if devices else "") if c]
        return (" WHERE " + " AND ".join(clauses)) if clauses else ""

    def _query(
        self,
        start_ns: int,
        end_ns: int,
        devices: Sequence[str] | None,
        metrics: Sequence[str] | None,
        step_ns: int | None,
        agg: Aggregate,
    ) -> pd.DataFrame:
        self.connect()
        where = self._where(devices, f"time >= {int(start_ns)} AND time < {int(end_ns)}")
        if step_ns is None:
            select = ", ".join(quote_ident(m) for m in metrics) if metrics else "*::field"
            q = f"SELECT {select} FROM /.*/{where} GROUP BY device"
            prefix = ""
        else:
            select = (
                ", ".join(f"{agg}({quote_ident(m)}) AS {quote_ident(m)}" for m in metrics)
                if metrics
                else f"{agg}(*)"
            )
            group = f"GROUP BY time({int(step_ns)}ns), device fill(none)"
            q = f"SELECT {select} FROM /.*/{where} {group}"
            prefix = "" if metrics else f"{agg}_"
        return _long_frame(_series(self._ql.run(q)), prefix)

    def _rollup(
        self,
        start_ns: int,
        end_ns: int,
        metric: str,
        step_ns: int,
        devices: Sequence[str] | None,
    ) -> pd.DataFrame:
        """Five aggregates per device and ``GROUP BY time()`` bucket in one InfluxQL statement.
        InfluxQL stamps each bucket with its start, so ``last_ts`` is the bucket's last instant: the
        roll-up's time resolution on InfluxDB is the step."""
        self.connect()
        f = quote_ident(metric)
        where = self._where(devices, f"time >= {int(start_ns)} AND time < {int(end_ns)}")
        q = (
            f"SELECT count({f}), sum({f}), min({f}), max({f}), last({f}) FROM /.*/{where} "
            f"GROUP BY time({int(step_ns)}ns), device fill(none)"
        )
        parts = [
            pd.DataFrame(s["values"], columns=ROLLUP_COLUMNS[:1] + ROLLUP_COLUMNS[2:7]).assign(
                device=s["tags"]["device"]
            )
            for s in _series(self._ql.run(q))
            if not s["name"].startswith(OWN_PREFIX) and s.get("tags", {}).get("device")
        ]
        if not parts:
            return empty_rollup()
        df = pd.concat(parts, ignore_index=True)
        # a device that changed kind has the metric in two measurements: one row per bucket
        df = (
            df.groupby(["device", "ts"], sort=True)
            .agg(
                count=("count", "sum"),
                sum=("sum", "sum"),
                min=("min", "min"),
                max=("max", "max"),
                last=("last", "last"),
            )
            .reset_index()
        )
        df["last_ts"] = np.minimum(df["ts"] + int(step_ns) - 1, int(end_ns) - 1)
        return df.astype({"ts": "int64", "count": "int64", "device": "str"})[ROLLUP_COLUMNS]

    def latest(
        self, devices: Sequence[str] | None = None, metrics: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Newest value per (device, metric): one ``last()`` per field (a single-field selector
        keeps the point's own timestamp), all statements in one request."""
        if (devices is not None and not devices) or (metrics is not None and not metrics):
            return empty_samples()
        self.connect()
        by_field: dict[str, list[str]] = {}
        for series in _series(self._ql.run("SHOW FIELD KEYS")):
            if series["name"].startswith(OWN_PREFIX):
                continue
            for field, ftype in series["values"]:
                if ftype in ("float", "integer") and (metrics is None or field in metrics):
                    by_field.setdefault(field, []).append(series["name"])
        if not by_field:
            return empty_samples()
        where = self._where(devices)
        fields = sorted(by_field)
        q = ";".join(
            f"SELECT last({quote_ident(f)}) AS value FROM "
            f"{','.join(quote_ident(m) for m in by_field[f])}"
            f"{where} GROUP BY device"
            for f in fields
        )
        rows = []
        for field, result in zip(fields, self._ql.run(q), strict=True):
            for series in result.get("series", []):
                ts, value = series["values"][0]
                rows.append((ts, series.get("tags", {}).get("device", ""), field, value))
        return (
            _finish(pd.DataFrame(rows, columns=SAMPLE_COLUMNS))
            .groupby(["device", "metric"], as_index=False, sort=True)
            .last()[SAMPLE_COLUMNS]
        )

    def prune(self, older_than_ns: int) -> int:
        """Delete samples older than the cut-off (device metadata and alert copies stay). Usually
        the retention policy does this already; returns -1 because InfluxDB does not say how many
        points went."""
        self.connect()
        measurements = [
            m
            for s in _series(self._ql.run("SHOW MEASUREMENTS"))
            for (m,) in s["values"]
            if not m.startswith(OWN_PREFIX)
        ]
        if self._v2 is not None:
            delete = self._v2.client.delete_api()
            for m in measurements:
                delete.delete(
                    start="1970-01-01T00:00:00Z",
                    stop=pd.Timestamp(older_than_ns, tz="UTC").isoformat(),
                    predicate=f'_measurement="{m}"',
                    bucket=self.settings.bucket,
                    org=self.settings.org,
                )
        else:
            for m in measurements:
                self._ql.run(f"DELETE FROM {quote_ident(m)} WHERE time < {int(older_than_ns)}")
        return -1

    def stats(self) -> dict[str, Any]:
        return {
            "backend": "influxdb",
            "url": self.settings.url,
            "api": self.settings.api,
            **self.counters.snapshot(),
        }

    def close(self) -> None:
        self._http.close()
        if self._v2 is not None:
            self._v2.close()


def _series(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for r in results for s in r.get("series", [])]


def _int_or_none(v: Any) -> int | None:
    return None if v is None else int(v)


def _long_frame(series_list: list[dict[str, Any]], prefix: str) -> pd.DataFrame:
    """InfluxQL's wide series (time + one column per field) → the store's long frame."""
    parts = []
    for series in series_list:
        device = series.get("tags", {}).get("device", "")
        if series["name"].startswith(OWN_PREFIX) or not device:  # minewatch's own, or not telemetry
            continue
        wide = pd.DataFrame(series["values"], columns=series["columns"])
        long = wide.melt(id_vars="time", var_name="metric", value_name="value").dropna(
            subset=["value"]
        )
        long["device"] = device
        parts.append(long.rename(columns={"time": "ts"}))
    if not parts:
        return empty_samples()
    df = pd.concat(parts, ignore_index=True)
    if prefix:
        df["metric"] = df["metric"].str.removeprefix(prefix)
    return _finish(df[SAMPLE_COLUMNS])


def _finish(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return empty_samples()
    df = df.astype({"ts": "int64", "value": "float64", "device": "str", "metric": "str"})
    # The same (device, metric, ts) in two measurements means a device changed kind: keep one.
    df = df.drop_duplicates(["device", "metric", "ts"], keep="last")
    return df.sort_values(["device", "metric", "ts"], kind="stable").reset_index(drop=True)
