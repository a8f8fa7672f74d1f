"""How a miner's cgminer-style API replies map onto metrics (filled in by the miner-API work, #3)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class MinerApiMap(BaseModel):
    """Commands to send and reply field paths → metrics. Placeholder schema until #3."""

    model_config = ConfigDict(extra="forbid")

    dialect: str = Field(description="API dialect, e.g. antminer, whatsminer, luxos")
    commands: dict[str, Any] = Field(default_factory=dict)
