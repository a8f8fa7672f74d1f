"""The central-bank channel's state (``minewatch.api.regulator``), for the page and for
monitoring."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from minewatch.api.dependencies import Ctx, any_role
from minewatch.api.regulator import regulator_channel

router = APIRouter(prefix="/api/v1", dependencies=[Depends(any_role)], tags=["regulator"])


@router.get("/regulator")
def regulator(ctx: Ctx) -> dict[str, Any]:
    """The central-bank channel: enabled, messages queued/delivered/dead, last delivery, oldest
    message still waiting (and why), ledger head."""
    return regulator_channel(ctx)
