"""Period compliance reports: the same rule engine replayed over stored data (live is the
incremental case), plus hourly records, curtailment responses, data availability and equipment
registration.

Reports are deterministic: the same store, state and profile give byte-identical JSON, whose SHA-256
(of the canonical form without the ``sha256`` field) the report states about itself.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson
import pandas as pd

from minewatch import __version__
from minewatch.alerting import AlertState
from minewatch.analyzer import curtailment
from minewatch.analyzer.completeness import Coverage
from minewatch.analyzer.context import EvalContext
from minewatch.analyzer.effective import Shown
from minewatch.analyzer.evaluator import Evaluator
from minewatch.analyzer.hourly import hourly_records, monthly_availability
from minewatch.analyzer.lifecycle import Transition
from minewatch.analyzer.operation import operation_start_ns
from minewatch.analyzer.profile import ComplianceProfile, Rule
from minewatch.analyzer.profile_loader import load_compliance_profile
from minewatch.analyzer.rollup_read import RollupEvaluator
from minewatch.analyzer.rules.base import Obs
from minewatch.analyzer.screen import ScreenedEvaluator
from minewatch.analyzer.state import AlertStore
from minewatch.analyzer.value_ref import ValueRef
from minewatch.config.facility import FacilityConfig
from minewatch.profiles import DeviceProfile, load_facility_profiles
from minewatch.readable import rfc3339
from minewatch.store.base import TelemetryStore

SCHEMA_PATH = Path(__file__).with_name("report.schema.json")
#: Periods longer than this are screened on the store's hourly roll-ups (``read="auto"``).
ROLLUP_AFTER_S = 7 * 86400
#: Breaches given evidence beyond the ones that always get it (regulator-notifiable, critical).
MAX_EVIDENCE = 200
_SEVERITY_RANK = {"critical": 0, "major": 1, "warning": 2, "info": 3}
#: The verdict in the older ``status`` vocabulary, which the report keeps for its readers.
_STATUS = {
    "compliant": "compliant",
    "breached": "breached",
    "insufficient_data": "no_data",
    "not_in_operation": "no_data",
    "in_progress": "compliant",
    "not_applicable": "not_applicable",
}


_ROLLUP_NOTE = (
    "rules evaluated on store-side roll-ups (count, sum, min, max, last per device and rule step): "
    "the same bucket statistics as the raw samples; sample times to the store's resolution (exact "
    "on SQLite, the step on InfluxDB); evidence read from the store around each breach, as on the "
    "raw path"
)
_EVALUATION_NOTES = {
    "raw": "rules evaluated on every raw sample",
    "rollup": _ROLLUP_NOTE,
    "screened": "rules screened on the store's hourly roll-ups and evaluated at full resolution "
    "for the devices whose hours could breach them; the others provably did not; coverage counted "
    "from the roll-ups' sample counts. Otherwise as: " + _ROLLUP_NOTE,
}


def iso(ts_ns: int | None) -> str | None:
    if ts_ns is None:
        return None
    return pd.Timestamp(int(ts_ns), tz="UTC").isoformat().replace("+00:00", "Z")


def _num(v: Any, nd: int = 6) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if f != f or f in (float("inf"), float("-inf")) else round(f, nd)


def device_profiles_for(cfg: FacilityConfig) -> dict[str, DeviceProfile]:
    return load_facility_profiles(cfg)


def _threshold_ref(rule: Rule) -> ValueRef | None:
    for name in ("above", "below", "limit", "tolerance_pct", "cap_kwh", "low", "high"):
        ref = getattr(rule.p, name, None)
        if isinstance(ref, ValueRef):
            return ref
    return None


def _threshold_source(rule: Rule) -> str:
    ref = _threshold_ref(rule)
    return ref.describe(rule.source) if ref is not None else rule.source


def _generic_limits(
    rule: Rule, model: str | None, device_profiles: dict[str, DeviceProfile]
) -> bool:
    """The breach was judged against a device-profile limit of a model read through its vendor
    family's profile: an inspector must know the limit is the family's, not the exact model's."""
    ref = _threshold_ref(rule)
    if ref is None or (ref.limit is None and ref.rated is None):
        return False
    profile = device_profiles.get(model or "")
    return bool(profile and profile.miner_api and profile.miner_api.generic)


