"""Each transition of the state machine becomes, in one step: the alert row and transition row in
``state.db``, and the typed ``alert.transition`` event published after the cycle commits."""

from __future__ import annotations

from minewatch.alerting import AlertState, AlertTransition, Evidence
from minewatch.analyzer.context import EvalContext
from minewatch.analyzer.evaluator import Evaluator
from minewatch.analyzer.lifecycle import Transition
from minewatch.analyzer.profile import Rule
from minewatch.analyzer.rules.kinds import KINDS
from minewatch.analyzer.state import AlertStore
from minewatch.counters import Counters
from minewatch.events import Event

#: Evidence queries one cycle may make; beyond that (a whole hall going silent) transitions carry
#: none, so a mass event cannot stall the loop.
EVIDENCE_PER_CYCLE = 500


class TransitionRecorder:
    """Remembers the state each open alert shows outside (``effective``), which can differ from the
    machine's (a muted firing alert shows ``suppressed``), and queues the events of a cycle."""

    def __init__(
        self,
        facility_id: str,
        alert_store: AlertStore,
        evaluator: Evaluator,
        counters: Counters,
        actor: str,
    ) -> None:
        self.facility_id = facility_id
        self.alert_store = alert_store
        self.evaluator = evaluator
        self.counters = counters
        self.actor = actor
        self.effective: dict[tuple[str, str], AlertState] = {}
        self.outbox: list[Event] = []
        self._evidence_budget = EVIDENCE_PER_CYCLE
        self.reload()

    def reload(self) -> None:
        """The effective states as persisted (at start, and after a cycle that did not commit)."""
        self.effective = {
            (r["rule_id"], r["subject"]): AlertState(r["state"])
            for r in self.alert_store.list_alerts("unresolved", 10**9)
        }

    def begin_cycle(self) -> None:
        self._evidence_budget = EVIDENCE_PER_CYCLE
        self.outbox = []

    def emit(self, event: Event) -> None:
        self.outbox.append(event)

    def record(
        self,
        ctx: EvalContext,
        rule: Rule,
        tr: Transition,
        to: AlertState,
        muted: str | None,
        reason: str,
    ) -> AlertTransition:
        """Persist ``tr`` as showing ``to`` (muted by ``muted``) and queue its event."""
        key = (rule.id, tr.subject)
        frm = (
            AlertState.INACTIVE
            if tr.from_state == AlertState.INACTIVE
            else self.effective.get(key, AlertState.INACTIVE)
        )
        st = tr.alert
        draft = AlertTransition(
            alert_id=st.alert_id or 0,
            rule_id=rule.id,
            rule_title=rule.title,
            family=rule.family,
            severity=rule.severity,
            regulator_notifiable=rule.regulator_notifiable,
            subject=tr.subject,
            from_state=frm,
            to_state=to,
            value=tr.value,
            threshold=tr.threshold,
            unit=str(getattr(rule.p, "unit", "") or ""),
            source=rule.source,
            started_at_ns=st.active_since,
            reason=reason,
            silenced=muted is not None,
            evidence=self._evidence(ctx, rule, tr),
            notify=tuple(rule.notify),
            group_key=f"{self.facility_id}/{rule.family}",
            facility_id=self.facility_id,
            at_ns=tr.at_ns,
        )
        row = self.alert_store.record(st, draft, self.actor, muted)
        out = draft.model_copy(
            update={"alert_id": row["id"], "acknowledged": row["ack_by"] is not None}
        )
        if tr.to_state == AlertState.RESOLVED:
            self.effective.pop(key, None)
        else:
            self.effective[key] = to
        self.counters.inc("transitions_total", reason=to.value)
        self.outbox.append(
            Event(
                "alert.transition", tr.at_ns, self.actor, f"{rule.id}:{tr.subject}", out.to_json()
            )
        )
        return out

    def _evidence(self, ctx: EvalContext, rule: Rule, tr: Transition) -> Evidence:
        if self._evidence_budget > 0:
            self._evidence_budget -= 1
            return self.evaluator.evidence(ctx, rule, tr.subject, tr.at_ns)
        return Evidence(metric=KINDS[rule.kind].evidence_metric(rule), omitted="mass event")
