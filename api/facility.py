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


def rig_mask(devices: pd.DataFrame) -> pd.Series:
    """Rigs: role ``rig``, or an ASIC whose collector did not set a role (rows of devices, or the
    store's per (role, kind) aggregates)."""
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


def device_counts(counts: pd.DataFrame) -> dict[str, Any]:
    """Equipment online/offline from the store's per (role, kind) counts. The collector's discovery
    summary is stored as a device of kind ``discovery`` written once per scan period; it is not
    equipment and would read "offline" between scans."""
    df = counts[counts["kind"] != DISCOVERY_KIND]
    by_role: dict[str, dict[str, int]] = {}
    for role, grp in df.groupby(df["role"].replace("", "unassigned"), sort=True):
        online, total = int(grp["online"].sum()), int(grp["devices"].sum())
        by_role[str(role)] = {"online": online, "offline": total - online}
    total, online = int(df["devices"].sum()), int(df["online"].sum())
    return {"total": total, "online": online, "offline": total - online, "by_role": by_role}


def facility_power(ctx: ApiContext, now: int, counts: pd.DataFrame) -> dict[str, Any]:
    """Facility power: the revenue meter(s) when they have a fresh reading, else the sum over
    fresh rigs (summed inside the store: 30,000 rigs' readings never become Python rows).

    The response says which (``source``): the meter is the licence's truth; the rig sum misses
    cooling and auxiliary load and may include firmware estimates.
    """
    cutoff = now - int(ctx.offline_after_s * NS_PER_S)
    note = None
    if (counts["role"] == METER_ROLE).any():
        meters = ctx.store.devices_with_roles([METER_ROLE])["device"].tolist()
        latest = ctx.store.latest(devices=meters, metrics=["power_w"])
        fresh = latest[latest["ts"] >= cutoff]
        if meters and len(fresh) == len(meters):
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
    totals = ctx.store.latest_totals("power_w", cutoff)
    fresh = totals[rig_mask(totals)]
    counted = int(fresh["count"].sum())
    if counted == 0:
        out = _power(ctx, now, None, None, None, devices=None, counted=0)
        out["note"] = note or "no power reading from a revenue meter or any rig"
        return out
    out = _power(
        ctx,
        now,
        float(fresh["sum"].sum()),
        "rigs_sum",
        int(fresh["oldest_ts"].min()),
        devices=None,
        counted=counted,
    )
    # counts and totals are two reads: a rig added in between must not make this negative
    out["rigs_without_fresh_power"] = max(
        0, int(counts.loc[rig_mask(counts), "devices"].sum()) - counted
    )
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


def hottest_rigs(ctx: ApiContext, now: int, n: int = 10) -> list[dict[str, Any]]:
    """The ``n`` online rigs with the highest chip temperature, each against its model's limit.

    The store ranks online devices; a device that is not a rig (rare: a chip temperature from
    something else) takes a place, so the read widens until ``n`` rigs are in or none are left."""
    cutoff = now - int(ctx.offline_after_s * NS_PER_S)
    limit = n
    while True:
        top = ctx.store.latest_top("chip_temp_c", limit, cutoff)
        rigs = top[rig_mask(top)]
        if len(rigs) >= n or len(top) < limit:
            break
        limit *= 4
    out = []
    for row in rigs.head(n).to_dict("records"):
        model = str(row["model"])
        limit_c = limit_of(ctx, model, "chip_temp_c")
        out.append(
            {
                "id": row["device"],
                "model": model,
                "zone": str(row["zone"]),
                "chip_temp_c": round(float(row["value"]), 2),
                "ts": rfc3339(int(row["ts"])),
                "age_s": age_s(now, row["ts"]),
                "limit_c": limit_c.get("max_above") if limit_c else None,
                "warn_c": limit_c.get("warn_above") if limit_c else None,
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


def counts_at(ctx: ApiContext, now: int) -> pd.DataFrame:
    """The store's device counts per (role, kind), online meaning seen within ``offline_after_s``
    of ``now``: what the summary and the power series' choice of source are computed from."""
    return ctx.store.device_counts(now - int(ctx.offline_after_s * NS_PER_S))


def facility_summary(
    ctx: ApiContext, now: int, alerts: list[dict[str, Any]] | None, counts: pd.DataFrame
) -> dict[str, Any]:
    """The headline numbers (``/api/v1/facility``, the live page), from aggregate store reads;
    ``counts`` is ``counts_at(ctx, now)``."""
    cfg = ctx.cfg
    return {
        "facility": {"id": cfg.facility.id, "name": cfg.facility.name, "timezone": cfg.timezone},
        "licence": {
            "number": cfg.licence.number,
            "capacity_kw": cfg.licence.capacity_kw,
            "region": cfg.licence.region,
        },
        "as_of": rfc3339(now),
        "power": facility_power(ctx, now, counts),
        "devices": {**device_counts(counts), "offline_after_s": ctx.offline_after_s},
        "alerts": alert_counts(alerts),
    }


def facility_power_series(
    ctx: ApiContext, counts: pd.DataFrame, start_ns: int, end_ns: int, step_ns: int
) -> tuple[str | None, list[list[Any]]]:
    """Facility power per bucket (mean within the bucket, summed over devices) from the same
    source ``facility_power`` uses (chosen from ``counts``, see ``counts_at``); points are
    ``[time, kW]``."""
    source = "revenue_meter" if (counts["role"] == METER_ROLE).any() else "rigs_sum"
    if not _of_source(counts, source).any():
        return None, []
    totals = ctx.store.bucket_totals("power_w", start_ns, end_ns, step_ns)
    totals = totals[_of_source(totals, source)]
    if totals.empty:
        return source, []
    total = totals.groupby("ts", sort=True)["value"].sum()
    return source, [
        [rfc3339(int(ts)), round(float(v) / 1000, 3)]
        for ts, v in zip(total.index.tolist(), total.tolist(), strict=True)
    ]


def _of_source(groups: pd.DataFrame, source: str) -> pd.Series:
    """The (role, kind) groups that make up a power ``source``: the meters, or the rigs."""
    return groups["role"] == METER_ROLE if source == "revenue_meter" else rig_mask(groups)
