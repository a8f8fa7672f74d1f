"""The alert transition every part shares (``minewatch.alerting``) and the one silence matcher."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from minewatch.alerting import (
    AlertState,
    AlertTransition,
    Evidence,
    parse_matchers,
    silence_matches,
)
from minewatch.ledger import Ledger
from minewatch.notifier.alerts import AlertTable, NotificationState

T0 = 1_750_000_000_000_000_000


def _transition(**over: object) -> AlertTransition:
    fields: dict[str, object] = {
        "alert_id": 3,
        "rule_id": "TH-05",
        "subject": "rig-7",
        "from_state": "pending",
        "to_state": "firing",
        "family": "thermal",
        "severity": "critical",
        "value": 96.5,
        "threshold": 95.0,
        "started_at_ns": T0,
        "at_ns": T0 + 30,
        "evidence": {"metric": "chip_temp_c", "points": [[T0, 96.5]]},
        "notify": ["operator"],
    }
    return AlertTransition.model_validate(fields | over)


def test_state_round_trips_through_json_and_the_ledger(tmp_path: Path) -> None:
    tr = _transition()
    led = Ledger(tmp_path / "state.db")
    led.append("alert.transition", tr.to_json(), at_ns=T0, actor="analyzer", subject="TH-05:rig-7")
    (entry,) = led.entries()
    back = AlertTransition.parse(entry.payload)
    assert back == tr and led.verify().ok
    assert type(back.to_state) is AlertState and back.to_state is AlertState.FIRING
    assert entry.payload["to_state"] == "firing" and entry.payload["from_state"] == "pending"
    # evidence keeps the keys it had: the regulator message carries a hash of this JSON
    assert entry.payload["evidence"] == {"metric": "chip_temp_c", "points": [[T0, 96.5]]}


def test_notifier_state_keeps_the_typed_transition(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "state.db")
    table = AlertTable(led.conn())
    tr = _transition(value=math.nan)
    table.put(NotificationState(tr.alert_id, tr, AlertState.FIRING, firing_since_ns=T0))
    (st,) = table.active()
    assert st.payload == tr and st.state is AlertState.FIRING and st.payload.value is None


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, None, "n/a"])
def test_no_value_is_none_never_nan(bad: object) -> None:
    tr = _transition(value=bad, threshold=bad)
    assert tr.value is None and tr.threshold is None
    text = json.dumps(tr.to_json(), allow_nan=False)  # raises on NaN or Infinity
    assert '"value": null' in text


def test_a_bad_payload_is_a_value_error_naming_the_fields() -> None:
    with pytest.raises(ValueError, match=r"alert_id: .*; to_state: "):
        AlertTransition.parse({**_transition().to_json(), "alert_id": "x", "to_state": "burning"})


def test_the_model_is_frozen() -> None:
    tr = _transition()
    with pytest.raises(ValueError, match="frozen"):
        tr.to_state = AlertState.RESOLVED  # type: ignore[misc]  # the assignment under test


def test_evidence_without_points_says_so() -> None:
    assert Evidence().model_dump(mode="json") == {"metric": None, "points": []}
    assert Evidence(metric="m", omitted="mass event").model_dump(mode="json") == {
        "metric": "m",
        "points": [],
        "omitted": "mass event",
    }


LABELS = {"rule_id": "TH-05", "subject": "rig-7", "family": "thermal", "severity": "critical"}


@pytest.mark.parametrize(
    ("matchers", "expected"),
    [
        ({"rule_id": "TH-05"}, True),
        ({"rule_id": "TH-05", "subject": "rig-8"}, False),
        ([{"name": "family", "value": "thermal"}], True),
        ([{"name": "subject", "value": "rig-7", "op": "!="}], False),
        ([{"name": "subject", "value": "rig-8", "op": "!="}], True),
        ([{"name": "subject", "value": "rig-[0-9]", "op": "=~"}], True),
        ([{"name": "subject", "value": "rig", "op": "=~"}], False),  # anchored, as Alertmanager
        ([{"name": "subject", "value": "rig-.*", "isRegex": True}], True),
        ([{"name": "severity", "value": "warn.*", "op": "!~"}], True),
        (
            [
                {"name": "family", "value": "thermal"},
                {"name": "subject", "value": "rig-7", "op": "!="},
            ],
            False,
        ),
    ],
)
def test_both_matcher_forms(matchers: object, expected: bool) -> None:
    assert silence_matches(matchers, LABELS) is expected


@pytest.mark.parametrize("empty", [{}, [], None, "rule_id=TH-05"])
def test_a_silence_that_names_nothing_matches_nothing(empty: object) -> None:
    """The analyzer used to read ``{}`` as "every alert" (``all()`` of nothing) while the notifier
    read it as none; a list silence crashed the analyzer's exact-dict comparison."""
    assert silence_matches(empty, LABELS) is False


def test_a_broken_matcher_is_refused_by_name_and_never_mutes() -> None:
    bad = [{"name": "subject", "value": "rig-(", "op": "=~"}, {"name": "x", "op": "~="}]
    with pytest.raises(ValueError) as exc:
        parse_matchers(bad)
    assert "matcher 0 ('subject'): bad regular expression" in str(exc.value)
    assert "matcher 1 ('x')" in str(exc.value)
    assert silence_matches(bad, LABELS) is False


def test_values_compare_as_text() -> None:
    """The notifier compared ``str()`` of both sides, the analyzer compared raw values: a numeric
    matcher value now matches its label text in both."""
    assert silence_matches({"subject": 7}, {**LABELS, "subject": "7"})
    assert _transition(subject="7").labels["subject"] == "7"


def test_evidence_points_carry_no_nan() -> None:
    ev = Evidence(metric="m", points=((T0, math.nan), (T0 + 1, 2.0)))
    assert ev.model_dump(mode="json")["points"] == [[T0, None], [T0 + 1, 2.0]]


def test_a_stored_row_that_no_longer_parses_is_skipped_not_fatal(tmp_path: Path) -> None:
    table = AlertTable(Ledger(tmp_path / "state.db").conn())
    good = _transition()
    table.put(NotificationState(good.alert_id, good, AlertState.FIRING))
    table.conn.execute(
        "INSERT INTO notify_alerts (alert_id, payload, state) VALUES (9, ?, 'firing')",
        ('{"alert_id": 9, "to_state": "burning"}',),
    )
    assert [st.alert_id for st in table.active()] == [good.alert_id]
    with pytest.raises(ValueError, match=r"alert\.transition payload is not valid"):
        table.get(9)