def _tally(
    st: dict[str, Any],
    obs: Obs,
    op_from: int,
    episodes: dict[int, dict[str, Any]],
    order: list[int],
    rule: Rule,
    trs: list[Transition],
    ctx: EvalContext,
    ok: np.ndarray,
) -> None:
    """Count one rule's chunk into its coverage (``ok``: the cells covered) and its transitions into
    episodes (``ctx``: the context their evidence is read through)."""
    st["subjects"].update(obs.subjects)
    st["cells"] += ok.size
    st["ok"] += int(ok.sum())
    in_op = obs.instants >= op_from
    st["op_cells"] += int(in_op.sum()) * len(obs.subjects)
    st["op_ok"] += int(ok[in_op].sum())
    for tr in trs:
        key = id(tr.alert)
        ep = episodes.get(key)
        if ep is None:
            ep = episodes[key] = {
                "rule": rule,
                "subject": tr.subject,
                "alert": tr.alert,
                "since": tr.at_ns,
                "onset": (tr.value, tr.threshold),
                "fired": None,
                "end": None,
                "ctx": ctx,
                "suppressed_by": None,
                "silenced_by": None,
            }
            order.append(key)
        if tr.to_state == AlertState.FIRING and ep["fired"] is None:
            ep["fired"], ep["ctx"] = tr.at_ns, ctx
        if tr.to_state == AlertState.RESOLVED:
            ep["end"] = tr.at_ns


def _mark_muted(episodes: dict[int, dict[str, Any]], shown: list[Shown]) -> None:
    """A muted breach is still a breach: it is listed, with what muted it — ``suppressed_by`` when
    the operator alert was suppressed, ``silenced_by`` when the rule is regulator-notifiable, so
    only operator channels were muted and the central bank was told all the same."""
    by_subject: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for ep in episodes.values():
        by_subject.setdefault((ep["rule"].id, ep["subject"]), []).append(ep)
    for sh in shown:
        if sh.muted is None or sh.to_state not in (AlertState.SUPPRESSED, AlertState.FIRING):
            continue
        field = "suppressed_by" if sh.to_state == AlertState.SUPPRESSED else "silenced_by"
        for ep in by_subject.get((sh.rule_id, sh.subject), []):
            if ep["since"] <= sh.at_ns and (ep["end"] is None or sh.at_ns <= ep["end"]):
                ep[field] = ep[field] or sh.muted


def _must_have_evidence(rule: Rule) -> bool:
    return rule.regulator_notifiable or rule.severity == "critical"


def _evidence_priority(ep: dict[str, Any]) -> tuple[bool, int, int]:
    """Regulator-notifiable first, then by severity, then oldest first."""
    rule = ep["rule"]
    return (not rule.regulator_notifiable, _SEVERITY_RANK.get(rule.severity, 9), ep["fired"])


def _verdict(
    has_subjects: bool,
    breached: bool,
    coverage: float | None,
    min_coverage: float,
    order_in_progress: bool,
) -> str:
    """One of compliant, breached, insufficient_data (inputs present for less than ``min_coverage``
    % of the time in operation), not_in_operation, in_progress (a curtailment order still running at
    period end, not breached so far) or not_applicable (nothing to judge)."""
    if breached:
        return "breached"
    if not has_subjects:
        return "not_applicable"
    if coverage is None:
        return "not_in_operation"
    if coverage < min_coverage:
        return "insufficient_data"
    return "in_progress" if order_in_progress else "compliant"


