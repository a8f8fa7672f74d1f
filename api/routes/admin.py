"""Admin actions: fault injection into the simulated facility (demo only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from minewatch.api.dependencies import Admin, Simulator
from minewatch.api.errors import BadParameter

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


def _refused(exc: LookupError | ValueError) -> BadParameter:
    """The simulator raises a LookupError for an unknown rig and a ValueError for an unknown or
    impossible fault; either is the named parameter's fault."""
    return BadParameter(
        "target" if isinstance(exc, LookupError) else "fault",
        str(exc.args[0] if exc.args else exc),
    )


@router.get("/faults")
def faults(_: Admin, sim: Simulator) -> dict[str, Any]:
    """The faults active in the simulated facility."""
    return {"items": sim.active_faults()}


@router.post("/faults")
def inject_fault(who: Admin, sim: Simulator, body: FaultRequest) -> dict[str, Any]:
    """Make the simulated facility misbehave (the demo's way to show an alert firing)."""
    try:
        target = sim.inject(body.fault, body.target)
    except (LookupError, ValueError) as exc:
        raise _refused(exc) from None
    return {"injected": body.fault, "target": target, "by": who.actor}


@router.delete("/faults")
def clear_fault(
    who: Admin, sim: Simulator, fault: str, target: str | None = None
) -> dict[str, Any]:
    """End a fault (on ``target``, or wherever it is active): the simulated rig cools down, the
    alert resolves."""
    try:
        sim.clear(fault, target)
    except (LookupError, ValueError) as exc:
        raise _refused(exc) from None
    return {"cleared": fault, "target": target, "by": who.actor}
