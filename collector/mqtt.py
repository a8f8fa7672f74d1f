"""The MQTT collector: subscribe, decode by profile, write, and only then acknowledge.

Threads and why:
- paho's network thread (``loop_start``) only puts each message into a bounded queue. Any work there
  delays keepalives for every message, and an exception there kills the thread silently unless
  ``suppress_exceptions`` is set (paho-mqtt ``Client.suppress_exceptions``, default False; seen on
  paho-mqtt 2.2.0) — both are handled here.
- a decoder thread drains the queue in batches and decodes them; a writer thread writes each batch
  to the store in one call and then sends the PUBACKs (``manual_ack``). Two threads, because SQLite
  and network writes release the GIL: batch N+1 decodes while batch N is written. A message whose
  samples are not durably written is never acknowledged, so after a crash or a store outage the
  broker redelivers it; the store's key (device, metric, ts) makes the redelivery a no-op.

Flow control comes from MQTT itself: with QoS 1 the broker stops sending once ``Receive Maximum``
(MQTT 5) / its ``max_inflight_messages`` messages are unacknowledged, so a slow store slows the
broker, not memory.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from minewatch.collector.decode import Decoded, PayloadDecoder, Reject
from minewatch.collector.rejects import RejectTracker
from minewatch.config.facility import FacilityConfig
from minewatch.configfile import ConfigError
from minewatch.counters import Counters
from minewatch.profiles import DeviceProfile
from minewatch.registry import RegistryEntry, load_registry
from minewatch.sample import NS_PER_S, DeviceMeta, Sample, now_ns
from minewatch.store import StoreUnavailable, TelemetryStore

log = logging.getLogger(__name__)

#: Role of a device when its group names none: compliance rules select devices by role.
ROLE_BY_KIND = {
    "asic_miner": "rig",
    "env_sensor": "hall_sensor",
    "pdu": "rack_pdu",
    "cooling": "cooling",
    "fire_panel": "fire_panel",
}
#: A batch closes when no message arrived for this long (the broker sends in bursts of its in-flight
#: window and waits for our acks, so waiting the full batch_wait_ms would only add latency).
_IDLE_GAP_S = 0.005
#: How often the registry file's modification time is checked.
REGISTRY_CHECK_S = 10.0


class _Inbound(NamedTuple):  # a tuple: built once per message on the network thread, so kept cheap
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_ns: int
    generation: int  # connection the message came on; acks are only valid on that connection


@dataclass(slots=True)
class _Prepared:
    """A decoded batch waiting to be written and acknowledged."""

    batch: list[_Inbound]
    samples: list[Sample]
    metas: list[DeviceMeta]


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
        self.cfg = cfg
        self.settings = cfg.mqtt
        self.store = store
        self.profiles = profiles
        self.registry = registry
        self._registry_path = cfg.path(cfg.registry) if cfg.registry else None
        self._registry_mtime = self._mtime()
        self._registry_checked = time.monotonic()
        s = self.settings
        self.decoder = decoder or PayloadDecoder(
            cfg.device_groups,
            profiles,
            registry,
            max_payload_bytes=s.max_payload_bytes,
            max_future_s=s.max_future_s,
            max_past_s=s.max_past_s,
        )
        self.counters = Counters()
        self.rejects = RejectTracker(self.counters, log, keep=s.reject_buffer)
        self._queue: queue.Queue[_Inbound] = queue.Queue(maxsize=s.queue_size)
        self._known: set[str] = set()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._generation = 0
        self._client: mqtt.Client | None = None
        self._prepared: queue.Queue[_Prepared | None] = queue.Queue(maxsize=2)
        self._decoder_thread: threading.Thread | None = None
        self._writer: threading.Thread | None = None
        self._writer_done = threading.Event()
        self._lag_s: float | None = None
        self._last_write_ns: int | None = None
        self._drain_deadline = 0.0

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._writer is not None:
            return
        self._stop.clear()
        self._client = self._make_client()
        self._writer_done.clear()
        self._decoder_thread = threading.Thread(
            target=self._decode_loop, name="minewatch-mqtt-decoder", daemon=True
        )
        self._writer = threading.Thread(
            target=self._write_loop, name="minewatch-mqtt-writer", daemon=True
        )
        self._decoder_thread.start()
        self._writer.start()
        s = self.settings
        if s.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = s.session_expiry_s
            props.ReceiveMaximum = min(65535, s.queue_size)
            self._client.connect_async(
                s.host, s.port, s.keepalive_s, clean_start=False, properties=props
            )
        else:
            self._client.connect_async(s.host, s.port, s.keepalive_s)
        self._client.loop_start()
        log.info("MQTT collector connecting to %s:%d as %r", s.host, s.port, s.client_id)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Idempotent. Drains the queue (write + ack), then disconnects; unacked messages stay with
        the broker."""
        decoder, writer, client = self._decoder_thread, self._writer, self._client
        if decoder is None or writer is None or client is None:
            return
        self._drain_deadline = time.monotonic() + min(5.0, timeout_s / 2)
        self._stop.set()
        decoder.join(timeout_s)
        writer.join(timeout_s)
        client.disconnect()
        client.loop_stop()
        self._decoder_thread = self._writer = self._client = None
        self._connected.clear()
        self._subscribed.clear()

    def wait_ready(self, timeout_s: float) -> bool:
        """True once connected and the broker confirmed the subscriptions."""
        return self._subscribed.wait(timeout_s)

    def stats(self) -> dict[str, Any]:
        snap: dict[str, Any] = self.counters.snapshot()
        for key in ("received", "stored_samples", "acked", "batches", "store_errors"):
            snap.setdefault(key, 0)
        snap.setdefault("rejected_total", {})
        snap.update(
            connected=self._connected.is_set(),
            queue_depth=self._queue.qsize(),
            queue_capacity=self.settings.queue_size,
            lag_s=self._lag_s,
            last_write_ns=self._last_write_ns,
            devices_seen=len(self._known),
            recent_rejects=self.rejects.recent(10),
        )
        return snap

    # -- paho side (network thread: enqueue only) ----------------------------------------------
    def _make_client(self) -> mqtt.Client:
        s = self.settings
        v5 = s.protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            clean_session=None if v5 else False,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            manual_ack=True,
        )
        client.suppress_exceptions = True
        client.reconnect_delay_set(s.reconnect_min_s, s.reconnect_max_s)
        if s.username:
            password = s.password()
            if s.password_env and password is None:
                raise RuntimeError(
                    f"mqtt.password_env: environment variable {s.password_env} is not set"
                )
            client.username_pw_set(s.username, password)
        if s.tls:
            client.tls_set(ca_certs=str(self.cfg.path(s.ca_file)) if s.ca_file else None)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _subscriptions(self) -> list[str]:
        topics = [g.subscription() for g in self.cfg.device_groups]
        if self.settings.shared_group:
            topics = [f"$share/{self.settings.shared_group}/{t}" for t in topics]
        return topics

    def _on_connect(
        self, client: mqtt.Client, _u: Any, flags: Any, reason_code: Any, _p: Any
    ) -> None:
        if reason_code.is_failure:
            self.counters.inc("connect_failures")
            log.error(
                "MQTT broker %s:%d refused the connection: %s",
                self.settings.host,
                self.settings.port,
                reason_code,
            )
            return
        self._generation += 1
        self.counters.inc("connects")
        # Subscribing again is harmless when the session survived (the broker replaces the
        # subscription and keeps the queued messages) and picks up groups added since.
        qos = self.settings.qos
        topics = self._subscriptions()
        if self.settings.protocol == "5":
            opts = SubscribeOptions(qos=qos, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
            client.subscribe([(t, opts) for t in topics])
        else:
            client.subscribe([(t, qos) for t in topics])
        log.info(
            "MQTT connected (session %s); subscribing to %s",
            "resumed" if flags.session_present else "new",
            ", ".join(topics),
        )
        self._connected.set()

    def _on_subscribe(
        self, _c: mqtt.Client, _u: Any, _mid: int, reason_codes: list, _p: Any
    ) -> None:
        for rc in reason_codes:
            if rc.is_failure:
                self.counters.inc("subscribe_failures")
                log.error("MQTT subscription refused: %s", rc)
                return
        log.info("MQTT subscriptions confirmed; collecting")
        self._subscribed.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        self._connected.clear()
        self._subscribed.clear()
        if not self._stop.is_set():
            self.counters.inc("disconnects")
            log.warning("MQTT disconnected (%s); reconnecting with backoff", reason_code)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        item = _Inbound(msg.mid, msg.qos, msg.topic, msg.payload, now_ns(), self._generation)
        while True:
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                self.counters.inc("queue_full_waits")
                if self._stop.is_set():
                    return  # not acked: the broker redelivers it to the next session

    # -- decoder and writer threads ------------------------------------------------------------
    def _decode_loop(self) -> None:
        try:
            while not self._writer_done.is_set():
                if self._stop.is_set() and time.monotonic() > self._drain_deadline:
                    return  # what is still queued stays unacked: the broker redelivers it
                batch = self._take_batch()
                if batch:
                    try:
                        prepared = self._prepare(batch)
                    except Exception:  # a bug here must not end intake; the batch stays unacked
                        self.counters.inc("pipeline_errors")
                        log.exception("MQTT decoder failed on a batch of %d messages", len(batch))
                        continue
                    self._hand_over(prepared)
                elif self._stop.is_set():
                    return
        finally:
            self._hand_over(None)

    def _hand_over(self, item: _Prepared | None) -> None:
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
                    if not self._commit(item):
                        return  # stopping while the store is down: leave the rest unacked
                except Exception:  # a bug here must not end intake; the batch stays unacked
                    self.counters.inc("pipeline_errors")
                    log.exception("MQTT writer failed on a batch of %d messages", len(item.batch))
        finally:
            self._writer_done.set()

    def _take_batch(self) -> list[_Inbound]:
        try:
            first = self._queue.get(timeout=0.1)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.settings.batch_wait_ms / 1000
        while len(batch) < self.settings.batch_max:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=min(left, _IDLE_GAP_S)))
            except queue.Empty:
                break
        return batch

    def _mtime(self) -> float | None:
        try:
            return self._registry_path.stat().st_mtime if self._registry_path else None
        except OSError:
            return None

    def _maybe_reload_registry(self) -> None:
        """Pick up registry edits (rigs added or moved) without a restart. A broken file is logged
        and the previous registry kept: the operator's typo must not stop collection."""
        if (
            self._registry_path is None
            or time.monotonic() - self._registry_checked < REGISTRY_CHECK_S
        ):
            return
        self._registry_checked = time.monotonic()
        mtime = self._mtime()
        if mtime == self._registry_mtime:
            return
        self._registry_mtime = mtime
        try:
            fresh = load_registry(self._registry_path, set(self.profiles))
        except ConfigError as exc:
            self.counters.inc("registry_reload_errors")
            log.error(
                "registry %s changed but is invalid; keeping the previous one:\n%s",
                self._registry_path,
                exc,
            )
            return
        changed = {
            s for s in fresh.keys() | self.registry.keys() if fresh.get(s) != self.registry.get(s)
        }
        self.registry = self.decoder.registry = fresh
        self._known -= (
            changed  # their metadata (zone, rack, model) is recorded again on the next message
        )
        self.counters.inc("registry_reloads")
        log.info(
            "registry %s reloaded: %d devices, %d changed",
            self._registry_path,
            len(fresh),
            len(changed),
        )

    def _prepare(self, batch: list[_Inbound]) -> _Prepared:
        self._maybe_reload_registry()
        samples: list[Sample] = []
        metas: dict[str, DeviceMeta] = {}
        self.counters.inc("received", len(batch))
        for item in batch:
            decoded = self._decode(item)
            if decoded is None:
                continue
            samples.extend(decoded.samples)
            if (
                decoded.samples
                and decoded.device not in self._known
                and decoded.profile is not None
            ):
                metas[decoded.device] = self._meta(decoded)
        return _Prepared(batch, samples, list(metas.values()))

    def _commit(self, item: _Prepared) -> bool:
        """Write, then ack. False when the store could not take the batch before stop()."""
        if not self._write(item.samples, item.metas):
            return False
        self._known.update(m.device for m in item.metas)
        self.counters.inc("batches")
        self.counters.inc("stored_samples", len(item.samples))
        if item.samples:
            self._last_write_ns = now_ns()
            self._lag_s = (self._last_write_ns - max(s.ts for s in item.samples)) / NS_PER_S
        self._ack(item.batch)
        return True

    def _decode(self, item: _Inbound) -> Decoded | None:
        try:
            decoded = self.decoder.decode(item.topic, item.payload, item.received_ns)
        except (
            Exception
        ) as exc:  # a decoder bug: acknowledge (redelivery would fail the same way), keep the bytes
            log.exception("decoding a message on %s failed", item.topic)
            reject = Reject("internal_error", "", "", f"{type(exc).__name__}: {exc}")
            self.rejects.record(reject, item.topic)
            self.rejects.keep_raw(reject, item.topic, item.payload, item.received_ns)
            return None
        for r in decoded.rejects:
            self.rejects.record(r, item.topic)
        if decoded.unparseable:
            self.rejects.keep_raw(decoded.rejects[0], item.topic, item.payload, item.received_ns)
        return decoded

    def _meta(self, decoded: Decoded) -> DeviceMeta:
        profile = decoded.profile
        assert profile is not None
        entry = self.registry.get(decoded.device)
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

    def _write(self, samples: list[Sample], metas: list[DeviceMeta]) -> bool:
        delay = 0.2
        while True:
            try:
                if metas:
                    self.store.upsert_devices(metas)
                self.store.write(samples)
                return True
            except StoreUnavailable as exc:
                self.counters.inc("store_errors")
                log.warning(
                    "store unavailable, retrying in %.1f s (messages stay unacknowledged): %s",
                    delay,
                    exc,
                )
            except Exception:
                self.counters.inc("store_errors")
                log.exception(
                    "store write failed, retrying in %.1f s (messages stay unacknowledged)", delay
                )
            if self._stop.wait(delay):
                return False
            delay = min(delay * 2, 30.0)

    def _ack(self, batch: list[_Inbound]) -> None:
        client, gen = self._client, self._generation
        if client is None:
            return
        acked = 0
        for item in batch:
            if (
                item.qos > 0
                and item.generation == gen
                and client.ack(item.mid, item.qos) == mqtt.MQTT_ERR_SUCCESS
            ):
                acked += 1
        self.counters.inc("acked", acked)
