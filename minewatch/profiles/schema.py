"""The one schema every device profile YAML is validated against."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from minewatch.profiles.minerapi import MinerApiMap
from minewatch.profiles.modbus import ModbusMap
from minewatch.profiles.mqtt import MqttMapping
from minewatch.units import check_metric_name


class DeviceKind(StrEnum):
    asic_miner = "asic_miner"
    power_meter = "power_meter"
    pdu = "pdu"
    env_sensor = "env_sensor"
    cooling = "cooling"
    fire_panel = "fire_panel"


class Rated(BaseModel):
    """A nameplate value with where it comes from."""

    model_config = ConfigDict(extra="forbid")

    value: float
    source: str = Field(min_length=3)


class Limit(BaseModel):
    """Manufacturer limits for one metric; a rule can say "above the model's limit"."""

    model_config = ConfigDict(extra="forbid")

    warn_above: float | None = None
    max_above: float | None = None
    warn_below: float | None = None
    min_below: float | None = None
    source: str = Field(min_length=3)

    @model_validator(mode="after")
    def _ordered(self) -> Limit:
        if (
            self.warn_above is not None
            and self.max_above is not None
            and self.warn_above > self.max_above
        ):
            raise ValueError(
                f"warn_above {self.warn_above} must not exceed max_above {self.max_above}"
            )
        if (
            self.warn_below is not None
            and self.min_below is not None
            and self.warn_below < self.min_below
        ):
            raise ValueError(
                f"warn_below {self.warn_below} must not be below min_below {self.min_below}"
            )
        if all(
            v is None for v in (self.warn_above, self.max_above, self.warn_below, self.min_below)
        ):
            raise ValueError(
                "a limit needs at least one of warn_above, max_above, warn_below, min_below"
            )
        return self


class DeviceProfile(BaseModel):
    """A device model: identity, rated values, limits and per-transport read mappings."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="Profile id; equals the file name stem"
    )
    kind: DeviceKind
    vendor: str
    model: str
    description: str = ""
    rated: dict[str, Rated] = Field(
        default_factory=dict, description="Nameplate values by metric name"
    )
    limits: dict[str, Limit] = Field(
        default_factory=dict, description="Manufacturer limits by metric name"
    )
    mqtt: MqttMapping | None = None
    modbus: ModbusMap | None = None
    miner_api: MinerApiMap | None = None

    @field_validator("rated", "limits")
    @classmethod
    def _metric_keys(cls, v: dict) -> dict:
        for name in v:
            check_metric_name(name)
        return v

    @model_validator(mode="after")
    def _has_transport(self) -> DeviceProfile:
        if self.mqtt is None and self.modbus is None and self.miner_api is None:
            raise ValueError("a profile needs at least one of mqtt, modbus, miner_api")
        return self
