"""The facility as the operator sees it: power against the licence, devices up or down, hot rigs.

One place computes these so that ``/api/v1/facility``, the device list and the live page never
disagree. Values are honest: each carries its timestamp and age, and a missing value is ``None``
("no data"), never 0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from minewatch.api.context import ApiContext
from minewatch.readable import readable, rfc3339
from minewatch.sample import NS_PER_S

RIG_ROLE = "rig"
DISCOVERY_KIND = "discovery"
METER_ROLE = "revenue_meter"
SEVERITIES = ("critical", "major", "warning", "info")
#: Active alerts read per state (the analyzer's default page is 100); counts are exact up to this.
ACTIVE_LIMIT = 10_000


def age_s(now_ns: int, ts_ns: int | float | None) -> float | None:
    if ts_ns is None or pd.isna(ts_ns):
        return None
    return round((now_ns - int(ts_ns)) / NS_PER_S, 1)


#: Above this many devices a read asks for the metric of every device and filters here: a 30,000-rig
#: facility must not bind 30,000 parameters (SQLite allows 32,766) or send them to InfluxDB.
FILTER_LOCALLY_ABOVE = 500


def latest_of(ctx: ApiContext, devices: list[str], metric: str) -> pd.DataFrame:
    """Newest ``metric`` of each of ``devices``."""
    if len(devices) <= FILTER_LOCALLY_ABOVE:
        return ctx.store.latest(devices=devices, metrics=[metric])
    df = ctx.store.latest(metrics=[metric])
    return df[df["device"].isin(devices)]


def rig_mask(devices: pd.DataFrame) -> pd.Series:
    """Rigs: role ``rig``, or an ASIC whose collector did not set a role."""
    return (devices["role"] == RIG_ROLE) | (
        (devices["role"] == "") & (devices["kind"] == "asic_miner")
    )


@dataclass
class DeviceTable:
    """``store.devices()`` plus ``online``: seen within ``offline_after_s`` and not reported down
    (``up`` = 0)."""

    frame: pd.DataFrame
    now_ns: int

    @classmethod
    def load(cls, ctx: ApiContext, now_ns: int) -> DeviceTable:
        cached = ctx.cache.get("devices")
        if cached is not None and time.monotonic() - cached[0] < ctx.device_table_ttl_s:
            df, down = cached[1], cached[2]
        else:
            df = ctx.store.devices()
            up = ctx.store.latest(metrics=["up"])
            down = set(up.loc[up["value"] == 0, "device"]) if not up.empty else set()
            ctx.cache["devices"] = (time.monotonic(), df, down)
        cutoff = now_ns - int(ctx.offline_after_s * NS_PER_S)
        last = pd.to_numeric(df["last_seen"], errors="coerce")
        df = df.assign(
            online=(last >= cutoff) & ~df["device"].isin(down),
            reported_down=df["device"].isin(down),
        )
        return cls(df, now_ns)

    def counts(self) -> dict[str, Any]:
        """Equipment online/offline. The collector's discovery summary is stored as a device of
        kind ``discovery`` written once per scan period; it is not equipment and would read
        "offline" between scans."""
        df = self.frame[self.frame["kind"] != DISCOVERY_KIND]
        by_role: dict[str, dict[str, int]] = {}
        for role, grp in df.groupby(df["role"].replace("", "unassigned")):
            by_role[str(role)] = {
                "online": int(grp["online"].sum()),
                "offline": int((~grp["online"]).sum()),
            }
        return {
            "total": len(df),
            "online": int(df["online"].sum()),
            "offline": int((~df["online"]).sum()),
            "by_role": by_role,
        }

    def record(self, row: pd.Series) -> dict[str, Any]:
        first = None if pd.isna(row["first_seen"]) else int(row["first_seen"])
        last = None if pd.isna(row["last_seen"]) else int(row["last_seen"])
        return {
            "id": row["device"],
            "kind": row["kind"],
            "model": row["model"],
            "zone": row["zone"],
            "rack": row["rack"],
            "role": row["role"],
            "online": bool(row["online"]),
            "reported_down": bool(row["reported_down"]),
            "first_seen": rfc3339(first),
            "last_seen": rfc3339(last),
            "age_s": age_s(self.now_ns, last),
        }


def facility_power(ctx: ApiContext, table: DeviceTable) -> dict[str, Any]:
    """Facility power: the revenue meter(s) when they have a fresh reading, else the sum over
    fresh rigs.

    The response says which (``source``): the meter is the licence's truth; the rig sum misses
    cooling and auxiliary load and may include firmware estimates.
    """
    df, now = table.frame, table.now_ns
    cutoff = now - int(ctx.offline_after_s * NS_PER_S)
    meters = df.loc[df["role"] == METER_ROLE, "device"].tolist()
    note = None
    if meters:
        latest = latest_of(ctx, meters, "power_w")
        fresh = latest[latest["ts"] >= cutoff]
        if len(fresh) == len(meters):
            return _power(
                ctx,
                now,
                float(fresh["value"].sum()),
                "revenue_meter",
                int(fresh["ts"].min()),
                devices=meters,
                counted=len(fresh),
            )
        note = (
            f"revenue meter(s) {', '.join(sorted(set(meters) - set(fresh['device'])))} "
            "have no power_w "
            f"reading in the last {ctx.offline_after_s:g} s; showing the sum over rigs instead"
        )
    rigs = df.loc[rig_mask(df), "device"].tolist()
    latest = latest_of(ctx, rigs, "power_w") if rigs else pd.DataFrame()
    fresh = latest[latest["ts"] >= cutoff] if not latest.empty else latest
    if fresh.empty:
        out = _power(ctx, now, None, None, None, devices=None, counted=0)
        out["note"] = note or "no power reading from a revenue meter or any rig"
        return out
    out = _power(
        ctx,
        now,
        float(fresh["value"].sum()),
        "rigs_sum",
        int(fresh["ts"].min()),
        devices=None,
        counted=len(fresh),
    )
    out["rigs_without_fresh_power"] = len(rigs) - len(fresh)
    if note:
        out["note"] = note
    return out


def _power(
    ctx: ApiContext,
    now: int,
    watts: float | None,
    source: str | None,
    oldest_ts: int | None,
    devices: list[str] | None,
    counted: int,
) -> dict[str, Any]:
    cap_kw = ctx.cfg.licence.capacity_kw
    kw = None if watts is None else round(watts / 1000, 3)
    return {
        "kw": kw,
        "source": source,
        "devices": devices,
        "devices_counted": counted,
        "oldest_reading": rfc3339(oldest_ts),
        "age_s": age_s(now, oldest_ts),
        "licensed_capacity_kw": cap_kw,
        "utilisation_pct": None if kw is None else round(100 * kw / cap_kw, 2),
    }


def hottest_rigs(ctx: ApiContext, table: DeviceTable, n: int = 10) -> list[dict[str, Any]]:
    """The ``n`` online rigs with the highest chip temperature, each against its model's limit."""
    df = table.frame
    rigs = df[rig_mask(df) & df["online"]]
    if rigs.empty:
        return []
    temps = latest_of(ctx, rigs["device"].tolist(), "chip_temp_c")
    top = temps.nlargest(n, "value")
    models = rigs.set_index("device")["model"]
    zones = rigs.set_index("device")["zone"]
    out = []
    for row in top.to_dict("records"):
        model = str(models.get(row["device"], ""))
        limit = limit_of(ctx, model, "chip_temp_c")
        out.append(
            {
                "id": row["device"],
                "model": model,
                "zone": str(zones.get(row["device"], "")),
                "chip_temp_c": round(float(row["value"]), 2),
                "ts": rfc3339(int(row["ts"])),
                "age_s": age_s(table.now_ns, row["ts"]),
                "limit_c": limit.get("max_above") if limit else None,
                "warn_c": limit.get("warn_above") if limit else None,
            }
        )
    return out


