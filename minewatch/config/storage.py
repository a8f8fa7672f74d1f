"""Where telemetry and state live. SQLite is the embedded default; InfluxDB is for production (#4)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class InfluxSettings(BaseModel):
    """InfluxDB connection (#4 completes this). Secrets come from environment variables named here."""

    model_config = ConfigDict(extra="forbid")

    url: str = "http://127.0.0.1:8086"
    api: Literal["v2", "v1"] = "v2"
    org: str | None = None
    bucket: str = "minewatch"
    token_env: str | None = "INFLUX_TOKEN"
    database: str = "minewatch"
    retention_policy: str | None = None
    username: str | None = None
    password_env: str | None = None


class StorageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["sqlite", "influxdb"] = "sqlite"
    data_dir: str = Field("data", description="Folder for SQLite files and the spool; relative to the config file")
    retention_days: int = Field(400, ge=1)
    spool_max_mb: int = Field(512, ge=1)
    influxdb: InfluxSettings = Field(default_factory=InfluxSettings)
