"""The evaluation engine. ``Evaluator`` runs a rule over a sequence of instants (a period report
runs
whole periods in chunks); ``Analyzer`` is the live loop: every ``analysis.interval_s`` it evaluates
the
instants that elapsed since the last cycle — the incremental case of the same code — and persists
and
publishes each alert transition, with silences, inhibition and acknowledgements layered on top."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from minewatch.analyzer import curtailment
from minewatch.analyzer.context import EvalContext, RawCache, rule_step_ns
from minewatch.analyzer.hourly import HOUR, hourly_records
from minewatch.analyzer.lifecycle import AlertState, Transition, run
from minewatch.analyzer.profile import ComplianceProfile, Rule, load_compliance_profile, ns
from minewatch.analyzer.rules.kinds import KINDS
from minewatch.analyzer.rules.base import Obs
from minewatch.analyzer.state import AlertStore
from minewatch.config.facility import FacilityConfig
from minewatch.counters import Counters
from minewatch.events import Event, EventBus
from minewatch.profiles import DeviceProfile
from minewatch.registry import RegistryEntry, load_registry
from minewatch.sample import now_ns
from minewatch.store.base import TelemetryStore

log = logging.getLogger(__name__)

EVIDENCE_POINTS = 240
EVIDENCE_PER_CYCLE = 500
HOURLY_CURSOR = "~hourly"


class Evaluator:
    """Rule evaluation over stored data, with no side effects: the part live and historical share."""

    def __init__(
        self,
        cfg: FacilityConfig,
        store: TelemetryStore,
        profile: ComplianceProfile,
        device_profiles: dict[str, DeviceProfile],
        alert_store: AlertStore | None = None,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.profile = profile
        self.device_profiles = device_profiles
        self.alert_store = alert_store
        self.registry: dict[str, RegistryEntry] | None = (
            load_registry(cfg.path(cfg.registry)) if cfg.registry else None
        )
        # inhibition sources first, so their state is current when their targets are evaluated
        sources = {i.source for i in profile.inhibit}
        self.rules = sorted(profile.active_rules, key=lambda r: r.id not in sources)

    def step_ns(self, rule: Rule, report_step_s: float | None = None) -> int:
        return rule_step_ns(rule, self.cfg, report_step_s)

    def context(
        self,
        report_step_s: float | None = None,
        devices: pd.DataFrame | None = None,
        watch_start_ns: int | None = None,
    ) -> EvalContext:
        orders = curtailment.orders(self.alert_store) if self.alert_store is not None else []
        devs = self.store.devices() if devices is None else devices
        return EvalContext(
            self.cfg,
            self.store,
            devs,
            self.device_profiles,
            self.registry,
            orders,
            report_step_s,
            watch_start_ns,
        )

    def prefetch(
        self, ctx: EvalContext, plan: dict[str, np.ndarray], cache: RawCache | None = None
    ) -> None:
        """One store query per metric covering the look-back of every rule that reads it."""
        starts: dict[str, int] = {}
        end = 0
        for rule in self.rules:
            instants = plan.get(rule.id)
            if instants is None or not len(instants):
                continue
            kind = KINDS[rule.kind]
            start = int(instants[0]) - ns(kind.lookback_s(rule)) - 2 * ctx.step_ns(rule)
            end = max(end, int(instants[-1]))
            for m in kind.metrics(rule):
                starts[m] = min(starts.get(m, start), start)
        ctx.prefetch(starts, end, cache)

    def evaluate(self, ctx: EvalContext, rule: Rule, instants: np.ndarray) -> Obs:
        return KINDS[rule.kind].evaluate(ctx, rule, instants)

    def evidence(self, ctx: EvalContext, rule: Rule, subject: str, at_ns: int) -> dict[str, Any]:
        """The series around onset: raw points of the subject's metric (or the facility total)
        before ``at_ns``."""
        kind = KINDS[rule.kind]
        metric = kind.evidence_metric(rule)
        if metric is None:
            return {"metric": None, "points": []}
        span = ns(min(max(600.0, rule.for_ + kind.lookback_s(rule)), 86400.0))
        start, end = at_ns - span, at_ns + 1
        sel = kind.evidence_selector(rule)
        if sel is not None:
            step = max(ctx.step_ns(rule), span // EVIDENCE_POINTS)
            df = ctx.aggregated(metric, ctx.pick(sel), start, end, step, "mean")
            pts = df.groupby("ts", sort=True)["value"].sum()
            points = [[int(t), round(float(v), 6)] for t, v in pts.items()]
            return {
                "metric": metric,
                "aggregate": "sum of device means",
                "step_ns": step,
                "points": points,
            }
        df = self.store.query(start, end, devices=[subject], metrics=[metric])
        stride = max(1, -(-len(df) // EVIDENCE_POINTS))
        df = df.iloc[::-1].iloc[::stride].iloc[::-1]  # thin evenly, always keeping the newest point
        return {
            "metric": metric,
            "points": [[int(t), round(float(v), 6)] for t, v in zip(df["ts"], df["value"])],
        }

    def replay(
        self, start_ns: int, end_ns: int, report_step_s: float | None = None, chunk_s: float = 86400
    ) -> Iterator[tuple[Rule, Obs, list[Transition], EvalContext]]:
        """Evaluate every rule over ``[start_ns, end_ns]`` in chunks, carrying alert state across
        chunks.

        Yields per rule and chunk the observations and the transitions (each holds its episode's
        state).
        """
        states: dict[str, dict[str, AlertState]] = {r.id: {} for r in self.rules}
        grids = {}
        for rule in self.rules:
            step = self.step_ns(rule, report_step_s)
            first = -(-start_ns // step) * step
            grids[rule.id] = (first, step)
        t = start_ns
        chunk = ns(chunk_s)
        devices = self.store.devices()
        while t <= end_ns:
            t_end = min(end_ns, t + chunk - 1)
            plan = {}
            for rule in self.rules:
                first, step = grids[rule.id]
                a = max(first, -(-t // step) * step)
                plan[rule.id] = np.arange(a, t_end + 1, step, dtype=np.int64)
            ctx = self.context(
                report_step_s, devices, watch_start_ns=start_ns
            )  # a report watches from its start
            self.prefetch(ctx, plan)
            for rule in self.rules:
                instants = plan[rule.id]
                if not len(instants):
                    continue
                obs = self.evaluate(ctx, rule, instants)
                yield rule, obs, run(obs, rule, states[rule.id]), ctx
            t = t_end + 1


class Analyzer:
    """The live loop (``start``/``stop``/``stats``), or one cycle at a time with ``evaluate_once``."""

    def __init__(
        self,
        cfg: FacilityConfig,
        store: TelemetryStore,
        alert_store: AlertStore,
        bus: EventBus | None,
        profiles: dict[str, DeviceProfile],
        clock: Callable[[], int] = now_ns,
        compliance: ComplianceProfile | None = None,
        actor: str = "analyzer",
    ) -> None:
        self.cfg = cfg
        self.alert_store = alert_store
        self.bus = bus
        self.clock = clock
        self.actor = actor
        self.profile = compliance or load_compliance_profile(
            cfg.analysis.compliance_profile, cfg.base_dir
        )
        self.evaluator = Evaluator(cfg, store, self.profile, profiles, alert_store)
        self.counters = Counters()
        self._states = {r.id: {} for r in self.evaluator.rules} | alert_store.open_states()
        self._effective = {
            (r["rule_id"], r["subject"]): r["state"] for r in alert_store.list_alerts("open", 10**9)
        }
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_cycle_ms = 0.0
        self._last_eval_ns: int | None = None
        self._cache = RawCache(ns(cfg.analysis.late_window_s))
        self._started_ns: int | None = None
        self._silences: list[dict[str, Any]] = []
        self._outbox: list[Event] = []
        self._warned: set[str] = set()
        self._units = {r.id: str(getattr(r.p, "unit", "") or "") for r in self.evaluator.rules}
        self._evidence_budget = EVIDENCE_PER_CYCLE
        self._devices_at: tuple[int, pd.DataFrame, pd.Index] | None = None

    def _devices(self, now: int, force: bool = False) -> pd.DataFrame:
        """The device table: read at the first cycle, then every ``devices_refresh_s`` (30k rows
        cost more
        than a rule) or at once when ``force`` (samples name a device the table lacks)."""
        if (
            force
            or self._devices_at is None
            or not 0 <= now - self._devices_at[0] < ns(self.cfg.analysis.devices_refresh_s)
        ):
            devices = self.evaluator.store.devices()
            # ids that forced a refresh and are still not in the table (a backend listing only
            # devices with
            # metadata) are remembered, so they do not force a re-read every cycle
            known = pd.Index(devices["device"])
            if self._devices_at is not None:
                known = known.union(self._devices_at[2])
            if force:
                known = known.append(self._cache.devices_read).unique()
            self._devices_at = (now, devices, known)
            self.counters.inc("device_table_reads_total", reason="forced" if force else "periodic")
        return self._devices_at[1]

    def _unknown_devices_read(self) -> bool:
        """Whether the samples just read name a device the table lacks (a rig that came up since it
        was read)."""
        known = self._devices_at[2] if self._devices_at is not None else pd.Index([])
        return any(not idx.isin(known).all() for idx in self._cache.devices_read)

    # ------------------------------------------------------------------ loop
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="analyzer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.evaluate_once()
            except Exception:  # the loop must survive a bad cycle (store down, bug in one rule)
                self.counters.inc("cycle_errors_total")
                log.exception("analyzer cycle failed")
            self._stop.wait(self.cfg.analysis.interval_s)

    def stats(self) -> dict[str, Any]:
        return {
            "cycles": self.counters.get("cycles_total"),
            "last_cycle_ms": round(self._last_cycle_ms, 1),
            "problems": sorted(self._warned),
            "last_eval_ns": self._last_eval_ns,
            "open_alerts": sum(len(s) for s in self._states.values()),
            "rules": len(self.evaluator.rules),
            **self.counters.snapshot(),
        }

    # ------------------------------------------------------------------ one cycle
    def plan(self, now: int) -> dict[str, np.ndarray]:
        """Instants each rule evaluates now: those elapsed since its cursor (bounded by
        ``catchup_s``)."""
        plan = {}
        catchup = ns(self.cfg.analysis.catchup_s)
        for rule in self.evaluator.rules:
            step = self.evaluator.step_ns(rule)
            t_end = (now // step) * step
            last = self.alert_store.cursor(rule.id)
            first = t_end if last is None else max(last + step, t_end - catchup // step * step)
            plan[rule.id] = np.arange(first, t_end + 1, step, dtype=np.int64)
        return plan

    def evaluate_once(self, now_ns: int | None = None) -> list[dict[str, Any]]:
        """Evaluate every rule up to ``now_ns``; returns the alert transitions recorded (as event
        payloads)."""
        now = self.clock() if now_ns is None else now_ns
        t0 = time.perf_counter()
        published: list[dict[str, Any]] = []
        with self._lock:
            plan = self.plan(now)
            self._silences = self.alert_store.silences()
            self._evidence_budget = EVIDENCE_PER_CYCLE
            if self._started_ns is None:
                self._started_ns = now
            ctx = self.evaluator.context(
                devices=self._devices(now), watch_start_ns=self._started_ns
            )
            self.evaluator.prefetch(ctx, plan, self._cache)
            if self._unknown_devices_read():
                ctx = ctx.with_devices(self._devices(now, force=True))
            self._outbox = []
            try:
                with self.alert_store.batch():  # one commit per cycle, however many transitions
                    published += self._cycle(ctx, plan, now)
            except BaseException:
                # nothing of this cycle was stored: forget its in-memory steps too, retry next cycle
                self._states = {
                    r.id: {} for r in self.evaluator.rules
                } | self.alert_store.open_states()
                self._effective = {
                    (r["rule_id"], r["subject"]): r["state"]
                    for r in self.alert_store.list_alerts("open", 10**9)
                }
                raise
            if (
                self.bus is not None
            ):  # after the commit, so a subscriber reading state.db finds the rows
                for event in self._outbox:
                    self.bus.publish(event)
            self._last_eval_ns = now
        self.counters.inc("cycles_total")
        self._last_cycle_ms = (time.perf_counter() - t0) * 1000
        return published

    def _cycle(
        self, ctx: EvalContext, plan: dict[str, np.ndarray], now: int
    ) -> list[dict[str, Any]]:
        published: list[dict[str, Any]] = []
        for rule in self.evaluator.rules:
            instants = plan[rule.id]
            if not len(instants):
                continue
            try:
                obs = self.evaluator.evaluate(ctx, rule, instants)
            except Exception as exc:  # one broken rule must not stop the others
                self.counters.inc("rule_errors_total", reason=rule.id)
                log.exception("rule %s failed: %s", rule.id, exc)
                continue
            for tr in run(obs, rule, self._states[rule.id]):
                published.append(self._record(ctx, rule, tr))
            self.alert_store.set_cursor(rule.id, int(instants[-1]))
        for (
            problem
        ) in ctx.problems:  # e.g. registry rules without a registry: say so once, not every cycle
            if problem not in self._warned:
                self._warned.add(problem)
                log.warning("analyzer: %s", problem)
        published += self._overlay(ctx, now)
        self._publish_hours(now)
        self.alert_store.update_values(
            [s for st in self._states.values() for s in st.values()], now
        )
        return published

    def _publish_hours(self, now: int) -> None:
        """Publish the hourly compliance record of each hour completed since the last one
        (``hourly.record``)."""
        grace = ns(max(60.0, 2 * self.cfg.analysis.interval_s))
        last_complete = (now - grace) // HOUR * HOUR - HOUR  # start of the newest complete hour
        done = self.alert_store.cursor(HOURLY_CURSOR)
        first = last_complete if done is None else max(done + HOUR, last_complete - 23 * HOUR)
        if first > last_complete:
            return
        for rec in hourly_records(
            self.cfg, self.evaluator.store, self.profile, first, last_complete + HOUR
        ):
            self.counters.inc("hourly_records_total")
            self._outbox.append(Event("hourly.record", now, self.actor, f"hour:{rec['hour']}", rec))
        self.alert_store.set_cursor(HOURLY_CURSOR, last_complete)

    # ------------------------------------------------------------------ suppression overlay
    def _suppression(self, rule: Rule, subject: str, at_ns: int) -> str | None:
        """Why operator notifications for this alert are muted right now (silence or parent alert),
        if they are."""
        labels = {
            "rule_id": rule.id,
            "subject": subject,
            "family": rule.family,
            "severity": rule.severity,
        }
        for s in self._silences:
            if s["starts_at_ns"] <= at_ns < s["ends_at_ns"] and all(
                labels.get(k) == v for k, v in s["matchers"].items()
            ):
                return f"{s['kind']} #{s['id']} by {s['author']}: {s['reason']}"
        for inh in self.profile.inhibit:
            if rule.id in inh.targets or rule.family in inh.targets:
                parent = self._states.get(inh.source, {}).get(subject)
                if parent is not None and parent.state == "firing" and inh.source != rule.id:
                    return f"inhibited by {inh.source}:{subject}"
        return None

    @staticmethod
    def _effective_state(rule: Rule, machine_state: str, muted: str | None) -> str:
        """Regulator-notifiable alerts are never suppressed: the mute only flags them
        (``silenced``)."""
        if machine_state == "firing" and muted and not rule.regulator_notifiable:
            return "suppressed"
        return machine_state

    def _record(
        self, ctx: EvalContext, rule: Rule, tr: Transition, reason: str | None = None
    ) -> dict[str, Any]:
        key = (rule.id, tr.subject)
        muted = self._suppression(rule, tr.subject, tr.at_ns) if tr.to_state != "resolved" else None
        to = self._effective_state(rule, tr.to_state, muted)
        frm = self._effective.get(key, "inactive") if tr.from_state != "inactive" else "inactive"
        if self._evidence_budget > 0:
            self._evidence_budget -= 1
            evidence = self.evaluator.evidence(ctx, rule, tr.subject, tr.at_ns)
        else:  # a mass event (a whole hall going silent) must not stall the loop on evidence queries
            evidence = {
                "metric": KINDS[rule.kind].evidence_metric(rule),
                "points": [],
                "omitted": "mass event",
            }
        st = tr.alert
        meta = {
            "rule_title": rule.title,
            "family": rule.family,
            "severity": rule.severity,
            "regulator_notifiable": int(rule.regulator_notifiable),
            "group_key": f"{self.cfg.facility.id}/{rule.family}",
            "unit": self._units[rule.id],
            "source": rule.source,
        }
        row = self.alert_store.record(
            st,
            meta,
            to,
            frm,
            tr.at_ns,
            self.actor,
            reason or tr.reason,
            muted is not None,
            muted,
            evidence,
            resolved=tr.to_state == "resolved",
            value=tr.value,
            threshold=tr.threshold,
        )
        if tr.to_state == "resolved":
            self._effective.pop(key, None)
        else:
            self._effective[key] = to
        return self._publish(
            rule, row, frm, to, tr.at_ns, reason or tr.reason, tr.value, tr.threshold, evidence
        )

    def _publish(
        self,
        rule: Rule,
        row: dict[str, Any],
        frm: str,
        to: str,
        at_ns: int,
        reason: str,
        value: float,
        threshold: float,
        evidence: dict[str, Any] | None,
    ) -> dict[str, Any]:
        payload = {
            "alert_id": row["id"],
            "rule_id": rule.id,
            "rule_title": rule.title,
            "family": rule.family,
            "severity": rule.severity,
            "regulator_notifiable": rule.regulator_notifiable,
            "subject": row["subject"],
            "from_state": frm,
            "to_state": to,
            "value": _json_num(value),
            "threshold": _json_num(threshold),
            "unit": row["unit"],
            "source": rule.source,
            "started_at_ns": row["active_since_ns"],
            "reason": reason,
            "silenced": bool(row["silenced"]),
            "acknowledged": row["ack_by"] is not None,
            "evidence": evidence or {"metric": None, "points": []},
            "notify": list(rule.notify),
            "group_key": row["group_key"],
            "facility_id": self.cfg.facility.id,
            "at_ns": at_ns,
        }
        self.counters.inc("transitions_total", reason=to)
        self._outbox.append(
            Event("alert.transition", at_ns, self.actor, f"{rule.id}:{row['subject']}", payload)
        )
        return payload

    def _overlay(self, ctx: EvalContext, now: int) -> list[dict[str, Any]]:
        """Apply silences/inhibition that started or ended, expired acks, and announce expired
        silences."""
        out: list[dict[str, Any]] = []
        for sil in self.alert_store.newly_expired_silences(now):
            self._outbox.append(
                Event(
                    "silence.expired",
                    now,
                    self.actor,
                    f"silence:{sil['id']}",
                    self.alert_store._silence_payload(sil),
                )
            )
        rules = {r.id: r for r in self.evaluator.rules}
        for rule_id, states in self._states.items():
            rule = rules.get(rule_id)
            if rule is None:
                continue
            for subject, st in states.items():
                if st.state != "firing":
                    continue
                muted = self._suppression(rule, subject, now)
                want = self._effective_state(rule, "firing", muted)
                have = self._effective.get((rule_id, subject))
                if want != have:
                    why = (
                        f"suppressed: {muted}"
                        if want == "suppressed"
                        else "no longer silenced or inhibited; still firing"
                    )
                    tr = Transition(
                        rule_id, subject, now, "firing", "firing", why, st.value, st.threshold, st
                    )
                    out.append(self._record(ctx, rule, tr, why))
        for row in self.alert_store.expired_acks(now):
            self.alert_store.expire_ack(row["id"])
            rule = rules.get(row["rule_id"])
            st = self._states.get(row["rule_id"], {}).get(row["subject"])
            if rule is None or st is None or st.state != "firing":
                continue
            why = f"acknowledgement by {row['ack_by']} expired; still firing"
            tr = Transition(
                rule.id, st.subject, now, "firing", "firing", why, st.value, st.threshold, st
            )
            out.append(self._record(ctx, rule, tr, why))
        return out


def _json_num(v: float | None) -> float | None:
    return None if v is None or v != v else float(v)