def limit_of(ctx: ApiContext, model: str, metric: str) -> dict[str, Any] | None:
    profile = ctx.profiles.get(model)
    lim = profile.limits.get(metric) if profile else None
    return lim.model_dump(exclude_none=True) if lim else None


def active_alerts(ctx: ApiContext) -> list[dict[str, Any]] | None:
    """Firing, pending and nodata alerts, most severe first; None when no alert state is
    available."""
    if ctx.alert_store is None:
        return None
    alerts = ctx.alert_store.list_alerts(state="active", limit=ACTIVE_LIMIT)
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    alerts.sort(key=lambda a: (rank.get(str(a.get("severity")), len(rank)), -since_ns(a)))
    return [readable(a) for a in alerts]


def since_ns(alert: dict[str, Any]) -> int:
    """When the alert became what it is now: fired, else became active (pending or nodata)."""
    return int(alert.get("fired_at_ns") or alert.get("active_since_ns") or 0)


def alert_counts(alerts: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    if alerts is None:
        return None
    firing = [a for a in alerts if a.get("state") == "firing"]
    return {
        "firing": len(firing),
        "pending": sum(1 for a in alerts if a.get("state") == "pending"),
        "nodata": sum(1 for a in alerts if a.get("state") == "nodata"),
        "firing_by_severity": {
            s: sum(1 for a in firing if a.get("severity") == s) for s in SEVERITIES
        },
    }


def facility_summary(
    ctx: ApiContext, table: DeviceTable, alerts: list[dict[str, Any]] | None
) -> dict[str, Any]:
    cfg = ctx.cfg
    return {
        "facility": {"id": cfg.facility.id, "name": cfg.facility.name, "timezone": cfg.timezone},
        "licence": {
            "number": cfg.licence.number,
            "capacity_kw": cfg.licence.capacity_kw,
            "region": cfg.licence.region,
        },
        "as_of": rfc3339(table.now_ns),
        "power": facility_power(ctx, table),
        "devices": {**table.counts(), "offline_after_s": ctx.offline_after_s},
        "alerts": alert_counts(alerts),
    }


def facility_power_series(
    ctx: ApiContext, table: DeviceTable, start_ns: int, end_ns: int, step_ns: int
) -> tuple[str | None, list[list[Any]]]:
    """Facility power per bucket (mean within the bucket, summed over devices) from the same
    source ``facility_power`` uses; points are ``[time, kW]``."""
    df = table.frame
    meters = df.loc[df["role"] == METER_ROLE, "device"].tolist()
    source, devices = (
        ("revenue_meter", meters)
        if meters
        else ("rigs_sum", df.loc[rig_mask(df), "device"].tolist())
    )
    if not devices:
        return None, []
    if len(devices) <= FILTER_LOCALLY_ABOVE:
        q = ctx.store.query(
            start_ns, end_ns, devices=devices, metrics=["power_w"], step_ns=step_ns, agg="mean"
        )
    else:
        q = ctx.store.query(start_ns, end_ns, metrics=["power_w"], step_ns=step_ns, agg="mean")
        q = q[q["device"].isin(devices)]
    if q.empty:
        return source, []
    total = q.groupby("ts", sort=True)["value"].sum()
    return source, [
        [rfc3339(int(ts)), round(float(v) / 1000, 3)]
        for ts, v in zip(total.index.tolist(), total.tolist(), strict=True)
    ]
