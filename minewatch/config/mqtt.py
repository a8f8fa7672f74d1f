"""MQTT connection and device groups (topic patterns → device profile)."""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from minewatch.payload_path import parse_path


class MqttSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = Field(
        None, description="Client certificate (PEM) for brokers that require one; needs tls"
    )
    key_file: str | None = Field(None, description="Private key of cert_file (PEM, unencrypted)")
    username: str | None = None
    password_env: str | None = Field(
        None, description="Name of the environment variable holding the password"
    )
    client_id: str = Field(
        "minewatch-collector", min_length=1, description="Fixed: persistent sessions need it"
    )
    qos: Literal[0, 1, 2] = 1
    protocol: Literal["3.1.1", "5"] = "5"
    session_expiry_s: int = Field(
        3600, gt=0, description="MQTT 5 session expiry; must be > 0 to keep the session"
    )
    keepalive_s: int = Field(30, ge=5)
    shared_group: str | None = Field(
        None,
        pattern=r"^[^/+#$]+$",
        description="Subscribe as $share/<group>/... (MQTT 5) so several collectors split the load",
    )
    queue_size: int = Field(
        10000, ge=100, description="Bounded hand-off queue between network thread and writer"
    )
    batch_max: int = Field(
        2000, ge=1, description="Most messages decoded and written in one store transaction"
    )
    batch_wait_ms: int = Field(
        200, ge=1, description="Longest wait to fill a batch before writing what is there"
    )
    reconnect_min_s: int = Field(
        1, ge=1, description="First reconnect delay; doubles up to reconnect_max_s"
    )
    reconnect_max_s: int = Field(60, ge=1)
    max_payload_bytes: int = Field(
        262144, gt=0, description="Hard cap checked before parsing; profiles may set a lower one"
    )
    max_future_s: int = Field(
        300, ge=0, description="Reject samples stamped further than this in the future"
    )
    max_past_s: int = Field(
        7 * 86400, gt=0, description="Reject samples stamped further than this in the past"
    )
    reject_buffer: int = Field(
        100, ge=0, description="How many raw rejected payloads to keep for inspection"
    )

    @model_validator(mode="after")
    def _consistent(self) -> MqttSettings:
        """Every cross-field mistake at once (joined in one message), not the first one found."""
        problems = []
        if self.reconnect_max_s < self.reconnect_min_s:
            problems.append(
                f"reconnect_max_s {self.reconnect_max_s} must be >= "
                f"reconnect_min_s {self.reconnect_min_s}"
            )
        if self.shared_group and self.protocol != "5":
            problems.append(
                "shared_group needs protocol '5' (shared subscriptions are an MQTT 5 feature)"
            )
        for name in ("ca_file", "cert_file", "key_file"):
            if getattr(self, name) and not self.tls:
                problems.append(f"{name} is set but tls is false")
        if bool(self.cert_file) != bool(self.key_file):
            problems.append("cert_file and key_file go together: set both or neither")
        if self.password_env and not self.username:
            problems.append("password_env is set but username is not")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def password(self) -> str | None:
        """The password, read from the environment at use time so it never sits in config or
        logs."""
        return os.environ.get(self.password_env) if self.password_env else None


class DeviceGroup(BaseModel):
    """Devices whose telemetry arrives on topics matching ``topic`` and decodes with ``profile``.

    ``topic`` is an MQTT filter where exactly one level is ``{device}``, e.g.
    ``site/hall1/rigs/{device}/status``; ``+`` and a trailing ``#`` are allowed elsewhere.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    topic: str
    profile: str | None = Field(
        None,
        description="Device profile id for every device of the group; if absent, the registry's "
        "model",
    )
    model_path: str | None = Field(
        None,
        description="Payload path naming the profile id, used for devices missing from the "
        "registry "
        "so that an unregistered rig is still recorded (and flagged by the analyzer)",
    )
    role: str | None = Field(
        None,
        pattern=r"^[a-z][a-z_]*$",
        description="Role of the group's devices (rig, hall_sensor, ...); default from the profile "
        "kind",
    )
    expected_interval_s: float | None = Field(
        None,
        gt=0,
        le=86400,
        description="How often each device of the group reports; the analyzer's staleness rules "
        "(`interval: device`) use it. Absent: the cadence observed in the telemetry",
    )

    @field_validator("topic")
    @classmethod
    def _one_device_level(cls, v: str) -> str:
        if v.startswith("$"):
            raise ValueError(
                "topic must not start with '$' (use mqtt.shared_group for $share subscriptions)"
            )
        levels = v.split("/")
        if levels.count("{device}") != 1:
            raise ValueError("topic must contain exactly one level that is '{device}'")
        if "#" in levels[:-1] or any(
            ("#" in lv or "+" in lv) and lv not in ("#", "+") for lv in levels
        ):
            raise ValueError("'+' must be a whole level and '#' only the last level")
        return v

    @field_validator("model_path")
    @classmethod
    def _model_path(cls, v: str | None) -> str | None:
        if v is not None:
            parse_path(v)
        return v

    def subscription(self) -> str:
        return self.topic.replace("{device}", "+")

    def matcher(self) -> re.Pattern[str]:
        parts = []
        for lv in self.topic.split("/"):
            if lv == "{device}":
                parts.append("(?P<device>[^/]+)")
            elif lv == "+":
                parts.append("[^/]+")
            elif lv == "#":
                parts.append(".*")
            else:
                parts.append(re.escape(lv))
        return re.compile("^" + "/".join(parts) + "$")
