"""A batch of MQTT messages on its way to the store: decoded into samples, written, acknowledged.

Decoding and writing are separate steps run by separate threads (see ``minewatch.collector.mqtt``),
so each lives in its own class: ``BatchDecoder`` turns messages into samples and device metadata,
``BatchWriter`` writes them, retrying while the store is down, and only then acknowledges.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from minewatch.collector.decode import Decoded, PayloadDecoder, Reject
from minewatch.collector.mqtt_intake import Inbound
from minewatch.collector.registry_watch import RegistryWatcher
from minewatch.collector.rejects import RejectTracker
from minewatch.counters import Counters
from minewatch.errors import StoreUnavailable
from minewatch.sample import NS_PER_S, BatchBuilder, DeviceMeta, SampleBatch, now_ns
from minewatch.store import TelemetryStore

log = logging.getLogger("minewatch.collector.mqtt")

#: Longest wait between write attempts while the store is down: how late catching up may start once
#: it is back (a retry costs one failed transaction, so a short wait is cheap).
RETRY_MAX_S = 5.0

#: Role of a device when its group names none: compliance rules select devices by role.
ROLE_BY_KIND = {
    "asic_miner": "rig",
    "env_sensor": "hall_sensor",
    "pdu": "rack_pdu",
    "cooling": "cooling",
    "fire_panel": "fire_panel",
}


@dataclass(slots=True)
class Prepared:
    """A decoded batch waiting to be written and acknowledged."""

    batch: list[Inbound]
    samples: SampleBatch
    metas: list[DeviceMeta]


class BatchDecoder:
    """Decodes batches; records each device's metadata (zone, rack, model, role) once, and again
    after its registry entry changed."""

    def __init__(
        self,
        decoder: PayloadDecoder,
        registry: RegistryWatcher,
        rejects: RejectTracker,
        counters: Counters,
    ) -> None:
        self.decoder = decoder
        self.registry = registry
        #: Devices whose metadata is in the store (updated by the writer once it is written).
        self.known: set[str] = set()
        self._rejects = rejects
        self._counters = counters

    def prepare(self, chunks: Iterable[list[Inbound]]) -> Prepared | None:
        """Decode a batch chunk by chunk as the intake yields it (see ``IntakeQueue.chunks``);
        None when it yielded nothing."""
        samples = BatchBuilder()
        metas: dict[str, DeviceMeta] = {}
        batch: list[Inbound] = []
        for chunk in chunks:
            if not batch:  # the first message is here: decode it with the registry as it is now
                self._follow_registry()
            batch += chunk
            for item in chunk:
                decoded = self._decode(item)
                if decoded is None or not decoded.values:
                    continue
                samples.add(decoded.device, decoded.ts, decoded.metrics, decoded.values)
                if decoded.device not in self.known and decoded.profile:
                    metas[decoded.device] = self._meta(decoded)
        if not batch:
            return None
        self._counters.inc("received", len(batch))
        return Prepared(batch, samples.build(), list(metas.values()))

    def _follow_registry(self) -> None:
        changed = self.registry.reload_if_changed()
        if changed:
            self.decoder.registry = self.registry.registry
            self.known -= changed  # their metadata is recorded again on the next message

    def _decode(self, item: Inbound) -> Decoded | None:
        try:
            decoded = self.decoder.decode(item.topic, item.payload, item.received_ns)
        except Exception as exc:
            # a decoder bug: acknowledge (redelivery would fail the same way), keep the bytes
            log.exception("decoding a message on %s failed", item.topic)
            reject = Reject("internal_error", "", "", f"{type(exc).__name__}: {exc}")
            self._rejects.record(reject, item.topic)
            self._rejects.keep_raw(reject, item.topic, item.payload, item.received_ns)
            return None
        for r in decoded.rejects:
            self._rejects.record(r, item.topic)
        if decoded.unparseable:
            self._rejects.keep_raw(decoded.rejects[0], item.topic, item.payload, item.received_ns)
        return decoded

    def _meta(self, decoded: Decoded) -> DeviceMeta:
        profile = decoded.profile
        assert profile is not None
        entry = self.registry.registry.get(decoded.device)
        role = (decoded.group.role if decoded.group else None) or ROLE_BY_KIND.get(
            profile.kind.value, ""
        )
        return DeviceMeta(
            decoded.device,
            kind=profile.kind.value,
            model=profile.id,
            zone=entry.zone if entry else "",
            rack=entry.rack if entry else "",
            role=role,
        )


class BatchWriter:
    """Writes a prepared batch, then acknowledges it through ``ack``; a batch that is not durably
    written is never acknowledged, so the broker redelivers it after a crash or an outage."""

    def __init__(
        self,
        store: TelemetryStore,
        ack: Callable[[Sequence[Inbound]], int],
        counters: Counters,
        stopping: threading.Event,
    ) -> None:
        self.store = store
        self.lag_s: float | None = None
        self.last_write_ns: int | None = None
        self._ack = ack
        self._counters = counters
        self._stopping = stopping

    def commit(self, item: Prepared) -> bool:
        """Write, then ack. False when the store could not take the batch before stop()."""
        if not self._write(item.samples, item.metas):
            return False
        self._counters.inc("batches")
        self._counters.inc("stored_samples", len(item.samples))
        if len(item.samples):
            self.last_write_ns = now_ns()
            self.lag_s = (self.last_write_ns - int(item.samples.ts.max())) / NS_PER_S
        self._counters.inc("acked", self._ack(item.batch))
        return True

    def _write(self, samples: SampleBatch, metas: list[DeviceMeta]) -> bool:
        """Retry until written or stopping. The outage is logged once when it starts (with the
        store's reason: path, free space) and once when it ends, not on every retry."""
        delay = 0.2
        down_since: float | None = None
        while True:
            try:
                if metas:
                    self.store.upsert_devices(metas)
                self.store.write(samples)
                if down_since is not None:
                    log.warning(
                        "store writable again after %.0f s; acknowledging resumes",
                        time.monotonic() - down_since,
                    )
                return True
            except StoreUnavailable as exc:
                self._counters.inc("store_errors")
                if down_since is None:
                    log.error(
                        "store unavailable, messages stay unacknowledged (retrying every %.0f s at "
                        "most): %s",
                        RETRY_MAX_S,
                        exc,
                    )
            except Exception:
                self._counters.inc("store_errors")
                if down_since is None:
                    log.exception(
                        "store write failed, messages stay unacknowledged (retrying with backoff)"
                    )
            if down_since is None:
                down_since = time.monotonic()
            if self._stopping.wait(delay):
                return False
            delay = min(delay * 2, RETRY_MAX_S)
