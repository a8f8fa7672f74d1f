"""Why an alert's operator notifications are muted at a given time: a silence or maintenance window
that covers it, or a parent alert that inhibits it (Alertmanager's inhibition). Regulator-
notifiable alerts are flagged but never suppressed: the central bank is told whatever the operator
muted.

Inhibition is judged from the parent's firing *timeline*, not its state at the end of a cycle: the
live loop and a replay (which runs a whole chunk of one rule before the next) then agree at every
instant. A child stays inhibited ``hold_down`` after its parent stops firing, so a parent flapping
between firing and resolved never re-notifies its children."""

from __future__ import annotations

from typing import Any

from minewatch.alerting import AlertState, silence_matches
from minewatch.analyzer.lifecycle import SubjectState, Transition
from minewatch.analyzer.profile import ComplianceProfile, Inhibition, Rule, ns


class Muting:
    """The silences in force plus the profile's inhibition rules and their parents' timelines."""

    def __init__(self, profile: ComplianceProfile) -> None:
        self.profile = profile
        self.silences: list[dict[str, Any]] = []
        self._sources = {i.source for i in profile.inhibit}
        #: (source rule, subject) -> [start, end or None] of each time the source fired
        self._spans: dict[tuple[str, str], list[list[int | None]]] = {}

    # ------------------------------------------------------------------ parents' timelines
    def seed(self, states: dict[str, dict[str, SubjectState]]) -> None:
        """Parents firing when the analyzer (re)starts: fired since their ``fired_at``."""
        for rule_id in self._sources:
            for st in states.get(rule_id, {}).values():
                if st.state == AlertState.FIRING:
                    at = st.fired_at if st.fired_at is not None else st.active_since
                    self._spans[(rule_id, st.subject)] = [[at, None]]

    def observe(self, tr: Transition) -> None:
        """Follow an inhibition source's machine transitions (call in time order per subject)."""
        if tr.rule_id not in self._sources:
            return
        spans = self._spans.setdefault((tr.rule_id, tr.subject), [])
        firing = bool(spans) and spans[-1][1] is None
        if tr.to_state == AlertState.FIRING and not firing:
            spans.append([tr.at_ns, None])
        elif tr.to_state != AlertState.FIRING and firing:
            spans[-1][1] = tr.at_ns

    def forget_before(self, at_ns: int) -> None:
        """Drop spans whose hold-down ended before ``at_ns`` (keeps the timeline small)."""
        hold = max((ns(i.hold_down) for i in self.profile.inhibit), default=0)
        for key, spans in list(self._spans.items()):
            spans[:] = [s for s in spans if s[1] is None or s[1] + hold >= at_ns]
            if not spans:
                del self._spans[key]

    def _inhibitor(self, inh: Inhibition, subject: str, at_ns: int) -> bool:
        hold = ns(inh.hold_down)
        return any(
            s[0] is not None and s[0] <= at_ns and (s[1] is None or at_ns < s[1] + hold)
            for s in self._spans.get((inh.source, subject), [])
        )

    def changes(self, after_ns: int, upto_ns: int) -> list[int]:
        """Instants in ``(after_ns, upto_ns]`` at which some mute begins or ends: parents starting
        to fire, hold-downs ending, silences starting or ending."""
        out: set[int] = set()
        for inh in self.profile.inhibit:
            hold = ns(inh.hold_down)
            for (src, _), spans in self._spans.items():
                if src != inh.source:
                    continue
                for s in spans:
                    out.add(int(s[0] or 0))
                    if s[1] is not None:
                        out.add(int(s[1]) + hold)
        for sil in self.silences:
            out.update((int(sil["starts_at_ns"]), int(sil["ends_at_ns"])))
        return sorted(t for t in out if after_ns < t <= upto_ns)

    # ------------------------------------------------------------------ the verdict
    def reason(self, rule: Rule, subject: str, at_ns: int) -> str | None:
        """What mutes this alert at ``at_ns``."""
        labels = {
            "rule_id": rule.id,
            "subject": subject,
            "family": rule.family,
            "severity": rule.severity,
        }
        for s in self.silences:
            if s["starts_at_ns"] <= at_ns < s["ends_at_ns"] and silence_matches(
                s["matchers"], labels
            ):
                return f"{s['kind']} #{s['id']} by {s['author']}: {s['reason']}"
        for inh in self.profile.inhibit:
            if inh.source == rule.id or not (rule.id in inh.targets or rule.family in inh.targets):
                continue
            if self._inhibitor(inh, subject, at_ns):
                return f"inhibited by {inh.source}:{subject}"
        return None

    @staticmethod
    def effective(rule: Rule, machine_state: AlertState, muted: str | None) -> AlertState:
        """The state the outside sees: a muted firing alert is ``suppressed`` unless the regulator
        must hear of it, in which case the mute only sets its ``silenced`` flag."""
        if machine_state == AlertState.FIRING and muted and not rule.regulator_notifiable:
            return AlertState.SUPPRESSED
        return machine_state