def build_report(
    cfg: FacilityConfig,
    store: TelemetryStore,
    alert_store: AlertStore | None,
    profile: ComplianceProfile | str | None,
    start_ns: int,
    end_ns: int,
    device_profiles: dict[str, DeviceProfile] | None = None,
    report_step_s: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    read: Literal["auto", "raw", "rollup", "screened"] = "auto",
) -> dict[str, Any]:
    """The compliance report for ``[start_ns, end_ns)`` as a JSON-ready dict (see
    report.schema.json). ``progress(done_ns, total_ns)`` is called after each replayed chunk (a
    day), so a long report can show how far it is. ``read``: rules evaluate on every raw sample, or
    on store-side roll-ups at each rule's step (``analyzer/rollup_read.py``: the same bucket
    statistics, read without moving every sample into Python), or ``screened`` on the store's hourly
    roll-ups, each rule evaluated in full only for the devices whose hours could breach it
    (``analyzer/screen.py``; on a store without hourly roll-ups this is ``rollup``); ``auto``
    screens periods over ``ROLLUP_AFTER_S``. Every way gives the same breaches, verdicts and
    coverage, and raw samples are read around each breach for its evidence."""
    if end_ns <= start_ns:
        raise ValueError("report period: end must be after start")
    if profile is None or isinstance(profile, str):
        profile = load_compliance_profile(profile or cfg.analysis.compliance_profile, cfg.base_dir)
    if device_profiles is None:
        device_profiles = device_profiles_for(cfg)
    step_s = report_step_s if report_step_s is not None else cfg.analysis.report_step_s
    if read == "auto":
        read = "screened" if end_ns - start_ns > ROLLUP_AFTER_S * 10**9 else "raw"
    rollup = read != "raw"
    evaluator = {"raw": Evaluator, "rollup": RollupEvaluator, "screened": ScreenedEvaluator}[read]
    ev = evaluator(cfg, store, profile, device_profiles, alert_store)
    devices = store.devices()
    # evidence is read after the replay, through one context holding no chunk's telemetry, so the
    # memory of a long report stays that of one chunk
    evidence_ctx = ev.context(step_s, devices, start_ns)
    problems: list[str] = []

    operation_ns = operation_start_ns(cfg, devices)
    # instants at or after this are in operation (none when the facility never operated)
    op_from = end_ns if operation_ns is None else max(operation_ns, start_ns)

    stats: dict[str, dict[str, Any]] = {
        r.id: {"subjects": set(), "cells": 0, "ok": 0, "op_cells": 0, "op_ok": 0} for r in ev.rules
    }
    episodes: dict[int, dict[str, Any]] = {}
    order: list[int] = []
    coverage_of = Coverage(profile.records.min_completeness_pct)
    for results, shown in ev.replay_shown(start_ns, end_ns - 1, step_s):
        for rule, obs, trs, ctx in results:
            ok = coverage_of(ctx, rule, obs)
            _tally(stats[rule.id], obs, op_from, episodes, order, rule, trs, evidence_ctx, ok)
            problems.extend(p for p in ctx.problems if p not in problems)
            ctx.problems.clear()
        _mark_muted(episodes, shown)
        if progress is not None and results:
            done = max(int(obs.instants[-1]) for _, obs, _, _ in results if len(obs.instants))
            progress(done - start_ns, end_ns - start_ns)
    if progress is not None:
        progress(end_ns - start_ns, end_ns - start_ns)

    fired = [episodes[k] for k in order if episodes[k]["fired"] is not None]
    with_evidence = {id(ep) for ep in sorted(fired, key=_evidence_priority)[:MAX_EVIDENCE]}
    with_evidence |= {id(ep) for ep in fired if _must_have_evidence(ep["rule"])}
    breaches = []
    per_rule: dict[str, list[dict[str, Any]]] = {r.id: [] for r in ev.rules}
    model_of = dict(zip(devices["device"], devices["model"], strict=True))
    for ep in fired:
        rule, alert = ep["rule"], ep["alert"]
        end = ep["end"]
        dur = ((end if end is not None else end_ns) - ep["fired"]) / 1e9
        # the side the condition broke: below its threshold at onset = a low-side breach, whose
        # extreme is the minimum, stated against that side's limit
        onset_value, onset_threshold = ep["onset"]
        low = onset_value < onset_threshold
        peak = alert.peak_min if low else alert.peak_max
        evidence = (
            ev.evidence(ep["ctx"], rule, ep["subject"], ep["fired"]).model_dump(mode="json")
            if id(ep) in with_evidence
            else None
        )
        b = {
            "rule_id": rule.id,
            "subject": ep["subject"],
            "severity": rule.severity,
            "regulator_notifiable": rule.regulator_notifiable,
            "condition_since": iso(ep["since"]),
            "start": iso(ep["fired"]),
            "end": iso(end),
            "start_ns": ep["fired"],
            "end_ns": end,
            "open_at_period_end": end is None,
            "duration_s": _num(dur, 3),
            "peak": _num(peak),
            "threshold": _num(onset_threshold),
            "unit": str(getattr(rule.p, "unit", "") or ""),
            "threshold_source": _threshold_source(rule),
            "evidence": evidence,
            "suppressed_by": ep["suppressed_by"],
            "silenced_by": ep["silenced_by"],
            "generic_limits": _generic_limits(rule, model_of.get(ep["subject"]), device_profiles),
        }
        breaches.append(b)
        per_rule[rule.id].append(b)
    breaches.sort(key=lambda b: (b["start_ns"], b["rule_id"], b["subject"]))
    if len(with_evidence) < len(breaches):
        problems.append(
            f"evidence attached to {len(with_evidence)} of {len(breaches)} breaches (every "
            "regulator-notifiable or critical one, then by severity up to "
            f"{MAX_EVIDENCE})"
        )

    orders = _orders(cfg, store, profile, alert_store, start_ns, end_ns, breaches, devices)
    in_progress = any(o["verdict"] == "in_progress" for o in orders)
    min_cov = cfg.analysis.min_coverage_pct
    rules = []
    for rule in profile.active_rules:
        st, bs = stats[rule.id], per_rule[rule.id]
        coverage = 100 * st["op_ok"] / st["op_cells"] if st["op_cells"] else None
        verdict = _verdict(
            bool(st["subjects"]),
            bool(bs),
            coverage,
            min_cov,
            in_progress and rule.kind == "schedule",
        )
        rules.append(
            {
                "rule_id": rule.id,
                "title": rule.title,
                "kind": rule.kind,
                "family": rule.family,
                "severity": rule.severity,
                "regulator_notifiable": rule.regulator_notifiable,
                "source": rule.source,
                "step_s": ev.step_ns(rule, step_s) / 1e9,
                "subjects": len(st["subjects"]),
                "status": _STATUS[verdict],
                "verdict": verdict,
                "breaches": len(bs),
                "breach_seconds": _num(sum(b["duration_s"] for b in bs), 3),
                "data_coverage_pct": _num(100 * st["ok"] / st["cells"], 3) if st["cells"] else None,
                "coverage_in_operation_pct": _num(coverage, 3),
                "coverage_required_pct": min_cov,
            }
        )
    not_judged = [
        {
            "rule_id": r["rule_id"],
            "verdict": r["verdict"],
            "coverage_pct": r["coverage_in_operation_pct"],
        }
        for r in rules
        if r["verdict"] in ("insufficient_data", "not_in_operation")
    ]
    if operation_ns is None:
        problems.append(
            "the facility has no telemetry and no commissioning date (facility.commissioned): "
            "the whole period is 'not in operation'"
        )

    if not profile.records.meters.pick(devices):
        problems.append(
            "no metering device matches records.meters: every hour's energy and demand is the "
            "maximum-potential substitute (licensed capacity x 1 h)"
        )
    hourly = hourly_records(cfg, store, profile, start_ns, end_ns, devices)
    energy = _energy(cfg, hourly)
    report: dict[str, Any] = {
        "schema": "minewatch.report/1",
        "facility": {
            "id": cfg.facility.id,
            "name": cfg.facility.name,
            "licence_number": cfg.licence.number,
            "licensed_capacity_kw": cfg.licence.capacity_kw,
            "region": cfg.licence.region,
            "timezone": cfg.timezone,
        },
        "profile": {
            "id": profile.id,
            "title": profile.title,
            "version": profile.version,
            "jurisdiction": profile.jurisdiction,
            "disclaimer": profile.disclaimer,
        },
        "period": {
            "start": iso(start_ns),
            "end": iso(end_ns),
            "start_ns": start_ns,
            "end_ns": end_ns,
        },
        "operation": {
            "start": iso(operation_ns),
            "start_ns": operation_ns,
            "commissioned": (
                cfg.facility.commissioned.isoformat() if cfg.facility.commissioned else None
            ),
            "not_in_operation_s": _num((op_from - start_ns) / 1e9, 3),
            "in_operation_pct": _num(100 * (end_ns - op_from) / (end_ns - start_ns), 3),
        },
        "evaluation": {
            "read": "rollup" if rollup else "raw",
            "resolution_s": min((ev.step_ns(r, step_s) / 1e9 for r in ev.rules), default=step_s),
            "note": _EVALUATION_NOTES[read],
        },
        "not_judged": not_judged,
        "summary": {
            "rules_not_judged": len(not_judged),
            "rules_insufficient_data": sum(r["verdict"] == "insufficient_data" for r in rules),
            "rules_not_in_operation": sum(r["verdict"] == "not_in_operation" for r in rules),
            "rules_compliant": sum(r["verdict"] == "compliant" for r in rules),
            "rules": len(rules),
            "rules_breached": sum(r["status"] == "breached" for r in rules),
            "rules_no_data": sum(r["status"] == "no_data" for r in rules),
            "breaches": len(breaches),
            "regulator_notifiable_breaches": sum(b["regulator_notifiable"] for b in breaches),
            "energy_kwh": energy["total_kwh"],
            "peak_demand_kw": energy["peak_demand_kw"],
            "curtailment_orders": len(orders),
        },
        "rules": rules,
        "breaches": breaches,
        "energy": energy,
        "hourly": hourly,
        "curtailment": orders,
        "data_availability": monthly_availability(cfg, store, profile, start_ns, end_ns, devices),
        "equipment": _equipment(ev, devices, start_ns, end_ns),
        "problems": problems,
    }
    report["sha256"] = report_sha256(report)
    return report


