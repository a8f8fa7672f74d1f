"""How a device's MQTT JSON payload maps onto metrics.

Paths are dotted keys with ``[n]`` list indexes: ``temps.chip_max``, ``fans[0]``,
``boards[1].temp``. They are parsed once, at load, so a typo is a config error that names the
profile file rather than a silent miss at run time.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from minewatch.payload_path import PathKey, parse_path
from minewatch.units import check_metric_name


class PayloadField(BaseModel):
    """One metric read from a path in the JSON payload (``temp.chip_max``, ``fans[0]``).

    The stored value is ``raw * scale + offset``. JSON numbers are accepted everywhere; JSON
    booleans only for ``*_bool`` metrics; strings only through ``values`` (e.g. a status word).
    """

    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        min_length=1, description="Dotted path into the JSON payload; [n] indexes a list"
    )
    scale: float = 1.0
    offset: float = 0.0
    estimate: bool = Field(False, description="Value is a firmware estimate, not a measurement")
    values: dict[str, float] | None = Field(
        None, description="Maps string values to numbers (e.g. status: {mining: 1, sleeping: 0})"
    )
    required: bool = Field(
        False, description="Count a message without this field as rejected (missing_field)"
    )

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        parse_path(v)
        return v


class MqttMapping(BaseModel):
    """Payload field paths → metric names (with units)."""

    model_config = ConfigDict(extra="forbid")

    timestamp_path: str | None = Field(
        None,
        description="Path of the sample time (RFC 3339 string or epoch number); receive time if "
        "absent",
    )
    timestamp_unit: Literal["s", "ms", "us", "ns"] = Field(
        "s", description="Unit of a numeric epoch timestamp"
    )
    fields: dict[str, PayloadField] = Field(min_length=1)
    ignore: list[str] = Field(
        default_factory=list,
        description="Payload paths that are known but are not metrics (serial, model, firmware); "
        "anything else not mapped is counted as unknown_field",
    )
    max_payload_bytes: int = Field(65536, gt=0)

    @field_validator("fields")
    @classmethod
    def _metric_names(cls, v: dict[str, PayloadField]) -> dict[str, PayloadField]:
        for name in v:
            check_metric_name(name)
        return v

    @field_validator("timestamp_path")
    @classmethod
    def _ts_path(cls, v: str | None) -> str | None:
        if v is not None:
            parse_path(v)
        return v

    @field_validator("ignore")
    @classmethod
    def _ignore_paths(cls, v: list[str]) -> list[str]:
        for p in v:
            parse_path(p)
        return v

    @model_validator(mode="after")
    def _distinct_paths(self) -> MqttMapping:
        seen: dict[tuple[PathKey, ...], str] = {}
        for name, f in self.fields.items():
            key = parse_path(f.path)
            if key in seen:
                raise ValueError(f"fields {seen[key]!r} and {name!r} read the same path {f.path!r}")
            seen[key] = name
        return self
