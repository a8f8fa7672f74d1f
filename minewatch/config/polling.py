"""Polled devices: Modbus equipment and miners' own APIs (#3 completes this)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PollingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    modbus: list[dict[str, Any]] = Field(default_factory=list)
    miners: list[dict[str, Any]] = Field(default_factory=list)
