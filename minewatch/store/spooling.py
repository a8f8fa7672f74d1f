"""Store-and-forward in front of any backend: an outage of the store loses nothing.

``write`` tries the backend; if it raises ``StoreUnavailable`` the batch goes to the on-disk spool
and ``write`` returns (so the MQTT collector may acknowledge). After a failure, writes go straight
to the spool until the replayer, which sends the oldest batches first, gets one through: a dead
server does not cost every write a timeout. When the spool is full, ``write`` raises ``SpoolFull``
and says so in the log, a counter and ``stats()`` — the broker then keeps the un-acknowledged
messages.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from minewatch.counters import Counters
from minewatch.sample import DeviceMeta, SampleBatch
from minewatch.store.base import Aggregate, StoreUnavailable, TelemetryStore
from minewatch.store.spool import Spool, SpoolFull

log = logging.getLogger(__name__)

#: Samples sent per replay request: large batches catch up fastest (InfluxDB's write best
#: practices suggest about 5,000 lines per request; a line carries several samples).
REPLAY_SAMPLES = 20_000
#: A batch the backend refuses this many times for a reason other than being down is quarantined.
MAX_ATTEMPTS = 5
_MIN_RETRY_S = 0.2


class SpoolingStore(TelemetryStore):
    """Wraps a backend; reads go to the backend, writes to the backend or the spool."""

    def __init__(
        self,
        backend: TelemetryStore,
        spool: Spool,
        counters: Counters | None = None,
        retry_max_s: float = 30.0,
    ) -> None:
        self.backend = backend
        self.spool = spool
        self.counters = counters or Counters()
        self.retry_max_s = retry_max_s
        self._backend_up = True
        self._full = False
        self._last_error: str | None = None
        self._state_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        st = spool.stats()
        self._pending_at_open = bool(st["spool_batches"] or st["spool_pending_devices"])

    # -- lifecycle
    # ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the replayer (also started by the first write that spools, or finds a spool left by
        an earlier run)."""
        with self._state_lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="minewatch-spool-replayer", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=60)
        self._thread = None

    def close(self) -> None:
        self.stop()
        self.backend.close()
        self.spool.close()

    def stats(self) -> dict[str, Any]:
        spool = self.spool.stats()
        if self._full:
            status = "spool_full"
        elif not self._backend_up:
            status = "store_down_spooling"
        elif spool["spool_batches"]:
            status = "replaying"
        else:
            status = "ok"
        backend_stats = getattr(self.backend, "stats", None)
        return {
            "status": status,
            "healthy": status in ("ok", "replaying"),
            "backend_up": self._backend_up,
            "last_error": self._last_error,
            **spool,
            **self.counters.snapshot(),
            "backend": backend_stats() if callable(backend_stats) else type(self.backend).__name__,
        }

    # -- writing
    # ------------------------------------------------------------------------------------

    def _write(self, batch: SampleBatch) -> None:
        batch = self._finite(batch)
        if not len(batch):
            return
        if self._pending_at_open:
            self._pending_at_open = False
            self.start()
        if self._backend_up:
            try:
                self.backend.write(batch)
                self.counters.inc("samples_stored_total", len(batch))
                return
            except StoreUnavailable as exc:
                self._mark_down(exc)
        self._spool(batch)

    def _finite(self, batch: SampleBatch) -> SampleBatch:
        """NaN/inf are never stored (SQLite refuses NaN, line protocol has neither); dropping them
        here, counted, keeps one bad value from blocking its whole batch in the spool forever."""
        finite = np.isfinite(batch.value)
        if finite.all():
            return batch
        bad = batch.where(~finite)
        self.counters.inc("rejected_total", len(bad), reason="non_finite_value")
        log.warning("%d non-finite value(s) not stored, e.g. %s", len(bad), bad.samples()[0])
        return batch.where(finite)

    def _spool(self, batch: SampleBatch) -> None:
        try:
            self.spool.append(batch)
        except SpoolFull as exc:
            if not self._full:  # once per episode: the caller retries the same batch every few s
                log.error("%s; the caller must keep the data (MQTT: not acknowledged)", exc)
            self._full = True
            self.counters.inc("spool_full_total")
            self.counters.inc("spool_refused_samples_total", len(batch))
            raise
        if self._full:
            log.warning("spool %s takes writes again", self.spool.path)
        self._full = False
        self.counters.inc("spooled_total", len(batch))
        self.start()
        self._wake.set()

    def upsert_devices(self, metas: Iterable[DeviceMeta]) -> None:
        metas = list(metas)
        if self._backend_up:
            try:
                self.backend.upsert_devices(metas)
                return
            except StoreUnavailable as exc:
                self._mark_down(exc)
        self.spool.add_devices(metas)
        self.start()
        self._wake.set()

    def _mark_down(self, exc: Exception) -> None:
        if self._backend_up:
            log.warning("telemetry store unavailable, spooling to %s: %s", self.spool.path, exc)
        self._backend_up = False
        self._last_error = str(exc)

    # -- replay
    # -------------------------------------------------------------------------------------

    def replay_once(self) -> int:
        """Send pending metadata and the oldest spooled batches once; returns samples replayed.

        Raises StoreUnavailable while the backend is still down.
        """
        metas = self.spool.devices()
        if metas:
            self.backend.upsert_devices(metas)
            self.spool.remove_devices(metas)
            self._backend_up = True
        batches = self.spool.oldest(REPLAY_SAMPLES)
        if not batches:  # nothing proves the backend is back: the next spooled batch will
            return 0
        samples = SampleBatch.concat([b.samples for b in batches])
        ids = [b.id for b in batches]
        try:
            self.backend.write(samples)
        except StoreUnavailable:
            raise
        except Exception as exc:
            self._refused(batches, exc)
            return 0
        self.spool.delete(ids)
        self._backend_up = True
        self._full = False
        self.counters.inc("replayed_total", len(samples))
        return len(samples)

    def _refused(self, batches: list, exc: Exception) -> None:
        self._last_error = f"{type(exc).__name__}: {exc}"
        log.error(
            "replaying spooled batches %s failed: %s", [b.id for b in batches], self._last_error
        )
        self.spool.failed([b.id for b in batches])
        for b in batches:
            if b.attempts + 1 >= MAX_ATTEMPTS:
                self.spool.quarantine(b.id, self._last_error)
                self.counters.inc("spool_quarantined_total", len(b.samples))
                log.error(
                    "spooled batch %d (%d samples) quarantined after %d attempts; see "
                    "`minewatch store spool-status`",
                    b.id,
                    len(b.samples),
                    MAX_ATTEMPTS,
                )

    def _run(self) -> None:
        delay = _MIN_RETRY_S
        while not self._stop.is_set():
            try:
                sent = self.replay_once()
            except StoreUnavailable as exc:
                self._mark_down(exc)
                self._stop.wait(delay)
                delay = min(delay * 2, self.retry_max_s)
                continue
            except Exception:
                log.exception("spool replayer error")
                self._stop.wait(delay)
                delay = min(delay * 2, self.retry_max_s)
                continue
            delay = _MIN_RETRY_S
            if sent:
                if not self.spool.stats()["spool_batches"]:
                    log.info("spool drained: telemetry store caught up")
                continue
            self._wake.wait(1.0)
            self._wake.clear()

    # -- reading: the backend's
    # -----------------------------------------------------------------------

    def devices(self) -> pd.DataFrame:
        return self.backend.devices()

    def devices_since(self, version: int | None) -> tuple[int | None, pd.DataFrame]:
        return self.backend.devices_since(version)

    def latest(
        self, devices: Sequence[str] | None = None, metrics: Sequence[str] | None = None
    ) -> pd.DataFrame:
        return self.backend.latest(devices, metrics)

    def _query(
        self,
        start_ns: int,
        end_ns: int,
        devices: Sequence[str] | None,
        metrics: Sequence[str] | None,
        step_ns: int | None,
        agg: Aggregate,
    ) -> pd.DataFrame:
        return self.backend.query(start_ns, end_ns, devices, metrics, step_ns, agg)

    def _rollup(
        self,
        start_ns: int,
        end_ns: int,
        metric: str,
        step_ns: int,
        devices: Sequence[str] | None,
    ) -> pd.DataFrame:
        return self.backend.rollup(start_ns, end_ns, metric, step_ns, devices)

    def counts_by_device(self, metrics: list[str], lo: int, hi: int) -> dict[str, pd.Series]:
        return self.backend.counts_by_device(metrics, lo, hi)

    def written_since(
        self, mark: int | None, before_ns: int
    ) -> tuple[int | None, pd.DataFrame | None]:
        return self.backend.written_since(mark, before_ns)

    def prune(self, older_than_ns: int) -> int:
        return self.backend.prune(older_than_ns)

    def materialise_rollups(self, before_ns: int | None = None) -> int:
        return self.backend.materialise_rollups(before_ns)

    def device_counts(self, online_since_ns: int) -> pd.DataFrame:
        return self.backend.device_counts(online_since_ns)

    def latest_totals(self, metric: str, fresh_since_ns: int) -> pd.DataFrame:
        return self.backend.latest_totals(metric, fresh_since_ns)

    def latest_top(self, metric: str, n: int, online_since_ns: int) -> pd.DataFrame:
        return self.backend.latest_top(metric, n, online_since_ns)

    def _bucket_totals(self, metric: str, start_ns: int, end_ns: int, step_ns: int) -> pd.DataFrame:
        return self.backend.bucket_totals(metric, start_ns, end_ns, step_ns)

    def devices_with_roles(self, roles: Sequence[str]) -> pd.DataFrame:
        return self.backend.devices_with_roles(roles)

    # -- hourly roll-ups (issue #11: long reports) -------------------------------------------------
    def _hourly(
        self, start_ns: int, end_ns: int, metric: str, devices: Sequence[str] | None
    ) -> pd.DataFrame | None:
        return self.backend.hourly(start_ns, end_ns, metric, devices)
