"""Rule evaluation over stored data, with no side effects: the part the live loop and period
reports share. A period report runs whole periods in chunks; the live loop evaluates the instants
that elapsed since its last cycle — the incremental case of the same code."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from minewatch.alerting import Evidence
from minewatch.analyzer import curtailment
from minewatch.analyzer.context import EvalContext, RawCache, rule_step_ns
from minewatch.analyzer.effective import EffectiveReplay, Shown
from minewatch.analyzer.lifecycle import SubjectState, Transition, run
from minewatch.analyzer.profile import ComplianceProfile, Rule, ns
from minewatch.analyzer.rules.base import Obs
from minewatch.analyzer.rules.kinds import KINDS
from minewatch.analyzer.state import AlertStore
from minewatch.config.facility import FacilityConfig
from minewatch.profiles import DeviceProfile
from minewatch.registry import RegistryEntry, load_registry
from minewatch.store.base import TelemetryStore

#: Points of evidence kept per alert.
EVIDENCE_POINTS = 240


class Evaluator:
    """Rule evaluation over stored data, with no side effects: the part live and historical
    share."""

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
            load_registry(cfg.path(cfg.registry), device_profiles, strict=False)
            if cfg.registry
            else None
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

    def evidence(self, ctx: EvalContext, rule: Rule, subject: str, at_ns: int) -> Evidence:
        """The series around onset: raw points of the subject's metric (or the facility total)
        before ``at_ns``."""
        kind = KINDS[rule.kind]
        metric = kind.evidence_metric(rule)
        if metric is None:
            return Evidence()
        span = ns(min(max(600.0, rule.for_ + kind.lookback_s(rule)), 86400.0))
        start, end = at_ns - span, at_ns + 1
        sel = kind.evidence_selector(rule)
        if sel is not None:
            step = max(ctx.step_ns(rule), span // EVIDENCE_POINTS)
            df = ctx.aggregated(metric, ctx.pick(sel), start, end, step, "mean")
            pts = df.groupby("ts", sort=True)["value"].sum()
            return Evidence(
                metric=metric,
                aggregate="sum of device means",
                step_ns=step,
                points=tuple(
                    (int(t), round(float(v), 6))
                    for t, v in zip(pts.index.to_numpy(), pts.to_numpy(), strict=True)
                ),
            )
        df = self.store.query(start, end, devices=[subject], metrics=[metric])
        stride = max(1, -(-len(df) // EVIDENCE_POINTS))
        df = df.iloc[::-1].iloc[::stride].iloc[::-1]  # thin evenly, always keeping the newest point
        return Evidence(
            metric=metric,
            points=tuple(
                (int(t), round(float(v), 6)) for t, v in zip(df["ts"], df["value"], strict=True)
            ),
        )

    def replay(
        self, start_ns: int, end_ns: int, report_step_s: float | None = None, chunk_s: float = 86400
    ) -> Iterator[tuple[Rule, Obs, list[Transition], EvalContext]]:
        """Evaluate every rule over ``[start_ns, end_ns]`` in chunks, carrying alert state across
        chunks. Yields per rule and chunk the observations and the transitions (each holds its
        episode's state)."""
        for _, results in self.replay_chunks(start_ns, end_ns, report_step_s, chunk_s):
            yield from results

    def replay_shown(
        self,
        start_ns: int,
        end_ns: int,
        report_step_s: float | None = None,
        chunk_s: float = 86400,
    ) -> Iterator[tuple[list[tuple[Rule, Obs, list[Transition], EvalContext]], list[Shown]]]:
        """``replay_chunks`` plus each chunk's transitions as the live loop shows them (muted by
        the profile's inhibition and the alert store's silences, with the same hold-down)."""
        silences = self.alert_store.silences() if self.alert_store is not None else []
        shown = EffectiveReplay(self.profile, ns(self.cfg.analysis.interval_s), silences)
        for t_end, results in self.replay_chunks(start_ns, end_ns, report_step_s, chunk_s):
            machine = [(rule, tr) for rule, _, trs, _ in results for tr in trs]
            yield results, shown.chunk(machine, t_end)

    def replay_chunks(
        self, start_ns: int, end_ns: int, report_step_s: float | None = None, chunk_s: float = 86400
    ) -> Iterator[tuple[int, list[tuple[Rule, Obs, list[Transition], EvalContext]]]]:
        """Per chunk: its last instant and, per rule (inhibition sources first), the observations
        and machine transitions."""
        states: dict[str, dict[str, SubjectState]] = {r.id: {} for r in self.rules}
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
            # a report watches from its start
            ctx = self.context(report_step_s, devices, watch_start_ns=start_ns)
            self.prefetch(ctx, plan)
            results = []
            for rule in self.rules:
                instants = plan[rule.id]
                if not len(instants):
                    continue
                obs = self.evaluate(ctx, rule, instants)
                results.append((rule, obs, run(obs, rule, states[rule.id]), ctx))
            yield t_end, results
            t = t_end + 1
