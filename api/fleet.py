"""The fleet as the operator reads it: hashrate and efficiency (J/TH) by hall and by model, the
halls' temperature and humidity, cooling, and every rig's place in the rack heat map.

Only fresh readings count (younger than ``offline_after_s``): a rig that stopped reporting adds
nothing to the hashrate and shows as offline on the map, never with its last temperature as if it
were current. Efficiency is power over hashrate (W per TH/s = J/TH) of the rigs that report both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from minewatch.api.context import ApiContext
from minewatch.api.facility import DeviceTable, age_s, limit_of, rig_mask
from minewatch.readable import rfc3339
from minewatch.registry import facility_registry
from minewatch.sample import NS_PER_S

RIG_METRICS = ("power_w", "hashrate_ths", "chip_temp_c", "error_code", "api_state")
#: ``api_state`` as the miner poller writes it: 2 answering, 1 answering but unreadable, 0 down.
DEGRADED_API_STATE = 1.0
HALL_ROLE = "hall_sensor"
HALL_METRICS = ("ambient_temp_c", "humidity_pct")
COOLING_KIND = "cooling"


def _fresh_latest(
    ctx: ApiContext, devices: list[str], metrics: Iterable[str], cutoff: int
) -> pd.DataFrame:
    """Newest value of each metric per device, fresh ones only, as a table of devices by metrics."""
    if not devices:
        return pd.DataFrame()
    df = ctx.store.latest(metrics=list(metrics))
    df = df[df["device"].isin(devices) & (df["ts"] >= cutoff)]
    if df.empty:
        return pd.DataFrame()
    return df.pivot_table(index="device", columns="metric", values="value", aggfunc="last")


def _group(rigs: pd.DataFrame, by: str) -> list[dict[str, Any]]:
    out = []
    for key, grp in rigs.groupby(by, sort=True):
        out.append({by: str(key) or "unassigned", **_totals(grp)})
    return out


def _totals(rigs: pd.DataFrame) -> dict[str, Any]:
    both = rigs.dropna(subset=["power_w", "hashrate_ths"])
    both = both[both["hashrate_ths"] > 0]
    hashrate = float(rigs["hashrate_ths"].sum(min_count=1)) if len(rigs) else float("nan")
    power = float(rigs["power_w"].sum(min_count=1)) if len(rigs) else float("nan")
    j_per_th = float(both["power_w"].sum() / both["hashrate_ths"].sum()) if len(both) else None
    temp = rigs["chip_temp_c"].max() if len(rigs) else float("nan")
    return {
        "rigs": len(rigs),
        "online": int(rigs["online"].sum()),
        "hashrate_ths": None if pd.isna(hashrate) else round(hashrate, 1),
        "power_kw": None if pd.isna(power) else round(power / 1000, 2),
        "j_per_th": None if j_per_th is None else round(j_per_th, 2),
        "chip_temp_max_c": None if pd.isna(temp) else round(float(temp), 1),
    }


def _registered(ctx: ApiContext) -> set[str] | None:
    """Serials in the equipment registry; None when the facility keeps none (then nothing is marked
    unregistered: unknown is not the same as unregistered)."""
    if "registry" not in ctx.cache:
        ctx.cache["registry"] = (
            set(facility_registry(ctx.cfg, set(ctx.profiles))) if ctx.cfg.registry else None
        )
    serials: set[str] | None = ctx.cache["registry"]
    return serials


def fleet(ctx: ApiContext) -> dict[str, Any]:
    """Fleet totals, by hall and model, hall climate, cooling and the rack heat map."""
    now = ctx.clock()
    table = DeviceTable.load(ctx, now)
    df = table.frame
    cutoff = now - int(ctx.offline_after_s * NS_PER_S)
    rigs = df[rig_mask(df)].set_index("device")
    values = _fresh_latest(ctx, rigs.index.tolist(), RIG_METRICS, cutoff)
    rigs = rigs.join(values.reindex(columns=list(RIG_METRICS)), how="left")
    registered = _registered(ctx)
    halls = df[df["role"] == HALL_ROLE]
    climate = _fresh_latest(ctx, halls["device"].tolist(), HALL_METRICS, cutoff)
    cooling = df[df["kind"] == COOLING_KIND]
    cool_values = _fresh_latest(
        ctx, cooling["device"].tolist(), ("pump_state", "coolant_out_temp_c"), cutoff
    )
    return {
        "as_of": rfc3339(now),
        "total": _totals(rigs),
        "by_zone": _group(rigs, "zone"),
        "by_model": _group(rigs, "model"),
        "halls": [
            {
                "device": row["device"],
                "zone": row["zone"],
                "online": bool(row["online"]),
                "age_s": age_s(now, row["last_seen"]),
                **{m: _num(climate, row["device"], m) for m in HALL_METRICS},
            }
            for row in halls.to_dict("records")
        ],
        "cooling": [
            {
                "device": row["device"],
                "zone": row["zone"],
                "online": bool(row["online"]),
                "running": None
                if (state := _num(cool_values, row["device"], "pump_state")) is None
                else state >= 1,
                "coolant_out_temp_c": _num(cool_values, row["device"], "coolant_out_temp_c"),
            }
            for row in cooling.to_dict("records")
        ],
        "rigs": rig_records(ctx, rigs, registered, now),
    }


def _generic_limits(ctx: ApiContext, model: str) -> bool:
    """The model is read through its vendor family's profile: its limits are the family's, not
    this exact model's, and the page says so."""
    profile = ctx.profiles.get(model)
    return bool(profile and profile.miner_api and profile.miner_api.generic)


def _num(frame: pd.DataFrame, device: str, metric: str) -> float | None:
    if frame.empty or metric not in frame.columns:
        return None
    value = frame[metric].get(device)
    return None if value is None or pd.isna(value) else round(float(value), 2)


def rig_records(
    ctx: ApiContext, rigs: pd.DataFrame, registered: set[str] | None, now: int
) -> list[dict[str, Any]]:
    """One record per rig for the heat map and the rig list, computed column-wise: a 30,000-rig site
    is polled every 10 s by every open page."""
    df = rigs.reset_index().sort_values("device")
    df["position"] = df.groupby(["zone", "rack"]).cumcount() + 1
    limits = {m: limit_of(ctx, str(m), "chip_temp_c") or {} for m in df["model"].unique()}
    df["limit_c"] = df["model"].map(lambda m: limits[m].get("max_above"))
    df["warn_c"] = df["model"].map(lambda m: limits[m].get("warn_above"))
    df["registered"] = None if registered is None else df["device"].isin(registered)
    # A miner that answers but whose replies cannot be read is not "up": the page says degraded.
    df["degraded"] = df["online"] & (df["api_state"] == DEGRADED_API_STATE)
    generic = {m: _generic_limits(ctx, str(m)) for m in df["model"].unique()}
    df["generic_limits"] = df["model"].map(generic)
    df["age_s"] = ((now - pd.to_numeric(df["last_seen"], errors="coerce")) / NS_PER_S).round(1)
    for metric in RIG_METRICS:  # an offline rig's last values are not current: no data
        df[metric] = df[metric].where(df["online"]).round(2)
    out = df[
        [
            "device",
            "model",
            "zone",
            "rack",
            "position",
            "online",
            "degraded",
            "registered",
            "generic_limits",
            *RIG_METRICS,
            "limit_c",
            "warn_c",
            "age_s",
        ]
    ].rename(columns={"device": "id"})
    # NaN is not JSON: missing values become None
    return [
        {str(k): (None if isinstance(v, float) and v != v else v) for k, v in rec.items()}
        for rec in out.astype(object).to_dict("records")
    ]
