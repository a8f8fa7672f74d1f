"""Client side of the simulator's fault-control topic (used by ``minewatch sim-fault`` and the
demo)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def send_fault_command(
    host: str,
    port: int,
    control_topic: str,
    fault: str,
    target: str | None,
    action: str,
    timeout_s: float = 10.0,
) -> dict[str, Any] | None:
    """Publish one command and return the simulator's reply, or None if none came in time."""
    reply: list[dict[str, Any]] = []
    got = threading.Event()
    subscribed = threading.Event()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"minewatch-sim-fault-{uuid.uuid4().hex[:8]}"
    )

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            reply.append(orjson.loads(msg.payload))
            got.set()
        except orjson.JSONDecodeError:
            pass

    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_connect = lambda c, *_: c.subscribe(f"{control_topic}/result", qos=1)
    client.connect(host, port)
    client.loop_start()
    try:
        if not subscribed.wait(timeout_s):
            return None
        cmd = {"fault": fault, "target": target, "action": action}
        client.publish(control_topic, orjson.dumps(cmd), qos=1).wait_for_publish(timeout_s)
        return reply[0] if got.wait(timeout_s) else None
    finally:
        client.disconnect()
        client.loop_stop()
