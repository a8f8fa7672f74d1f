"""Live and historical telemetry: the facility, its devices, and their series."""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Query, Response

from minewatch.api.dependencies import Ctx, any_role
from minewatch.api.errors import BadParameter, UnknownResource
from minewatch.api.facility import (
    DeviceTable,
    active_alerts,
    counts_at,
    facility_power_series,
    limit_of,
)
from minewatch.api.fleet import fleet
from minewatch.api.params import (
    MAX_POINTS,
    check_points,
    format_step,
    parse_step,
    rfc3339,
    suggest_step,
    time_range,
)
from minewatch.api.points import series_json
from minewatch.api.summary import current_summary
from minewatch.readable import rfc3339_many
from minewatch.sample import NS_PER_S
from minewatch.store.base import AGGREGATES, Aggregate
from minewatch.units import UNIT_SUFFIXES

router = APIRouter(prefix="/api/v1", dependencies=[Depends(any_role)], tags=["telemetry"])

HOUR_NS = 3600 * NS_PER_S
#: Longest range one series request may span (bucketed); a year of 1 h buckets is 8,760 points.
MAX_SPAN_NS = 400 * 24 * HOUR_NS


def unit_of(metric: str) -> str | None:
    """The unit suffix of a metric name (``chip_temp_c`` → ``c``, ``voltage_v_l1`` → ``v``)."""
    parts = metric.split("_")
    for part in reversed(parts[1:]):
        if part in UNIT_SUFFIXES:
            return part
    return None


@router.get("/facility")
def facility(ctx: Ctx) -> dict[str, Any]:
    """Total power against the licensed capacity, devices online/offline, active alerts by
    severity; shared with the live page, at most ``summary_ttl_s`` (1 s) old (see ``as_of``)."""
    return current_summary(ctx)


@router.get("/fleet")
def fleet_view(ctx: Ctx) -> dict[str, Any]:
    """Hashrate and J/TH in total, by hall and by model; hall climate; cooling; every rig's place
    and chip temperature for the rack heat map (fresh readings only)."""
    return fleet(ctx)


@router.get("/facility/series")
def facility_series(
    ctx: Ctx, start: str | None = None, end: str | None = None, step: str = "1m"
) -> dict[str, Any]:
    """Facility power over time in kW (bucket means summed over the meters, or over the rigs)."""
    start_ns, end_ns = time_range(start, end, ctx.clock(), HOUR_NS, MAX_SPAN_NS)
    step_ns = parse_step("step", step)
    check_points(start_ns, end_ns, step_ns)
    source, points = facility_power_series(
        ctx, counts_at(ctx, ctx.clock()), start_ns, end_ns, step_ns
    )
    return {
        "metric": "power_kw",
        "unit": "kw",
        "source": source,
        "start": rfc3339(start_ns),
        "end": rfc3339(end_ns),
        "step": format_step(step_ns),
        "agg": "mean",
        "points": points,
    }


