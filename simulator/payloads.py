"""What the simulated on-site agent publishes: the agent payload format of
docs/collector-mqtt.md."""

from __future__ import annotations

import time
from typing import Any

from minewatch.simulator.facility import SimHall, SimRig

AGENT_VERSION = "minewatch-sim 1"


def rfc3339(ts_s: float) -> str:
    """UTC, millisecond precision, ``Z`` suffix."""
    ms = round(ts_s * 1000)
    secs, frac = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:03d}Z"


def rig_payload(rig: SimRig, ts_s: float) -> dict[str, Any]:
    temp: dict[str, float] = {
        "chip_max": round(rig.chip_temp_c, 2),
        "board_max": round(rig.board_temp_c, 2),
    }
    p: dict[str, Any] = {
        "ts": rfc3339(ts_s),
        "serial": rig.serial,
        "model": rig.profile_id,
        "firmware": AGENT_VERSION,
        "status": rig.status,
        "power_w": round(rig.power_w, 1),
        "hashrate_ths": round(rig.hashrate_ths, 2),
        "temp": temp,
        "error_code": rig.error_code,
    }
    if rig.cooling == "hydro":
        p["coolant"] = {
            "in": round(rig.coolant_in_temp_c, 2),
            "out": round(rig.coolant_out_temp_c, 2),
        }
    else:
        temp["inlet"] = round(rig.inlet_temp_c, 2)
        temp["outlet"] = round(rig.outlet_temp_c, 2)
        p["fans"] = [round(f) for f in rig.fan_rpm]
    return p


def hall_payload(hall: SimHall, ts_s: float) -> dict[str, Any]:
    return {
        "ts": rfc3339(ts_s),
        "id": hall.sensor_id,
        "temperature": round(hall.ambient_temp_c, 2),
        "humidity": round(hall.humidity_pct, 1),
    }
