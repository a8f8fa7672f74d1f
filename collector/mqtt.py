"""The MQTT collector: subscribe, decode by profile, write, and only then acknowledge.

Threads and why:
- paho's network thread (``loop_start``) only puts each message into a bounded queue. Any work there
  delays keepalives for every message, and an exception there kills the thread silently unless
  ``suppress_exceptions`` is set (paho-mqtt ``Client.suppress_exceptions``, default False; seen on
  paho-mqtt 2.2.0) — both are handled here.
- a decoder thread drains the queue in chunks and decodes each as the rest of its batch queues up
  (``IntakeQueue.chunks``, ``BatchDecoder.prepare``); a writer thread writes each batch
  to the store in one call and then sends the PUBACKs (``manual_ack``). Two threads, because SQLite
  and network writes release the GIL: batch N+1 decodes while batch N is written. A message whose
  samples are not durably written is never acknowledged, so after a crash or a store outage the
  broker redelivers it; the store's key (device, metric, ts) makes the redelivery a no-op.

Flow control comes from MQTT itself: with QoS 1 the broker stops sending once ``Receive Maximum``
(MQTT 5) / its ``max_inflight_messages`` messages are unacknowledged, so a slow store slows the
broker, not memory.

The pieces read alone: ``mqtt_session`` (the broker connection), ``mqtt_intake`` (the queue),
``mqtt_batches`` (decode, write, ack), ``registry_watch`` (registry hot reload). This module runs
the two threads that join them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from minewatch.collector.decode import PayloadDecoder
from minewatch.collector.mqtt_batches import BatchDecoder, BatchWriter, Prepared
from minewatch.collector.mqtt_intake import IntakeQueue
from minewatch.collector.mqtt_session import BrokerSession
from minewatch.collector.registry_watch import RegistryWatcher
from minewatch.collector.rejects import RejectTracker
from minewatch.config.facility import FacilityConfig
from minewatch.counters import Counters
from minewatch.profiles import DeviceProfile
from minewatch.registry import RegistryEntry
from minewatch.store import TelemetryStore

log = logging.getLogger(__name__)


class MqttCollector:
    """``start()`` returns at once; ``stop()`` flushes what is queued, acks it, and disconnects."""

    def __init__(
        self,
        cfg: FacilityConfig,
        store: TelemetryStore,
        profiles: dict[str, DeviceProfile],
        registry: dict[str, RegistryEntry],
        *,
        decoder: PayloadDecoder | None = None,
    ) -> None:
        s = self.settings = cfg.mqtt
        self.store = store
        self.counters = Counters()
        self.rejects = RejectTracker(self.counters, log, keep=s.reject_buffer)
        self._stop = threading.Event()
        self.intake = IntakeQueue(s.queue_size, self.counters, self._stop)
        self.session = BrokerSession(cfg, self.intake, self.counters, self._stop)
        watcher = RegistryWatcher(
            cfg.path(cfg.registry) if cfg.registry else None, set(profiles), registry, self.counters
        )
        self.batches = BatchDecoder(
            decoder
            or PayloadDecoder(
                cfg.device_groups,
                profiles,
                registry,
                max_payload_bytes=s.max_payload_bytes,
                max_future_s=s.max_future_s,
                max_past_s=s.max_past_s,
            ),
            watcher,
            self.rejects,
            self.counters,
        )
        self.writer = BatchWriter(store, self.session.ack, self.counters, self._stop)
        self._prepared: queue.Queue[Prepared | None] = queue.Queue(maxsize=2)
        self._threads: list[threading.Thread] = []
        self._writer_done = threading.Event()
        self._drain_deadline = 0.0

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        self._writer_done.clear()
        self._threads = [
            threading.Thread(target=self._decode_loop, name="minewatch-mqtt-decoder", daemon=True),
            threading.Thread(target=self._write_loop, name="minewatch-mqtt-writer", daemon=True),
        ]
        for t in self._threads:
            t.start()
        self.session.connect()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Idempotent. Drains the queue (write + ack), then disconnects; unacked messages stay with
        the broker."""
        if not self._threads:
            return
        self._drain_deadline = time.monotonic() + min(5.0, timeout_s / 2)
        self._stop.set()
        for t in self._threads:
            t.join(timeout_s)
        self.session.disconnect()
        self._threads = []

    def wait_ready(self, timeout_s: float) -> bool:
        """True once connected and the broker confirmed the subscriptions."""
        return self.session.subscribed.wait(timeout_s)

    def stats(self) -> dict[str, Any]:
        snap: dict[str, Any] = self.counters.snapshot()
        for key in ("received", "stored_samples", "acked", "batches", "store_errors"):
            snap.setdefault(key, 0)
        snap.setdefault("rejected_total", {})
        snap.update(
            connected=self.session.connected.is_set(),
            queue_depth=self.intake.depth(),
            queue_capacity=self.intake.capacity,
            lag_s=self.writer.lag_s,
            last_write_ns=self.writer.last_write_ns,
            devices_seen=len(self.batches.known),
            recent_rejects=self.rejects.recent(10),
        )
        return snap

    # -- decoder and writer threads ------------------------------------------------------------
    def _decode_loop(self) -> None:
        wait_s = self.settings.batch_wait_ms / 1000
        try:
            while not self._writer_done.is_set():
                if self._stop.is_set() and time.monotonic() > self._drain_deadline:
                    return  # what is still queued stays unacked: the broker redelivers it
                try:
                    prepared = self.batches.prepare(
                        self.intake.chunks(self.settings.batch_max, wait_s)
                    )
                except Exception:  # a bug here must not end intake; the batch stays unacked
                    self.counters.inc("pipeline_errors")
                    log.exception("MQTT decoder failed on a batch")
                    continue
                if prepared is not None:
                    self._hand_over(prepared)
                elif self._stop.is_set():
                    return
        finally:
            self._hand_over(None)

    def _hand_over(self, item: Prepared | None) -> None:
        while not self._writer_done.is_set():
            try:
                self._prepared.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _write_loop(self) -> None:
        try:
            while True:
                item = self._prepared.get()
                if item is None:
                    return
                try:
                    if not self.writer.commit(item):
                        return  # stopping while the store is down: leave the rest unacked
                    self.batches.known.update(m.device for m in item.metas)
                except Exception:  # a bug here must not end intake; the batch stays unacked
                    self.counters.inc("pipeline_errors")
                    log.exception("MQTT writer failed on a batch of %d messages", len(item.batch))
        finally:
            self._writer_done.set()