def canonical(report: dict[str, Any]) -> bytes:
    body = {k: v for k, v in report.items() if k != "sha256"}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)


def report_sha256(report: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(report)).hexdigest()


def verify(report: dict[str, Any]) -> bool:
    """True when the report's stated SHA-256 matches its content."""
    return report.get("sha256") == report_sha256(report)


def to_json(report: dict[str, Any]) -> bytes:
    return (
        orjson.dumps(
            report, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY
        )
        + b"\n"
    )


def _energy(cfg: FacilityConfig, hourly: list[dict[str, Any]]) -> dict[str, Any]:
    vals = [h["energy_kwh"]["value"] or 0.0 for h in hourly]
    measured = [h["energy_kwh"]["value"] or 0.0 for h in hourly if h["valid"]]
    peaks = [
        (h["peak_demand_kw"]["value"], h["hour"])
        for h in hourly
        if h["peak_demand_kw"]["value"] is not None
    ]
    peak, peak_hour = max(peaks) if peaks else (None, None)
    cap = cfg.licence.capacity_kw
    return {
        "total_kwh": _num(sum(vals), 3),
        "measured_kwh": _num(sum(measured), 3),
        "substituted_kwh": _num(sum(vals) - sum(measured), 3),
        "hours": len(hourly),
        "valid_hours": sum(h["valid"] for h in hourly),
        "substituted_hours": sum(h["energy_kwh"]["quality"] == "S" for h in hourly),
        "not_in_operation_hours": sum(not h.get("in_operation", True) for h in hourly),
        "peak_demand_kw": _num(peak, 3),
        "peak_hour": peak_hour,
        "licensed_capacity_kw": cap,
        "peak_utilisation_pct": _num(peak / cap * 100, 3) if peak is not None else None,
    }


