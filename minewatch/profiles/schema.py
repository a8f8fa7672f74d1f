"""The one schema every device profile YAML is validated against."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from minewatch.profiles.minerapi import MinerApiMap
from minewatch.profiles.modbus import ModbusMap
from minewatch.profiles.mqtt import MqttMapping
from minewatch.units import check_metric_name, unit_of


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


class Plausible(BaseModel):
    """The range a reading can physically take; outside it the reading is a sensor or firmware fault
    (a chip at 1e300 °C, -1e9 W), rejected with the reason rather than stored and alarmed on."""

    model_config = ConfigDict(extra="forbid")

    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> Plausible:
        if self.min >= self.max:
            raise ValueError(f"min {self.min} must be below max {self.max}")
        return self


#: Default plausible range per metric unit, deliberately wide (facility totals, every device kind):
#: only impossible values fall outside. A profile's ``plausible`` entry overrides one metric.
PLAUSIBLE_BY_UNIT: dict[str | None, tuple[float, float]] = {
    "w": (-5e8, 5e8),
    "kw": (-5e5, 5e5),
    "va": (-5e8, 5e8),
    "kva": (-5e5, 5e5),
    "var": (-5e8, 5e8),
    "kvar": (-5e5, 5e5),
    "wh": (-1e16, 1e16),
    "kwh": (-1e13, 1e13),
    "kvarh": (-1e13, 1e13),
    "c": (-90.0, 500.0),
    "ths": (0.0, 1e5),
    "ghs": (0.0, 1e8),
    "v": (-1e6, 1e6),
    "a": (-1e6, 1e6),
    "hz": (0.0, 1000.0),
    "pct": (-1000.0, 1000.0),
    "rpm": (0.0, 1e6),
    "s": (-1e11, 1e11),
    "ms": (-1e14, 1e14),
    "kpa": (-1000.0, 1e6),
    "bar": (-10.0, 1e4),
    "lpm": (0.0, 1e7),
    "m3h": (0.0, 1e7),
    "ppm": (0.0, 1e6),
    "j_th": (0.0, 1e5),
    "bool": (0.0, 1.0),
    # unitless names: power_factor (±1, meters overshoot slightly), thd_*, up
    None: (-1e6, 1e6),
}
_UNBOUNDED = (float("-inf"), float("inf"))  # counts, states and codes: any finite value


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
    plausible: dict[str, Plausible] = Field(
        default_factory=dict,
        description="Physically possible range by metric name, overriding the per-unit default",
    )
    mqtt: MqttMapping | None = None
    modbus: ModbusMap | None = None
    miner_api: MinerApiMap | None = None

    @field_validator("rated", "limits", "plausible")
    @classmethod
    def _metric_keys(cls, v: dict) -> dict:
        for name in v:
            check_metric_name(name)
        return v

    def plausible_range(self, metric: str) -> tuple[float, float]:
        """(min, max) a reading of ``metric`` can take: the profile's own, else its unit's."""
        own = self.plausible.get(metric)
        if own is not None:
            return own.min, own.max
        if metric.startswith("power_factor"):
            return -1.5, 1.5
        return PLAUSIBLE_BY_UNIT.get(unit_of(metric), _UNBOUNDED)

    @model_validator(mode="after")
    def _has_transport(self) -> DeviceProfile:
        if self.mqtt is None and self.modbus is None and self.miner_api is None:
            raise ValueError("a profile needs at least one of mqtt, modbus, miner_api")
        return self
