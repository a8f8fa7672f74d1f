"""Why an alert's operator notifications are muted right now: a silence or maintenance window that
covers it, or a firing parent alert that inhibits it (Alertmanager's inhibition). Regulator-
notifiable alerts are flagged but never suppressed: the central bank is told whatever the operator
muted."""

from __future__ import annotations

from typing import Any

from minewatch.alerting import AlertState, silence_matches
from minewatch.analyzer.lifecycle import SubjectState
from minewatch.analyzer.profile import ComplianceProfile, Rule


class Muting:
    """The silences in force this cycle plus the profile's inhibition rules."""

    def __init__(self, profile: ComplianceProfile) -> None:
        self.profile = profile
        self.silences: list[dict[str, Any]] = []

    def reason(
        self, rule: Rule, subject: str, at_ns: int, states: dict[str, dict[str, SubjectState]]
    ) -> str | None:
        """What mutes this alert at ``at_ns`` (``states``: the open alerts, for inhibition)."""
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
            parent = states.get(inh.source, {}).get(subject)
            if parent is not None and parent.state == AlertState.FIRING:
                return f"inhibited by {inh.source}:{subject}"
        return None

    @staticmethod
    def effective(rule: Rule, machine_state: AlertState, muted: str | None) -> AlertState:
        """The state the outside sees: a muted firing alert is ``suppressed`` unless the regulator
        must hear of it, in which case the mute only sets its ``silenced`` flag."""
        if machine_state == AlertState.FIRING and muted and not rule.regulator_notifiable:
            return AlertState.SUPPRESSED
        return machine_state