def _orders(
    cfg: FacilityConfig,
    store: TelemetryStore,
    profile: ComplianceProfile,
    alert_store: AlertStore | None,
    start_ns: int,
    end_ns: int,
    breaches: list[dict[str, Any]],
    devices: pd.DataFrame,
) -> list[dict[str, Any]]:
    """Each order in the period and the response: when the facility's 1-minute load first reached
    the target."""
    if alert_store is None:
        return []
    rec = profile.records
    meters = rec.meters.pick(devices)
    out = []
    for o in curtailment.orders(alert_store, start_ns, end_ns):
        reached = None
        if meters:
            df = store.query(
                o["starts_at_ns"],
                o["ends_at_ns"],
                devices=meters,
                metrics=[rec.metric],
                step_ns=60 * 10**9,
                agg="mean",
            )
            if not df.empty:
                load = df.groupby("ts")["value"].sum() * rec.scale_to_kw
                hit = load[load <= o["target_kw"]]
                # the minute bucket is complete at its end: that is when the target is known to be
                # met
                reached = int(hit.index[0]) + 60 * 10**9 if len(hit) else None
        n = sum(1 for b in breaches if b["subject"] == f"order:{o['id']}")
        resp = None if reached is None else max(0.0, (reached - o["starts_at_ns"]) / 1e9)
        verdict = _order_verdict(o, n, resp, meters, end_ns)
        out.append(
            {
                "order_id": o["id"],
                "target_kw": o["target_kw"],
                "start": iso(o["starts_at_ns"]),
                "end": iso(o["ends_at_ns"]),
                "response_s": o["response_s"],
                "issued_by": o["issued_by"],
                "reason": o["reason"],
                "reached_target_at": iso(reached),
                "actual_response_s": resp,
                "breaches": n,
                "verdict": verdict,
                "compliant": verdict == "compliant",
            }
        )
    return out


