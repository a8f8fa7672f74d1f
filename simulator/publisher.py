"""Publishes a ``SimFacility`` over MQTT like on-site agents would, and takes fault commands.

Control: publish ``{"fault": "overheat", "target": "<serial>", "action": "inject"}`` (or
``"clear"``) to the control topic (default ``minewatch/sim/fault``); the result, with the list of
active faults, comes back on ``<control topic>/result``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from minewatch.counters import Counters
from minewatch.errors import InvalidInput
from minewatch.simulator.facility import SimFacility
from minewatch.simulator.payloads import hall_payload, rig_payload

log = logging.getLogger(__name__)

DEFAULT_CONTROL_TOPIC = "minewatch/sim/fault"


def topics_for(facility_id: str) -> tuple[str, str]:
    """(rig topic template, hall sensor topic template) matching the demo's device groups."""
    return f"site/{facility_id}/rigs/{{}}/status", f"site/{facility_id}/env/{{}}"


def messages_at(facility: SimFacility, now_s: float, facility_id: str) -> list[tuple[str, bytes]]:
    """Step the facility to ``now_s`` and return every message due: one per online rig, one per
    hall."""
    rig_topic, env_topic = topics_for(facility_id)
    facility.step(now_s)
    rigs = list(facility.rigs)  # a fault command may add or remove a rig meanwhile (another thread)
    out = [
        (rig_topic.format(r.serial), orjson.dumps(rig_payload(r, now_s))) for r in rigs if r.online
    ]
    out += [
        (env_topic.format(h.sensor_id), orjson.dumps(hall_payload(h, now_s)))
        for h in facility.halls.values()
    ]
    return out


class SimPublisher:
    """``start()`` connects and publishes every ``interval_s``; ``stop()`` flushes and joins;
    ``stats()`` counts messages ``published`` (handed to paho) and ``delivered`` (confirmed by the
    broker; this includes the control topic's replies)."""

    def __init__(
        self,
        facility: SimFacility,
        host: str,
        port: int,
        *,
        facility_id: str = "demo",
        interval_s: float = 5.0,
        qos: int = 1,
        client_id: str = "minewatch-simulator",
        control_topic: str = DEFAULT_CONTROL_TOPIC,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.facility = facility
        self.host, self.port = host, port
        self.facility_id = facility_id
        self.interval_s = interval_s
        self.qos = qos
        self.control_topic = control_topic
        self.clock = clock
        self.counters = Counters()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.suppress_exceptions = True
        self.client.max_queued_messages_set(200_000)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self._ready.set()
        self.client.on_message = self._on_control
        self.client.on_publish = lambda *_: self.counters.inc("delivered")

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self.client.connect_async(self.host, self.port)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="minewatch-simulator", daemon=True)
        self._thread.start()

    def stop(self, flush_s: float = 10.0) -> None:
        """Stop publishing; wait up to ``flush_s`` for the broker to confirm what is queued, then
        disconnect."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(30)
        self._thread = None
        deadline = time.monotonic() + flush_s
        while (
            self.counters.get("delivered") < self.counters.get("published")
            and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        self.client.disconnect()
        self.client.loop_stop()

    def wait_ready(self, timeout_s: float) -> bool:
        """True once connected and subscribed to the control topic."""
        return self._ready.wait(timeout_s)

    def stats(self) -> dict[str, Any]:
        snap: dict[str, Any] = self.counters.snapshot()
        snap.update(
            rigs=len(self.facility.rigs),
            active_faults=self.facility.active_faults(),
            facility_power_w=round(self.facility.facility_power_w(), 1),
        )
        return snap

    def publish_once(self) -> int:
        """One round of messages at the current time; returns how many were queued."""
        sent = 0
        for topic, payload in messages_at(self.facility, self.clock(), self.facility_id):
            info = self.client.publish(topic, payload, qos=self.qos)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                sent += 1
            else:  # queue full or not connected: count it, the next round carries fresh values
                self.counters.inc("publish_errors", reason=mqtt.error_string(info.rc))
        self.counters.inc("published", sent)
        self.counters.inc("rounds")
        return sent

    def _run(self) -> None:
        self._ready.wait(30)
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.publish_once()
            except Exception:  # a bug in one round must not end the simulation
                self.counters.inc("round_errors")
                log.exception("simulator round failed")
            next_at += self.interval_s
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        if reason_code.is_failure:
            log.error("simulator: broker refused the connection: %s", reason_code)
            return
        client.subscribe(self.control_topic, qos=1)

    def _on_control(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        result: dict[str, Any]
        try:
            cmd = orjson.loads(msg.payload)
            if not isinstance(cmd, dict) or not isinstance(cmd.get("fault"), str):
                raise InvalidInput(
                    'expected {"fault": ..., "target": ..., "action": "inject"|"clear"}'
                )
            action, target = cmd.get("action", "inject"), cmd.get("target")
            if action == "inject":
                target = self.facility.inject(cmd["fault"], target)
            elif action == "clear":
                self.facility.clear(cmd["fault"], target)
            else:
                raise InvalidInput(f"action must be inject or clear, got {action!r}")
            result = {"ok": True, "fault": cmd["fault"], "target": target, "action": action}
            log.info("simulator: %s %s on %s", action, cmd["fault"], target or "facility")
        except (ValueError, KeyError, orjson.JSONDecodeError) as exc:
            result = {"ok": False, "error": str(exc.args[0]) if exc.args else str(exc)}
            log.warning("simulator: bad fault command %r: %s", msg.payload[:200], exc)
        result["active"] = self.facility.active_faults()
        client.publish(f"{self.control_topic}/result", orjson.dumps(result), qos=1)
