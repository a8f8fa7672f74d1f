"""Every rule kind by the name a compliance profile uses. Adding a kind = one module in this package
and one entry here."""

from __future__ import annotations

from minewatch.analyzer.rules.aggregate import FacilityAggregate
from minewatch.analyzer.rules.base import RuleKind
from minewatch.analyzer.rules.energy_cap import EnergyCap
from minewatch.analyzer.rules.event import EventState
from minewatch.analyzer.rules.frozen import Frozen
from minewatch.analyzer.rules.imbalance import PhaseImbalance
from minewatch.analyzer.rules.rate import RateOfChange
from minewatch.analyzer.rules.reconcile import Reconciliation
from minewatch.analyzer.rules.registry import Registration
from minewatch.analyzer.rules.schedule import Schedule
from minewatch.analyzer.rules.share import ShareOfTime
from minewatch.analyzer.rules.stale import Stale
from minewatch.analyzer.rules.threshold import Threshold

_ALL: tuple[type[RuleKind], ...] = (
    Threshold,
    RateOfChange,
    Stale,
    Frozen,
    EventState,
    PhaseImbalance,
    ShareOfTime,
    EnergyCap,
    FacilityAggregate,
    Reconciliation,
    Schedule,
    Registration,
)


def _by_name(classes: tuple[type[RuleKind], ...]) -> dict[str, RuleKind]:
    kinds: dict[str, RuleKind] = {}
    for cls in classes:
        if cls.name in kinds:
            raise RuntimeError(f"rule kind {cls.name!r} listed twice")
        kinds[cls.name] = cls()
    return kinds


KINDS: dict[str, RuleKind] = _by_name(_ALL)
