"""The collector's MQTT session: connect, subscribe, hand each message to the intake, acknowledge.

paho runs its own network thread; the callbacks here only count, log and enqueue. Each connection
gets a generation number, because a PUBACK is only valid on the connection its message came on:
after a reconnect the broker redelivers what was not acknowledged, and acking the old message id
there could acknowledge a different message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from minewatch.collector.mqtt_intake import Inbound, IntakeQueue
from minewatch.config.facility import FacilityConfig
from minewatch.counters import Counters
from minewatch.errors import ConfigError
from minewatch.sample import now_ns

log = logging.getLogger("minewatch.collector.mqtt")


def new_client(
    cfg: FacilityConfig, client_id: str, *, manual_ack: bool = False, keep_session: bool = True
) -> mqtt.Client:
    """A paho client for the configured broker: protocol, session, credentials, TLS. Shared by the
    collector's session and ``check-config --broker``'s probe. (MQTT 5 chooses to keep the session
    at connect time, with clean_start and the session expiry.)"""
    s = cfg.mqtt
    v5 = s.protocol == "5"
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=None if v5 else not keep_session,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        manual_ack=manual_ack,
    )
    if s.username:
        password = s.password()
        if s.password_env and password is None:
            raise ConfigError(
                [f"mqtt.password_env: environment variable {s.password_env} is not set"]
            )
        client.username_pw_set(s.username, password)
    if s.tls:
        client.tls_set(
            ca_certs=str(cfg.path(s.ca_file)) if s.ca_file else None,
            certfile=str(cfg.path(s.cert_file)) if s.cert_file else None,
            keyfile=str(cfg.path(s.key_file)) if s.key_file else None,
        )
    return client


class BrokerSession:
    def __init__(
        self,
        cfg: FacilityConfig,
        intake: IntakeQueue,
        counters: Counters,
        stopping: threading.Event,
    ) -> None:
        self.cfg = cfg
        self.settings = cfg.mqtt
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._intake = intake
        self._counters = counters
        self._stopping = stopping
        self._generation = 0
        self._client: mqtt.Client | None = None

    def connect(self) -> None:
        """Returns at once; paho connects (and reconnects, with backoff) in its network thread."""
        s = self.settings
        self._client = client = self._make_client()
        if s.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = s.session_expiry_s
            props.ReceiveMaximum = min(65535, s.queue_size)
            client.connect_async(s.host, s.port, s.keepalive_s, clean_start=False, properties=props)
        else:
            client.connect_async(s.host, s.port, s.keepalive_s)
        client.loop_start()
        log.info("MQTT collector connecting to %s:%d as %r", s.host, s.port, s.client_id)

    def disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
        self.connected.clear()
        self.subscribed.clear()

    def ack(self, batch: Sequence[Inbound]) -> int:
        """Acknowledge what came on the current connection; the number acknowledged."""
        client, gen = self._client, self._generation
        if client is None:
            return 0
        return sum(
            1
            for item in batch
            if item.qos > 0
            and item.generation == gen
            and client.ack(item.mid, item.qos) == mqtt.MQTT_ERR_SUCCESS
        )

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client = new_client(self.cfg, s.client_id, manual_ack=True)
        client.suppress_exceptions = True
        client.reconnect_delay_set(s.reconnect_min_s, s.reconnect_max_s)
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
        self, client: mqtt.Client, _u: Any, flags: Any, reason_code: Any, props: Any
    ) -> None:
        if reason_code.is_failure:
            self._counters.inc("connect_failures")
            log.error(
                "MQTT broker %s:%d refused the connection: %s",
                self.settings.host,
                self.settings.port,
                reason_code,
            )
            return
        self._generation += 1
        self._counters.inc("connects")
        if self._generation == 1:
            self._check_broker_limits(props)
        # Subscribing again is harmless when the session survived (the broker replaces the
        # subscription and keeps the queued messages) and picks up groups added since.
        qos = self.settings.qos
        topics = self._subscriptions()
        if self.settings.protocol == "5":
            opts = SubscribeOptions(qos=qos, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
            client.subscribe([(t, opts) for t in topics])
        else:
            client.subscribe([(t, int(qos)) for t in topics])
        if self._generation > 1 and not flags.session_present:
            # We asked to keep the session (clean_start false / clean_session false), so "present =
            # false" on a reconnect means the broker forgot it: restarted without persistence, or
            # before its autosave, or the session expired.
            self._counters.inc("sessions_lost")
            log.warning(
                "MQTT broker %s:%d did not keep the session of %r (session present = false): "
                "messages published while disconnected were not queued and are lost unless the "
                "devices resend them; check the broker's persistence and autosave settings and "
                "mqtt.session_expiry_s (docs/reliability.md)",
                self.settings.host,
                self.settings.port,
                self.settings.client_id,
            )
        log.info(
            "MQTT connected (session %s); subscribing to %s",
            "resumed" if flags.session_present else "new",
            ", ".join(topics),
        )
        self.connected.set()

    def _check_broker_limits(self, props: Any) -> None:
        """Warn about what the broker's CONNACK says it will not do for us: a capped session expiry
        (an outage longer than that loses the queued messages) or a lower maximum QoS."""
        s = self.settings
        expiry = getattr(props, "SessionExpiryInterval", None)
        if s.protocol == "5" and expiry is not None and expiry < s.session_expiry_s:
            log.warning(
                "MQTT broker keeps the session only %d s (mqtt.session_expiry_s asks %d s): a "
                "collector outage longer than that loses the messages queued for it",
                expiry,
                s.session_expiry_s,
            )
        max_qos = getattr(props, "MaximumQoS", None)
        if max_qos is not None and max_qos < s.qos:
            log.warning(
                "MQTT broker supports QoS %d at most (mqtt.qos is %d): messages are neither "
                "queued nor redelivered while the collector is away or its store is down",
                max_qos,
                s.qos,
            )

    def _on_subscribe(
        self, _c: mqtt.Client, _u: Any, _mid: int, reason_codes: list[Any], _p: Any
    ) -> None:
        for rc in reason_codes:
            if rc.is_failure:
                self._counters.inc("subscribe_failures")
                log.error("MQTT subscription refused: %s", rc)
                return
        granted = min(rc.value for rc in reason_codes) if reason_codes else self.settings.qos
        if granted < self.settings.qos:
            self._counters.inc("qos_downgrades")
            log.warning(
                "MQTT broker granted QoS %d for a subscription asked at QoS %d: its messages are "
                "not acknowledged after storing and are lost if the collector or store is down "
                "(check the broker's max_qos)",
                granted,
                self.settings.qos,
            )
        log.info("MQTT subscriptions confirmed; collecting")
        self.subscribed.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        self.connected.clear()
        self.subscribed.clear()
        if not self._stopping.is_set():
            self._counters.inc("disconnects")
            log.warning("MQTT disconnected (%s); reconnecting with backoff", reason_code)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        payload = bytes(msg.payload)
        self._intake.put(Inbound(msg.mid, msg.qos, msg.topic, payload, now_ns(), self._generation))
