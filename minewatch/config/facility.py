"""The facility config file (facility.yaml): one model composed of per-concern sections."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from minewatch import resources
from minewatch.config.mqtt import DeviceGroup, MqttSettings
from minewatch.config.notify import NotifySettings
from minewatch.config.polling import PollingSettings
from minewatch.config.storage import StorageSettings


class FacilityInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = Field(min_length=1)
    commissioned: date | None = Field(
        None,
        description="Date the facility entered operation (facility time zone). Reports call time "
        "before it (or before the first telemetry, whichever is later) 'not in operation' and "
        "never substitute energy for it",
    )


class Licence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=1)
    capacity_kw: float = Field(gt=0, description="Licensed (registered) electrical capacity")
    region: str = ""


class Grid(BaseModel):
    model_config = ConfigDict(extra="forbid")

    voltage_ln_v: float = Field(220, gt=0)
    voltage_ll_v: float = Field(380, gt=0)
    frequency_hz: float = Field(50, gt=0)


class AnalysisSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    compliance_profile: str = Field(
        "tm-2026", description="Profile id from compliance_profiles/ or a path"
    )
    interval_s: float = Field(5.0, gt=0, le=300)
    catchup_s: float = Field(
        3600.0, ge=0, description="After downtime, evaluate at most this much missed time"
    )
    devices_refresh_s: float = Field(
        5.0,
        ge=0,
        description="Live loop re-reads the device table this often (and at once when samples name "
        "a device it does not know)",
    )
    late_window_s: float = Field(
        60.0,
        ge=0,
        description="Live loop takes in samples stamped up to this long before its last read "
        "point but written after it (collector batches, MQTT redelivery, buffering gateways, "
        "devices' own clocks), so they are still evaluated live",
    )
    min_coverage_pct: float = Field(
        90.0,
        gt=0,
        le=100,
        description="A rule is judged compliant over a period only when its inputs were present "
        "for at least this share of the time in operation (CEMS data availability); below it the "
        "verdict is 'insufficient data'",
    )
    report_step_s: float | None = Field(
        None,
        gt=0,
        description="Evaluation step of period reports for rules without their own `every` "
        "(None = the live interval, an exact replay)",
    )


class ApiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    tokens_env: str = Field(
        "MINEWATCH_TOKENS",
        description="Environment variable with 'role:token' pairs separated by commas; roles "
        "operator, inspector, admin",
    )


class FacilityConfig(BaseModel):
    """Everything one facility's minewatch needs to know; validated once, at start."""

    model_config = ConfigDict(extra="forbid")

    facility: FacilityInfo
    licence: Licence
    timezone: str = "Asia/Ashgabat"
    grid: Grid = Field(default_factory=Grid)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    device_groups: list[DeviceGroup] = Field(default_factory=list)
    registry: str | None = Field(
        None, description="Equipment registry CSV (serial, model, zone, rack)"
    )
    device_profiles_dir: str | None = Field(
        None, description="Extra device profiles; shipped ones always load"
    )
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    polling: PollingSettings = Field(default_factory=PollingSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    #: Folder of the config file; relative paths inside it resolve against this.
    base_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {v!r}") from exc
        return v

    def path(self, p: str) -> Path:
        """Resolve a path from the config relative to the config file's folder."""
        q = Path(os.path.expanduser(p))
        return q if q.is_absolute() else (self.base_dir / q)

    @property
    def data_dir(self) -> Path:
        return self.path(self.storage.data_dir)

    @property
    def state_db(self) -> Path:
        """Alerts, ledger, outbox and registry state: the one SQLite file every process shares."""
        return self.data_dir / "state.db"

    @property
    def telemetry_db(self) -> Path:
        """The embedded telemetry store (``storage.backend: sqlite``)."""
        return self.data_dir / "telemetry.db"

    @property
    def spool_db(self) -> Path:
        """Where samples wait while InfluxDB is unreachable."""
        return self.data_dir / "spool" / "spool.db"

    def device_profile_dirs(self) -> list[Path]:
        """The shipped device profiles, then the facility's own folder (whose ids override)."""
        own = [self.path(self.device_profiles_dir)] if self.device_profiles_dir else []
        return [resources.device_profiles_dir(), *own]
