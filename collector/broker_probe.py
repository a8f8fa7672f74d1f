"""``minewatch check-config --broker``: what the configured broker does with the collector's data.

Mosquitto does not publish its settings, so the probe watches its behaviour instead, with a client
id of its own (``<client_id>-probe``: the collector's session must not be disturbed) on a topic of
its own: it keeps a session at the configured QoS, goes away, has one message published to it, and
comes back. A broker that grants a lower QoS, forgets the session or does not queue the message
would drop the collector's data the same way whenever the collector is away or its store is down.
What only a restart shows (``persistence``, ``autosave_interval``) and the queue limit
(``max_queued_messages``) cannot be observed without disturbing the broker; docs/configuration.md
lists them and the shipped deploy/mosquitto/mosquitto.conf sets them.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from minewatch.collector.mqtt_session import new_client
from minewatch.config.facility import FacilityConfig


class _Connection:
    """One probe connection: connect and wait for the CONNACK, subscribe, receive."""

    def __init__(self, cfg: FacilityConfig, client_id: str, keep: bool, timeout_s: float) -> None:
        self.cfg, self.timeout_s = cfg, timeout_s
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.received = threading.Event()
        self.session_present = False
        self.refused: str | None = None
        self.granted: list[int] = []
        self.client = new_client(cfg, client_id, keep_session=keep)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda *_: self.received.set()
        s = cfg.mqtt
        if s.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = s.session_expiry_s if keep else 0
            self.client.connect_async(
                s.host, s.port, s.keepalive_s, clean_start=not keep, properties=props
            )
        else:
            self.client.connect_async(s.host, s.port, s.keepalive_s)
        self.client.loop_start()

    def _on_connect(self, _c: Any, _u: Any, flags: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self.refused = str(rc)
        else:
            self.session_present = bool(flags.session_present)
        self.connected.set()

    def _on_subscribe(self, _c: Any, _u: Any, _m: int, codes: list[Any], _p: Any) -> None:
        self.granted = [c.value for c in codes]
        self.subscribed.set()

    def up(self) -> str | None:
        """None once connected; else why not."""
        s = self.cfg.mqtt
        if not self.connected.wait(self.timeout_s):
            return f"no answer from the MQTT broker at {s.host}:{s.port} in {self.timeout_s:g} s"
        if self.refused:
            return f"the MQTT broker at {s.host}:{s.port} refused the connection: {self.refused}"
        return None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def probe_broker(cfg: FacilityConfig, timeout_s: float = 5.0) -> list[str]:
    """Warnings about the broker (empty when it keeps sessions and queues at the configured QoS);
    the reason when it cannot be reached."""
    s = cfg.mqtt
    cid = f"{s.client_id}-probe"
    topic = f"minewatch/probe/{uuid.uuid4().hex}"
    findings: list[str] = []
    first = _Connection(cfg, cid, True, timeout_s)
    try:
        if why := first.up():
            return [why]
        first.client.subscribe(topic, qos=s.qos)
        if not first.subscribed.wait(timeout_s):
            return [f"the MQTT broker did not confirm a subscription to {topic}"]
        if min(first.granted) < s.qos:
            findings.append(
                f"the broker grants QoS {min(first.granted)} for a QoS {s.qos} subscription "
                "(max_qos?): messages are not kept for an absent or stalled collector"
            )
    finally:
        first.close()
    publisher = _Connection(cfg, f"{cid}-pub", False, timeout_s)
    try:
        if why := publisher.up():
            return [*findings, why]
        publisher.client.publish(topic, b"probe", qos=1).wait_for_publish(timeout_s)
    finally:
        publisher.close()
    again = _Connection(cfg, cid, True, timeout_s)
    try:
        if why := again.up():
            return [*findings, why]
        if not again.session_present:
            findings.append(
                "the broker did not keep the probe's session across a reconnect (session present "
                "= false): the collector's messages would be lost while it is away; check "
                "mqtt.session_expiry_s and the broker's persistent_client_expiration"
            )
        elif not again.received.wait(timeout_s):
            findings.append(
                "the broker kept the session but not the message published while the probe was "
                "away: check max_queued_messages (0 or large) and queue_qos0_messages"
            )
    finally:
        again.close()
    cleanup = _Connection(cfg, cid, False, timeout_s)  # drops the probe's session
    cleanup.up()
    cleanup.close()
    return findings