@router.get("/devices")
def devices(
    ctx: Ctx,
    kind: str | None = None,
    zone: str | None = None,
    role: str | None = None,
    model: str | None = None,
    status: Literal["online", "offline"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    """Known devices, filtered by kind/zone/role/model/status, sorted by id, one page at a time."""
    table = DeviceTable.load(ctx, ctx.clock())
    df = table.frame
    for col, val in (("kind", kind), ("zone", zone), ("role", role), ("model", model)):
        if val is not None:
            df = df[df[col] == val]
    if status is not None:
        df = df[df["online"] == (status == "online")]
    page = df.iloc[offset : offset + limit]
    return {
        "total": len(df),
        "limit": limit,
        "offset": offset,
        "items": [table.record(row) for _, row in page.iterrows()],
    }


def _device_row(table: DeviceTable, device_id: str) -> Any:
    rows = table.frame[table.frame["device"] == device_id]
    if rows.empty:
        raise UnknownResource("device", f"unknown device {device_id!r}")
    return rows.iloc[0]


@router.get("/devices/{device_id}")
def device(ctx: Ctx, device_id: str) -> dict[str, Any]:
    """One device: identity, status, newest value of every metric, its model's rated values and
    limits."""
    now = ctx.clock()
    table = DeviceTable.load(ctx, now)
    row = _device_row(table, device_id)
    latest = ctx.store.latest(devices=[device_id])
    metrics = {
        r["metric"]: {
            "value": float(r["value"]),
            "unit": unit_of(r["metric"]),
            "ts": rfc3339(int(r["ts"])),
            "age_s": round((now - int(r["ts"])) / NS_PER_S, 1),
            "limit": limit_of(ctx, str(row["model"]), r["metric"]),
        }
        for r in latest.to_dict("records")
    }
    profile = ctx.profiles.get(str(row["model"]))
    alerts = active_alerts(ctx)
    return {
        **table.record(row),
        "metrics": metrics,
        "profile": None
        if profile is None
        else {
            "id": profile.id,
            "kind": str(profile.kind),
            "vendor": profile.vendor,
            "model": profile.model,
            "rated": {k: v.model_dump() for k, v in profile.rated.items()},
            "limits": {k: v.model_dump(exclude_none=True) for k, v in profile.limits.items()},
        },
        "active_alerts": None
        if alerts is None
        else [a for a in alerts if a.get("subject") == device_id],
    }


@router.get("/devices/{device_id}/series", response_model=dict[str, Any])
def series(
    ctx: Ctx,
    device_id: str,
    metric: str | None = None,
    start: str | None = None,
    end: str | None = None,
    step: str | None = None,
    agg: str = "mean",
) -> Response:
    """One metric of one device over ``[start, end)``; raw points, or one per ``step`` bucket
    (``agg``).

    Serialised here, column-wise (``minewatch.api.points``): a day of raw points is 8,640 pairs,
    which FastAPI's generic encoder walked one by one and the garbage collector then paid for
    (docs/benchmarks-api.md)."""
    if not metric:
        raise BadParameter("metric", "required, e.g. metric=chip_temp_c")
    if agg not in AGGREGATES:
        raise BadParameter("agg", f"must be one of {', '.join(AGGREGATES)}, got {agg!r}")
    aggregate = cast(Aggregate, agg)  # one of AGGREGATES, checked just above
    start_ns, end_ns = time_range(start, end, ctx.clock(), HOUR_NS, MAX_SPAN_NS)
    step_ns = parse_step("step", step) if step is not None else None
    if step_ns is not None:
        check_points(start_ns, end_ns, step_ns)
    known = ctx.store.latest(devices=[device_id])["metric"].tolist()
    if not known:  # no samples: an unknown device, or one registered that never sent anything
        _device_row(DeviceTable.load(ctx, ctx.clock()), device_id)
    if metric not in known:
        listed = ", ".join(known) if known else "none yet"
        raise BadParameter(
            "metric", f"device {device_id!r} has no metric {metric!r}; it has: {listed}"
        )
    df = ctx.store.query(
        start_ns, end_ns, devices=[device_id], metrics=[metric], step_ns=step_ns, agg=aggregate
    )
    if len(df) > MAX_POINTS:
        raise BadParameter(
            "step",
            f"too many points: {len(df)} raw samples in the range, at most {MAX_POINTS}; "
            f"pass step (e.g. step={format_step(suggest_step(start_ns, end_ns))}) "
            "or a shorter range",
        )
    head = {
        "device": device_id,
        "metric": metric,
        "unit": unit_of(metric),
        "start": rfc3339(start_ns),
        "end": rfc3339(end_ns),
        "step": format_step(step_ns) if step_ns else None,
        "agg": agg if step_ns else None,
    }
    body = series_json(head, rfc3339_many(df["ts"].to_numpy()), df["value"].tolist())
    return Response(body, media_type="application/json")
