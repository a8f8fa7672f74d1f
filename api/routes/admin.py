"""Admin actions: fault injection into the simulated facility (demo only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from minewatch.api.auth import Principal, require
from minewatch.api.context import ApiContext, FaultTarget
from minewatch.api.errors import ApiError, bad_param

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


class FaultRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fault: str = Field(
        min_length=1,
        description="overheat, fan_fail, silent, unregistered, overload, over_voltage, "
        "phase_imbalance, smoke_alarm, coolant_pump_failure, modbus_silent or "
        "miner_api_hang",
    )
    target: str | None = Field(
        None, description="Rig serial or Modbus device name; facility-wide faults take none"
    )


def _simulator(request: Request) -> FaultTarget:
    ctx: ApiContext = request.app.state.ctx
    if ctx.faults is None:
        raise ApiError(
            404,
            None,
            "no simulator runs in this process; faults can be injected only in `minewatch demo`",
        )
    return ctx.faults


def _refused(exc: KeyError | ValueError) -> ApiError:
    """The simulator raises KeyError for an unknown rig and ValueError for an unknown or impossible
    fault."""
    return bad_param(
        "target" if isinstance(exc, KeyError) else "fault", str(exc.args[0] if exc.args else exc)
    )


@router.get("/faults")
def faults(request: Request, _: Principal = Depends(require("admin"))) -> dict[str, Any]:
    """The faults active in the simulated facility."""
    return {"items": _simulator(request).active_faults()}


@router.post("/faults")
def inject_fault(
    request: Request, body: FaultRequest, who: Principal = Depends(require("admin"))
) -> dict[str, Any]:
    """Make the simulated facility misbehave (the demo's way to show an alert firing)."""
    sim = _simulator(request)
    try:
        target = sim.inject(body.fault, body.target)
    except (KeyError, ValueError) as exc:
        raise _refused(exc) from None
    return {"injected": body.fault, "target": target, "by": who.actor}


@router.delete("/faults")
def clear_fault(
    request: Request,
    fault: str,
    target: str | None = None,
    who: Principal = Depends(require("admin")),
) -> dict[str, Any]:
    """End a fault (on ``target``, or wherever it is active): the simulated rig cools down, the
    alert resolves."""
    sim = _simulator(request)
    try:
        sim.clear(fault, target)
    except (KeyError, ValueError) as exc:
        raise _refused(exc) from None
    return {"cleared": fault, "target": target, "by": who.actor}
