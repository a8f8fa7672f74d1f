"""Outbound channels: the central bank and operator notifications (#6 completes this)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class NotifySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