def _order_verdict(
    order: dict[str, Any], breaches: int, response_s: float | None, meters: list[str], end_ns: int
) -> str:
    """One verdict per order, the same the schedule rule reaches: breached when the rule found a
    breach; in_progress while the order (or its response window) is still open at period end;
    insufficient_data with no meter to judge by; compliant when the target was reached in time (a
    late first minute-mean below target with no breach is the rule's tolerance at work)."""
    if breaches:
        return "breached"
    if order["ends_at_ns"] > end_ns or order["starts_at_ns"] + order["response_s"] * 1e9 >= end_ns:
        return "in_progress"
    if not meters or response_s is None:
        return "insufficient_data"
    return "compliant"


def _equipment(ev: Evaluator, devices: pd.DataFrame, start_ns: int, end_ns: int) -> dict[str, Any]:
    reg = ev.registry
    if reg is None:
        return {
            "unregistered_online": [],
            "registered_never_seen": [],
            "model_mismatch": [],
            "registry_configured": False,
        }
    miners = devices[devices["kind"] == "asic_miner"]
    seen = miners[
        (miners["last_seen"].fillna(-1) >= start_ns)
        & (miners["first_seen"].fillna(np.inf) < end_ns)
    ]
    seen_ids = set(seen["device"])
    mism = [
        {"device": d, "registered_model": reg[d].model, "reported_model": m}
        for d, m in zip(seen["device"], seen["model"], strict=True)
        if d in reg and m and m != reg[d].model
    ]
    return {
        "unregistered_online": sorted(seen_ids - set(reg)),
        "registered_never_seen": sorted(
            set(reg) - set(devices.loc[devices["first_seen"].notna(), "device"])
        ),
        "model_mismatch": sorted(mism, key=lambda x: x["device"]),
        "registry_configured": True,
    }


def to_csv(report: dict[str, Any]) -> str:
    """Every breach, one row each (the part inspectors sort and filter)."""
    buf = io.StringIO()
    cols = [
        "rule_id",
        "subject",
        "severity",
        "regulator_notifiable",
        "condition_since",
        "start",
        "end",
        "duration_s",
        "peak",
        "threshold",
        "unit",
        "threshold_source",
    ]
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for b in report["breaches"]:
        w.writerow(["" if b[c] is None else b[c] for c in cols])
    return buf.getvalue()


_ORDER_WORDS = {
    "compliant": "compliant",
    "breached": "NOT compliant",
    "in_progress": "in progress at period end",
    "insufficient_data": "cannot be judged (no meter data)",
}


def _not_judged_lines(report: dict[str, Any]) -> list[str]:
    """What the report could not judge, said before anything it did judge."""
    op = report["operation"]
    lines = []
    if op["not_in_operation_s"]:
        lines.append(
            f"NOT IN OPERATION for {op['not_in_operation_s']} s of the period (operation from "
            f"{op['start'] or 'never'}): not judged, nothing substituted"
        )
    for r in report["not_judged"]:
        why = (
            "not in operation"
            if r["verdict"] == "not_in_operation"
            else f"insufficient data: {_shown(r['coverage_pct'], '%')} coverage"
        )
        lines.append(f"NOT JUDGED {r['rule_id']}: {why}")
    return lines


