"""How a device's Modbus register map maps onto metrics (filled in by the Modbus collector work, #3)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ModbusMap(BaseModel):
    """Register map of one device model. Placeholder schema until #3 defines registers fully."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="Where the register map comes from (manual, document number)")
    registers: list[dict[str, Any]] = Field(default_factory=list)
