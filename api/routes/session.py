"""Who the page is talking to: the caller's role and what that role may do, so the page shows the
buttons a role can use and says what it cannot (the API enforces it either way)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from minewatch.api.auth import ROLES, Principal
from minewatch.api.dependencies import require

router = APIRouter(prefix="/api/v1", tags=["page"])

#: What each role may do beyond reading live data (mirrors the routes' role checks).
MAY = {
    "operator": ["acknowledge", "silence", "maintenance", "curtailment_order"],
    "inspector": ["reports"],
    "admin": ["acknowledge", "silence", "maintenance", "curtailment_order", "reports", "faults"],
}


@router.get("/me")
def me(who: Annotated[Principal, Depends(require(*ROLES))]) -> dict[str, Any]:
    """The caller's role, actor string (as audit records show it) and permitted actions."""
    return {"role": who.role, "actor": who.actor, "may": MAY[who.role]}
