"""How a device's MQTT JSON payload maps onto metrics."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from minewatch.units import check_metric_name


class PayloadField(BaseModel):
    """One metric read from a dotted path in the JSON payload (``temp.chip_max``, ``fans[0]``)."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, description="Dotted path into the JSON payload; [n] indexes a list")
    scale: float = 1.0
    offset: float = 0.0
    estimate: bool = Field(False, description="Value is a firmware estimate, not a measurement")


class MqttMapping(BaseModel):
    """Payload field paths → metric names (with units)."""

    model_config = ConfigDict(extra="forbid")

    timestamp_path: str | None = Field(
        None, description="Path of the sample time (RFC 3339 string or epoch seconds); receive time if absent"
    )
    fields: dict[str, PayloadField] = Field(min_length=1)
    max_payload_bytes: int = Field(65536, gt=0)

    @field_validator("fields")
    @classmethod
    def _metric_names(cls, v: dict[str, PayloadField]) -> dict[str, PayloadField]:
        for name in v:
            check_metric_name(name)
        return v
