"""Where telemetry and state live. SQLite is the embedded default; InfluxDB is for production.

Secrets (InfluxDB token, 1.x password) are never in the file: the file names the environment
variables that hold them, and they are read when the store connects.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class InfluxSettings(BaseModel):
    """InfluxDB connection. ``api: v2`` writes to ``/api/v2/write`` (InfluxDB 2.x, 3.x and 1.8+);
    ``api: v1`` writes to ``/write`` (older 1.x). Both read with InfluxQL on ``/query``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field("http://127.0.0.1:8086", description="Base URL of the InfluxDB HTTP API")
    api: Literal["v2", "v1"] = "v2"
    org: str | None = Field(None, description="v2: organisation name")
    bucket: str = Field("minewatch", min_length=1, description="v2: bucket to write to")
    token_env: str | None = Field(
        "INFLUX_TOKEN", description="v2: environment variable holding the API token"
    )
    database: str = Field(
        "minewatch",
        min_length=1,
        description="InfluxQL database (v1: written to; v2: the DBRP mapping name for reads)",
    )
    retention_policy: str | None = Field(
        None,
        description="InfluxQL retention policy; v1 default: the database's default policy; v2: "
        "'autogen'",
    )
    username: str | None = Field(None, description="v1: user name")
    password_env: str | None = Field(
        None, description="v1: environment variable holding the password"
    )
    create: bool = Field(
        True,
        description="Create the database/bucket, retention and DBRP mapping at start-up "
        "when missing",
    )
    batch_lines: int = Field(
        5000,
        ge=1,
        le=100_000,
        description="Lines per write request (InfluxDB recommends 5,000-10,000)",
    )
    gzip: bool = True
    timeout_s: float = Field(10.0, gt=0, le=300)
    max_retries: int = Field(
        3, ge=0, le=20, description="Retries of a request answered 429/503 before spooling"
    )
    retry_max_wait_s: float = Field(30.0, ge=0, description="Cap on a server's Retry-After")

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {v!r}")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _v2_needs_org(self) -> InfluxSettings:
        if self.api == "v2" and not self.org:
            raise ValueError("api v2 needs 'org' (the InfluxDB organisation name)")
        return self

    def token(self) -> str | None:
        """Read at connect time so the token never sits in config objects or logs."""
        return os.environ.get(self.token_env) if self.token_env else None

    def password(self) -> str | None:
        return os.environ.get(self.password_env) if self.password_env else None


class StorageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["sqlite", "influxdb"] = "sqlite"
    data_dir: str = Field(
        "data", description="Folder for SQLite files and the spool; relative to the config file"
    )
    retention_days: int = Field(400, ge=1)
    spool_max_mb: int = Field(
        512,
        ge=1,
        description="Size bound of the outage spool; when full, writes fail "
        "(MQTT then keeps the messages un-acknowledged)",
    )
    spool_retry_max_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Longest wait between replay attempts while the store is down",
    )
    influxdb: InfluxSettings = Field(default_factory=lambda: InfluxSettings(org="minewatch"))
