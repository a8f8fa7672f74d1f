"""Golden cases: every folder under tests/cases/<rule>/<case>/ holds a profile, an input series and
the alert transitions expected, to the second. Each case runs live (one evaluate_once per instant,
against a real SqliteStore and state.db) and as a historical replay; both must give exactly the
expected list.
"""

from __future__ import annotations

import json

import pytest

from minewatch.alerting import AlertTransition
from minewatch.analyzer.engine import Analyzer
from minewatch.analyzer.evaluator import Evaluator
from minewatch.events import EventBus
from tests.support.analyzer import T0, S, load_cases, simple

CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_golden_case_live(case, tmp_path):
    cfg, store, profiles = case.setup(tmp_path)
    bus = EventBus()
    events = []
    bus.subscribe(events.append)
    alerts = case.alert_store(cfg, bus)
    an = Analyzer(cfg, store, alerts, bus, profiles, compliance=case.profile)
    got = []
    for t in case.instants(cfg):
        got += an.evaluate_once(T0 + t * S)
    assert simple(got) == case.expected
    payloads = [e.payload for e in events if e.kind == "alert.transition"]
    json.dumps(payloads, allow_nan=False)  # no value leaves the analyzer as NaN
    # what the bus carried is what evaluate_once returned, through JSON and back
    assert [AlertTransition.parse(e.payload) for e in events if e.kind == "alert.transition"] == got


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_golden_case_historical_equals_live(case, tmp_path):
    """The replay shows what live shows, suppressed transitions included (it used to compare the
    bare state machine, so a report disagreed with live wherever a mute applied)."""
    cfg, store, profiles = case.setup(tmp_path)
    alerts = case.alert_store(cfg)
    ev = Evaluator(cfg, store, case.profile, profiles, alerts)
    inst = case.instants(cfg)
    got = []
    for _results, shown in ev.replay_shown(
        T0 + inst.start * S, T0 + (inst.stop - 1) * S, chunk_s=45
    ):
        got += shown
    got = [
        {
            "rule_id": t.rule_id,
            "subject": t.subject,
            "at_ns": t.at_ns,
            "from_state": t.from_state,
            "to_state": t.to_state,
        }
        for t in got
    ]
    got.sort(key=lambda t: (t["at_ns"], t["rule_id"], t["subject"]))
    assert simple(got) == sorted(case.expected, key=lambda t: (t["at"], t["rule"], t["subject"]))
