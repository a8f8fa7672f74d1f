"""The alert states the outside sees over a replayed period, with the muting the live loop applies
(``Muting``: silences, inhibition with hold-down): a report and the live loop give the same
transitions, suppressed ones included.

The live loop applies a mute that begins or ends at its next cycle (the analysis interval); so does
this replay: a change at ``b`` shows at the first multiple of ``analysis.interval_s`` at or after
``b``."""

from __future__ import annotations

from dataclasses import dataclass

from minewatch.alerting import AlertState
from minewatch.analyzer.lifecycle import Transition
from minewatch.analyzer.muting import Muting
from minewatch.analyzer.profile import ComplianceProfile, Rule


@dataclass(frozen=True)
class Shown:
    """One transition as the outside sees it (``machine``: the state machine's own, None for a
    transition that only a mute beginning or ending made)."""

    rule_id: str
    subject: str
    at_ns: int
    from_state: AlertState
    to_state: AlertState
    muted: str | None
    machine: Transition | None


class EffectiveReplay:
    """Feed it each chunk's machine transitions (all rules, inhibition sources first); it returns
    them as shown, plus the re-mute transitions of alerts firing when a mute began or ended."""

    def __init__(self, profile: ComplianceProfile, interval_ns: int, silences: list[dict]) -> None:
        self.muting = Muting(profile)
        self.muting.silences = silences
        self.rules = {r.id: r for r in profile.active_rules}
        self.interval = int(interval_ns)
        self.shown: dict[tuple[str, str], AlertState] = {}
        self._done_ns: int | None = None

    def chunk(self, transitions: list[tuple[Rule, Transition]], upto_ns: int) -> list[Shown]:
        for _, tr in transitions:
            self.muting.observe(tr)
        after = self._done_ns if self._done_ns is not None else -(2**62)
        cycles = sorted(
            {-(-b // self.interval) * self.interval for b in self.muting.changes(after, upto_ns)}
        )
        ordered = sorted(transitions, key=lambda rt: rt[1].at_ns)  # stable: rule order kept
        out: list[Shown] = []
        i = 0
        for c in [*cycles, None]:
            while i < len(ordered) and (c is None or ordered[i][1].at_ns <= c):
                out.append(self._machine(*ordered[i]))
                i += 1
            if c is not None and c <= upto_ns:
                out += self._remute(c)
        self._done_ns = upto_ns
        return out

    def _machine(self, rule: Rule, tr: Transition) -> Shown:
        key = (rule.id, tr.subject)
        muted = (
            None
            if tr.to_state == AlertState.RESOLVED
            else self.muting.reason(rule, tr.subject, tr.at_ns)
        )
        to = self.muting.effective(rule, tr.to_state, muted)
        frm = (
            AlertState.INACTIVE
            if tr.from_state == AlertState.INACTIVE
            else self.shown.get(key, AlertState.INACTIVE)
        )
        if tr.to_state == AlertState.RESOLVED:
            self.shown.pop(key, None)
        else:
            self.shown[key] = to
        return Shown(rule.id, tr.subject, tr.at_ns, frm, to, muted, tr)

    def _remute(self, at_ns: int) -> list[Shown]:
        """Alerts firing at ``at_ns`` whose mute began or ended show it now (as live does)."""
        out = []
        for (rule_id, subject), shown in list(self.shown.items()):
            if shown not in (AlertState.FIRING, AlertState.SUPPRESSED):
                continue
            rule = self.rules[rule_id]
            muted = self.muting.reason(rule, subject, at_ns)
            want = self.muting.effective(rule, AlertState.FIRING, muted)
            if want != shown:
                self.shown[(rule_id, subject)] = want
                out.append(Shown(rule_id, subject, at_ns, shown, want, muted, None))
        return out