def _shown(v: Any, unit: str = "") -> str:
    """A value as a person reads it: ``no data`` rather than Python's ``None``."""
    if v is None:
        return "no data"
    return f"{v:g} {unit}".rstrip() if isinstance(v, float) else f"{v} {unit}".rstrip()


def _breach_value(b: dict[str, Any], kind: str) -> str:
    """What was wrong: a flag rule (``event``) is a state that was raised, not a number against a
    threshold of 0.5; a measured rule gives its extreme against its limit."""
    if kind == "event":
        return "raised"
    return f"peak {_shown(b['peak'], b['unit'])} (limit {_shown(b['threshold'], b['unit'])})"


def _muted_words(b: dict[str, Any]) -> str:
    if b.get("suppressed_by"):
        return f"  operator alert suppressed: {b['suppressed_by']}"
    if b.get("silenced_by"):
        return f"  operator channels muted, regulator notified: {b['silenced_by']}"
    return ""


def to_text(report: dict[str, Any], *, generated_at: str | None = None) -> str:
    """The report for a terminal or a printout. ``generated_at`` and the software version head it:
    they describe this rendering, not the report, whose SHA-256 covers its content only."""
    f, p, e = report["facility"], report["period"], report["energy"]
    kinds = {r["rule_id"]: r["kind"] for r in report["rules"]}
    lines = [
        f"Compliance report — {f['name']} ({f['id']}), licence {f['licence_number']}",
        f"Period {p['start']} .. {p['end']}   profile {report['profile']['id']} "
        f"v{report['profile']['version']}",
        f"Generated {generated_at or rfc3339(time.time_ns())} by minewatch {__version__}",
        f"  {report['profile']['disclaimer']}",
        "",
        *_not_judged_lines(report),
        "",
        f"Energy {_shown(e['total_kwh'], 'kWh')} ({_shown(e['substituted_kwh'], 'kWh')} "
        f"substituted in {e['substituted_hours']} of {e['hours']} h); peak demand "
        f"{_shown(e['peak_demand_kw'], 'kW')} vs licensed {_shown(e['licensed_capacity_kw'], 'kW')}"
        f" ({_shown(e['peak_utilisation_pct'], '%')})",
        "",
        f"{'rule':<10} {'verdict':<18} {'breaches':>8} {'breach s':>10} {'coverage %':>10}  title",
    ]
    for r in report["rules"]:
        lines.append(
            f"{r['rule_id']:<10} {r['verdict']:<18} {r['breaches']:>8} {r['breach_seconds']:>10} "
            f"{_shown(r['coverage_in_operation_pct']):>10}  {r['title']}"
        )
    if report["breaches"]:
        lines += ["", "Breaches:"]
        for b in report["breaches"][:100]:
            lines.append(
                f"  {b['start']}  {b['rule_id']:<8} {b['subject']:<20} {b['duration_s']:>9} s  "
                f"{_breach_value(b, kinds.get(b['rule_id'], ''))}"
                + ("  (generic limits)" if b.get("generic_limits") else "")
                + ("  [regulator]" if b["regulator_notifiable"] else "")
                + ("" if b["end"] else "  (still open at period end)")
                + _muted_words(b)
            )
        if len(report["breaches"]) > 100:
            lines.append(f"  … and {len(report['breaches']) - 100} more (see JSON/CSV)")
    for o in report["curtailment"]:
        lines.append(
            f"Curtailment order {o['order_id']}: {o['target_kw']} kW {o['start']}..{o['end']}, "
            f"reached {o['reached_target_at'] or 'not yet'} ({_shown(o['actual_response_s'])} s of "
            f"{o['response_s']} s allowed): {_ORDER_WORDS[o['verdict']]}"
        )
    eq = report["equipment"]
    if eq["registry_configured"]:
        lines.append(
            f"Unregistered equipment online: {', '.join(eq['unregistered_online']) or 'none'}"
        )
    for p_ in report["problems"]:
        lines.append(f"Note: {p_}")
    lines += ["", f"SHA-256 {report['sha256']}"]
    return "\n".join(lines) + "\n"
