"""Captured firmware replies, scaled to a simulated rig's state.

A reply keeps every key, its order and its types exactly as the firmware sent them; only the values
that describe the rig's state are replaced (hashrate, temperatures, fans, power, uptime, identity).
Sensor strings are shifted, not invented: each board's "a-b-c-d" sensors keep the captured spread
and move so that their maximum is the rig's temperature.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from minewatch.collector.minerapi.parse import parse_reply
from minewatch.collector.minerapi.paths import dashed
from minewatch.simulator import miner_api_captured as captured


@functools.cache
def _template(raw: bytes) -> dict[str, Any]:
    return parse_reply(raw)


def _fresh(raw: bytes) -> dict[str, Any]:
    return copy.deepcopy(_template(raw))


def _shifted(text: str, top: float) -> tuple[str, int]:
    """The sensor string moved so its maximum reads ``top``; and that maximum."""
    values = [round(float(v)) for v in dashed(text)]
    delta = round(top) - max(values)
    return "-".join(str(v + delta) for v in values), round(top)


def antminer_version(model: str) -> dict[str, Any]:
    doc = _fresh(captured.S19PRO_VERSION)
    doc["VERSION"][0]["Type"] = model
    return doc


def antminer_stats(
    model: str, ghs: float, chip: float, board: float, fans: list[float], elapsed: int
) -> dict[str, Any]:
    """A stock Antminer's flat ``stats``: 3 boards, board ``i`` (1-based) one degree cooler per
    step; ``tempN``/``temp_pcbN`` board, ``temp2_N``/``temp_chipN`` chip, as firmware has them."""
    doc = _fresh(captured.S19PRO_STATS)
    head, s = doc["STATS"]
    head["Type"] = model
    s["Elapsed"] = elapsed
    for key in ("GHS 5s", "GHS av", "rate_30m", "total rate", "total_rateideal"):
        s[key] = round(ghs, 2)
    for i in range(1, 5):
        s[f"fan{i}"] = int(fans[i - 1]) if i <= len(fans) else 0
    s["fan_num"] = sum(1 for f in fans[:4] if f)
    for i in range(1, 4):
        s[f"temp_pcb{i}"], s[f"temp{i}"] = _shifted(s[f"temp_pcb{i}"], board)
        s[f"temp_chip{i}"], s[f"temp2_{i}"] = _shifted(s[f"temp_chip{i}"], chip - i + 1)
        s[f"temp_pic{i}"], _ = _shifted(s[f"temp_pic{i}"], board - 10)
        s[f"chain_rate{i}"] = f"{ghs / 3:.2f}"
    return doc


def whatsminer_summary(
    ghs: float,
    chip: float,
    board: float,
    fans: list[float],
    power: float,
    inlet: float,
    error_code: int,
    mac: str,
    elapsed: int,
) -> dict[str, Any]:
    """A Whatsminer v2 ``summary``; the captured error codes are replaced by the rig's one."""
    doc = _fresh(captured.M31S_SUMMARY)
    s = doc["SUMMARY"][0]
    for key in ("MHS av", "MHS 5s", "MHS 1m", "MHS 5m", "MHS 15m", "HS RT"):
        s[key] = round(ghs * 1000, 2)
    s["Factory GHS"] = round(ghs)
    s.update(
        {
            "Elapsed": elapsed,
            "Uptime": elapsed + 60,
            "Temperature": board,
            "Fan Speed In": int(fans[0]),
            "Fan Speed Out": int(fans[-1]),
            "Power": int(power),
            "Power_RT": int(power),
            "Env Temp": inlet,
            "Chip Temp Min": chip - 12,
            "Chip Temp Max": chip,
            "Chip Temp Avg": chip - 5,
            "MAC": mac,
        }
    )
    for key in [k for k in s if k.startswith(("Error Code ", "Error ", "Factory Error Code "))]:
        del s[key]
    s["Factory Error Code Count"] = 0
    s["Error Code Count"] = 1 if error_code else 0
    if error_code:
        s["Error Code 0"] = error_code
    return doc


def pools(worker: str, alive: bool) -> dict[str, Any]:
    """cgminer's ``pools`` table: the captured three pools, mined by this rig's worker."""
    doc = _fresh(captured.M31S_POOLS)
    for pool in doc["POOLS"]:
        pool["User"] = worker
        pool["Status"] = "Alive" if alive else "Dead"
    return doc
