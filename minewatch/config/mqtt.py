"""MQTT connection and device groups (topic patterns → device profile)."""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class MqttSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    tls: bool = False
    ca_file: str | None = None
    username: str | None = None
    password_env: str | None = Field(None, description="Name of the environment variable holding the password")
    client_id: str = Field("minewatch-collector", min_length=1, description="Fixed: persistent sessions need it")
    qos: Literal[0, 1, 2] = 1
    protocol: Literal["3.1.1", "5"] = "5"
    session_expiry_s: int = Field(3600, gt=0, description="MQTT 5 session expiry; must be > 0 to keep the session")
    keepalive_s: int = Field(30, ge=5)
    shared_group: str | None = Field(None, description="Subscribe as $share/<group>/... to split load over collectors")
    queue_size: int = Field(10000, ge=100, description="Bounded hand-off queue between network thread and writer")
    batch_max: int = Field(2000, ge=1)
    batch_wait_ms: int = Field(200, ge=1)

    def password(self) -> str | None:
        """The password, read from the environment at use time so it never sits in config or logs."""
        return os.environ.get(self.password_env) if self.password_env else None


class DeviceGroup(BaseModel):
    """Devices whose telemetry arrives on topics matching ``topic`` and decodes with ``profile``.

    ``topic`` is an MQTT filter where exactly one level is ``{device}``, e.g.
    ``site/hall1/rigs/{device}/status``; ``+`` and a trailing ``#`` are allowed elsewhere.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    topic: str
    profile: str | None = Field(None, description="Device profile id; if absent, taken from the registry by serial")

    @field_validator("topic")
    @classmethod
    def _one_device_level(cls, v: str) -> str:
        levels = v.split("/")
        if levels.count("{device}") != 1:
            raise ValueError("topic must contain exactly one level that is '{device}'")
        if "#" in levels[:-1] or any(("#" in lv or "+" in lv) and lv not in ("#", "+") for lv in levels):
            raise ValueError("'+' must be a whole level and '#' only the last level")
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
