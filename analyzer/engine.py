"""The live analyzer: every ``analysis.interval_s`` it evaluates the instants that elapsed since
the last cycle (``Evaluator``, shared with period reports), steps each rule's state machine, and
records and publishes each alert transition (``TransitionRecorder``), with silences and
inhibition (``Muting``) and expiring acknowledgements layered on top. A cycle commits once; its
events are published after the commit."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minewatch.alerting import AlertState, AlertTransition, silence_event
from minewatch.analyzer.alert_records import CYCLE_CURSOR
from minewatch.analyzer.context import EvalContext, RawCache
from minewatch.analyzer.devices import DeviceTable
from minewatch.analyzer.evaluator import Evaluator
from minewatch.analyzer.hourly import HOUR, hourly_records
from minewatch.analyzer.lifecycle import SubjectState, Transition, run
from minewatch.analyzer.muting import Muting
from minewatch.analyzer.profile import ComplianceProfile, Rule, ns
from minewatch.analyzer.profile_loader import load_compliance_profile
from minewatch.analyzer.recorder import TransitionRecorder
from minewatch.analyzer.state import AlertStore
from minewatch.config.facility import FacilityConfig
from minewatch.counters import Counters
from minewatch.events import Event, EventBus
from minewatch.profiles import DeviceProfile
from minewatch.sample import now_ns
from minewatch.store.base import TelemetryStore

log = logging.getLogger(__name__)

HOURLY_CURSOR = "~hourly"


@dataclass
class LoopStatus:
    """What ``stats()`` reports of the loop besides its counters."""

    last_cycle_ms: float = 0.0
    last_eval_ns: int | None = None
    started_ns: int | None = None  # a missing device is judged only once watched for its window
    problems: set[str] = field(default_factory=set)  # each said once, not every cycle


class Analyzer:
    """The live loop (``start``/``stop``/``stats``), or one cycle at a time with
    ``evaluate_once``."""

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
        self.muting = Muting(self.profile)
        self.recorder = TransitionRecorder(
            cfg.facility.id, alert_store, self.evaluator, self.counters, actor
        )
        self._cache = RawCache(ns(cfg.analysis.late_window_s))
        self.devices = DeviceTable(
            store, cfg.analysis.devices_refresh_s, self._cache, self.counters
        )
        self._states = self._persisted_states()
        self.muting.seed(self._states)
        self.status = LoopStatus()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.store = store
        self._rollups_done_hour: int | None = None

    def _persisted_states(self) -> dict[str, dict[str, SubjectState]]:
        empty: dict[str, dict[str, SubjectState]] = {r.id: {} for r in self.evaluator.rules}
        return empty | self.alert_store.open_states()

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
                self.keep_rollups()
            except Exception:  # the loop must survive a bad cycle (store down, bug in one rule)
                self.counters.inc("cycle_errors_total")
                log.exception("analyzer cycle failed")
            self._stop.wait(self.cfg.analysis.interval_s)

    def keep_rollups(self, now_ns: int | None = None) -> int:
        """Once an hour has closed (and the late window after it), its roll-ups are built here, so
        a long report finds them ready instead of building them; the samples read. Hours that
        late data touch again are rebuilt at the next hour (or by the report that reads them)."""
        now = self.clock() if now_ns is None else now_ns
        closed = (now - ns(self.cfg.analysis.late_window_s)) // HOUR * HOUR
        if closed == self._rollups_done_hour:
            return 0
        read = self.store.materialise_rollups(before_ns=closed)
        self._rollups_done_hour = closed
        self.counters.inc("rollup_samples_total", read)
        return read

    def stats(self) -> dict[str, Any]:
        return {
            "cycles": self.counters.get("cycles_total"),
            "last_cycle_ms": round(self.status.last_cycle_ms, 1),
            "problems": sorted(self.status.problems),
            "last_eval_ns": self.status.last_eval_ns,
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

    def evaluate_once(self, now_ns: int | None = None) -> list[AlertTransition]:
        """Evaluate every rule up to ``now_ns``; returns the alert transitions recorded."""
        now = self.clock() if now_ns is None else now_ns
        t0 = time.perf_counter()
        with self._lock:
            plan = self.plan(now)
            self.muting.silences = self.alert_store.silences()
            self.recorder.begin_cycle()
            if self.status.started_ns is None:
                self.status.started_ns = now
            ctx = self.evaluator.context(
                devices=self.devices.get(now), watch_start_ns=self.status.started_ns
            )
            self.evaluator.prefetch(ctx, plan, self._cache)
            if self.devices.unknown_devices_read():
                ctx = ctx.with_devices(self.devices.get(now, force=True))
            try:
                with self.alert_store.batch():  # one commit per cycle, however many transitions
                    published = self._cycle(ctx, plan, now)
            except BaseException:
                # nothing of this cycle was stored: forget its in-memory steps too, retry next cycle
                self._states = self._persisted_states()
                self.recorder.reload()
                raise
            # after the commit, so a subscriber reading state.db finds the rows
            if self.bus is not None:
                for event in self.recorder.outbox:
                    self.bus.publish(event)
            self.status.last_eval_ns = now
            self.alert_store.set_cursor(CYCLE_CURSOR, now)  # the heartbeat's proof of life
        self.counters.inc("cycles_total")
        self.status.last_cycle_ms = (time.perf_counter() - t0) * 1000
        return published

    def _cycle(
        self, ctx: EvalContext, plan: dict[str, np.ndarray], now: int
    ) -> list[AlertTransition]:
        published: list[AlertTransition] = []
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
                self.muting.observe(tr)
                published.append(self._record(ctx, rule, tr, tr.reason))
            self.alert_store.set_cursor(rule.id, int(instants[-1]))
        # e.g. registry rules without a registry: say so once, not every cycle
        for problem in ctx.problems:
            if problem not in self.status.problems:
                self.status.problems.add(problem)
                log.warning("analyzer: %s", problem)
        published += self._overlay(ctx, now)
        self._publish_hours(now)
        self.alert_store.update_values(
            [s for st in self._states.values() for s in st.values()], now
        )
        return published

    def _record(self, ctx: EvalContext, rule: Rule, tr: Transition, reason: str) -> AlertTransition:
        muted = (
            None
            if tr.to_state == AlertState.RESOLVED
            else self.muting.reason(rule, tr.subject, tr.at_ns)
        )
        to = self.muting.effective(rule, tr.to_state, muted)
        return self.recorder.record(ctx, rule, tr, to, muted, reason)

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
            self.recorder.emit(Event("hourly.record", now, self.actor, f"hour:{rec['hour']}", rec))
        self.alert_store.set_cursor(HOURLY_CURSOR, last_complete)

    # ------------------------------------------------------------------ suppression overlay
    def _overlay(self, ctx: EvalContext, now: int) -> list[AlertTransition]:
        """Apply silences/inhibition that started or ended, expired acks, and announce expired
        silences."""
        out: list[AlertTransition] = []
        for sil in self.alert_store.newly_expired_silences(now):
            self.recorder.emit(
                Event(
                    "silence.expired", now, self.actor, f"silence:{sil['id']}", silence_event(sil)
                )
            )
        rules = {r.id: r for r in self.evaluator.rules}
        for rule_id, states in self._states.items():
            rule = rules.get(rule_id)
            if rule is None:
                continue
            for st in states.values():
                if st.state == AlertState.FIRING:
                    out += self._remute(ctx, rule, st, now)
        for row in self.alert_store.expired_acks(now):
            self.alert_store.expire_ack(row["id"])
            rule = rules.get(row["rule_id"])
            acked = self._states.get(row["rule_id"], {}).get(row["subject"])
            if rule is None or acked is None or acked.state != AlertState.FIRING:
                continue
            why = f"acknowledgement by {row['ack_by']} expired; still firing"
            out.append(self._record(ctx, rule, self._still_firing(acked, now, why), why))
        self.muting.forget_before(now)
        return out

    def _remute(
        self, ctx: EvalContext, rule: Rule, st: SubjectState, now: int
    ) -> list[AlertTransition]:
        """A firing alert whose mute began or ended since its last transition shows it now."""
        muted = self.muting.reason(rule, st.subject, now)
        want = self.muting.effective(rule, AlertState.FIRING, muted)
        if want == self.recorder.effective.get((rule.id, st.subject)):
            return []
        why = (
            f"suppressed: {muted}"
            if want == AlertState.SUPPRESSED
            else "no longer silenced or inhibited; still firing"
        )
        return [self._record(ctx, rule, self._still_firing(st, now, why), why)]

    @staticmethod
    def _still_firing(st: SubjectState, now: int, why: str) -> Transition:
        return Transition(
            st.rule_id,
            st.subject,
            now,
            AlertState.FIRING,
            AlertState.FIRING,
            why,
            st.value,
            st.threshold,
            st,
        )
