"""Registration: equipment online that was never filed with the regulator, filed equipment that is
not reporting, and equipment whose model or zone differs from its registration (Kazakhstan's Law
193-VII on digital assets requires mining hardware to be registered; Russia's Law 221-FZ registers
miners with the tax service)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from minewatch.analyzer.context import EvalContext
from minewatch.analyzer.hour_stats import HoursReader, Screen
from minewatch.analyzer.profile import Rule, duration_validator, ns
from minewatch.analyzer.rules.base import Obs, RuleKind
from minewatch.units import check_metric_name


class RegistryParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: Literal["unregistered", "missing", "model_mismatch", "zone_mismatch"]
    metrics: list[str] = Field(
        default_factory=list,
        description=(
            "Metrics that show a device is online: a sample of any of them within `seen_within` = "
            "seen. `missing` also counts any telemetry at all (the device table's first/last "
            "seen), so every kind of registered device — rigs, meters, hall sensors — is judged; "
            "listing heartbeats there only makes past periods exact"
        ),
    )
    metric: str | None = Field(None, description="Shorthand for a single entry of `metrics`")
    seen_within: float = Field(600, gt=0)

    _d = duration_validator("seen_within")

    @field_validator("metrics")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        return [check_metric_name(m) for m in v]

    @model_validator(mode="after")
    def _presence(self) -> RegistryParams:
        if self.metric is not None:
            self.metrics = list(dict.fromkeys([check_metric_name(self.metric), *self.metrics]))
            self.metric = None
        if not self.metrics and self.check != "missing":
            raise ValueError(
                f"check {self.check!r} needs `metric` or `metrics` (what shows a device online)"
            )
        return self


class Registration(RuleKind):
    name = "registry"
    Params = RegistryParams

    def metrics(self, rule: Rule) -> list[str]:
        return list(rule.p.metrics)

    def lookback_s(self, rule: Rule) -> float:
        return rule.p.seen_within

    def evaluate(self, ctx: EvalContext, rule: Rule, instants: np.ndarray) -> Obs:
        p: RegistryParams = rule.p
        if ctx.registry is None:
            ctx.problems.append(
                f"{rule.id}: no equipment registry configured (facility.yaml `registry`)"
            )
            return Obs.empty(instants)
        reg = ctx.registry
        subjects = sorted(reg) if p.check == "missing" else ctx.pick(rule.selector)
        if not subjects:
            return Obs.empty(instants)
        win = ns(p.seen_within)
        shape = (len(instants), len(subjects))
        seen = np.zeros(shape, bool)
        for m in p.metrics:
            seen |= (
                ctx.buckets(m, subjects, instants, ctx.step_ns(rule), win).window("count", win) > 0
            )
        ok = np.ones(shape, bool)
        if p.check == "unregistered":
            bad = seen & np.array([s not in reg for s in subjects])[None, :]
        elif p.check == "missing":
            return self._missing(
                ctx, rule, instants, subjects, seen | self._reported(ctx, instants, subjects, win)
            )
        else:
            col = "model" if p.check == "model_mismatch" else "zone"
            # the table's value through the memoised device rows ("" where the subject is not in
            # the table): a dict of the whole table iterated two pandas columns element by
            # element, 0.1-0.25 s of every minute's cycle at 30,000 rigs
            rows = ctx.device_rows(subjects)
            actual = np.append(ctx.devices[col].to_numpy(object), [""])[rows]
            filed = np.array([getattr(reg[s], col) if s in reg else None for s in subjects], object)
            registered = np.array([f is not None for f in filed])[None, :]
            ok = np.broadcast_to(registered, shape) & seen
            bad = ok & (actual != filed)[None, :]
        return Obs(
            subjects,
            instants,
            ok,
            bad,
            ok & ~bad,
            bad.astype(float),
            np.zeros(shape),
            "",
            p.metrics[0] if p.metrics else "",
        )

    @staticmethod
    def _reported(
        ctx: EvalContext, instants: np.ndarray, subjects: list[str], win: int
    ) -> np.ndarray:
        """Any telemetry in ``[t - win, t)`` by the device table: first seen before t, last seen
        since t - win. Exact live (the table is minutes fresh at most); for a past period a gap
        followed by later telemetry is only caught through the rule's heartbeat ``metrics``."""
        table = ctx.devices.set_index("device").reindex(subjects)
        first = pd.to_numeric(table["first_seen"], errors="coerce").to_numpy(np.float64)[None, :]
        last = pd.to_numeric(table["last_seen"], errors="coerce").to_numpy(np.float64)[None, :]
        t = instants[:, None].astype(np.float64)
        with np.errstate(invalid="ignore"):
            return (first < t) & (last >= t - win)

    @staticmethod
    def _missing(
        ctx: EvalContext, rule: Rule, instants: np.ndarray, subjects: list[str], seen: np.ndarray
    ) -> Obs:
        """Registered but silent. A device is judged missing only over a whole window watched: not
        before ``seen_within`` has passed since the analyzer (or a report's period) started and
        since the site's first telemetry — a freshly started analyzer or an empty store must not
        call every rig missing. Before that an unseen device is neither missing nor cleared (an open
        alert is kept as it is)."""
        win = ns(rule.p.seen_within)
        since = ctx.watched_since()
        judged = (
            (instants.astype(np.float64) - win >= since)[:, None]
            if since == since
            else np.zeros((len(instants), 1), bool)
        )
        bad = ~seen & judged
        ok = np.ones(seen.shape, bool)
        return Obs(
            subjects,
            instants,
            ok,
            bad,
            seen,
            bad.astype(float),
            np.zeros(seen.shape),
            "",
            rule.p.metrics[0] if rule.p.metrics else "",
        )

    def screen(
        self, ctx: EvalContext, hours: HoursReader, rule: Rule, instants: np.ndarray
    ) -> Screen | None:
        """Only an unregistered device can be unregistered, only a registered one whose model
        (zone) differs can mismatch, and a registered device is not missing at instants that each
        have a sample of one of its heartbeats within the window's buckets before them. Inputs:
        always present for ``unregistered`` and ``missing``; for a mismatch present exactly when
        registered and seen — known for a device never seen, or seen at every instant."""
        p: RegistryParams = rule.p
        reg = ctx.registry
        if reg is None:
            return None
        subjects = sorted(reg) if p.check == "missing" else ctx.pick(rule.selector)
        if not subjects:
            return None
        step = ctx.step_ns(rule)
        win = max(1, -(-ns(p.seen_within) // step)) * step
        first, last = int(instants[0]), int(instants[-1])
        no = np.zeros(len(subjects), bool)
        always, present = no.copy(), no.copy()
        for m in p.metrics:
            hs = hours(m, first - win, last + 1)
            if hs is None:
                return None
            always |= hs.always_within(subjects, first, last, win)
            present |= hs.present(subjects, first - win, last)
        registered = np.array([s in reg for s in subjects])
        if p.check == "unregistered":
            return Screen(subjects, ~registered, ~no, ~no)
        if p.check == "missing":
            return Screen(subjects, ~always, ~no, ~no)
        col = "model" if p.check == "model_mismatch" else "zone"
        actual = dict(zip(ctx.devices["device"], ctx.devices[col], strict=True))
        differs = np.array(
            [s in reg and actual.get(s, "") != getattr(reg[s], col) for s in subjects]
        )
        return Screen(subjects, differs, registered & always, ~registered | always | ~present)
