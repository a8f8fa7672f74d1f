"""Alert lifecycle around the rules: restart safety, catch-up, silences, acknowledgements,
inhibition, evidence — on a real SqliteStore and state.db."""

from __future__ import annotations

import pytest
import yaml

from minewatch.analyzer.engine import Analyzer
from minewatch.analyzer.profile_loader import validate_profile
from minewatch.analyzer.state import AlertStore
from minewatch.errors import Conflict, InvalidInput, NotFound
from minewatch.events import EventBus
from tests.support.analyzer import T0, S, load_cases, simple

HYST = next(c for c in load_cases() if c.id == "threshold/hysteresis")


def _analyzer(cfg, store, profiles, profile, bus=None):
    alerts = AlertStore(cfg.state_db, bus)
    return Analyzer(cfg, store, alerts, bus, profiles, compliance=profile), alerts


def _run(an, ts):
    """The transitions of one evaluation per instant, in their wire form."""
    out = []
    for t in ts:
        out += [tr.to_json() for tr in an.evaluate_once(T0 + t * S)]
    return out


def test_restart_mid_for_keeps_the_timer(tmp_path):
    cfg, store, profiles = HYST.setup(tmp_path)
    an, alerts = _analyzer(cfg, store, profiles, HYST.profile)
    first = _run(an, range(0, 61, 10))  # pending since t=50, `for` 30 s not yet elapsed
    assert [t["to_state"] for t in first] == ["pending"]
    alerts.close()
    an2, alerts2 = _analyzer(
        cfg, store, profiles, HYST.profile
    )  # a new process: state from state.db only
    second = _run(an2, range(70, 201, 10))
    assert simple(first + second) == HYST.expected  # fires at t=80, as without the restart
    alert = alerts2.list_alerts()[0]
    assert alert["active_since_ns"] == T0 + 50 * S and alert["state"] == "resolved"


def test_catch_up_after_downtime_equals_step_by_step(tmp_path):
    cfg, store, profiles = HYST.setup(tmp_path)
    an, _ = _analyzer(cfg, store, profiles, HYST.profile)
    got = _run(
        an, [0, 40, 200]
    )  # the loop was down between these instants; missed ones are evaluated
    assert simple(got) == HYST.expected


def test_transitions_are_persisted_with_actor_reason_values_and_evidence(tmp_path):
    cfg, store, profiles = HYST.setup(tmp_path)
    an, alerts = _analyzer(cfg, store, profiles, HYST.profile)
    _run(an, range(0, 201, 10))
    (alert,) = alerts.list_alerts()
    trs = alerts.transitions(alert["id"])
    assert [(t["from_state"], t["to_state"]) for t in trs] == [
        ("inactive", "pending"),
        ("pending", "firing"),
        ("firing", "resolved"),
    ]
    assert all(t["actor"] == "analyzer" and t["reason"] for t in trs)
    assert (
        trs[1]["value"] == 98.0 and trs[1]["threshold"] == 95.0
    )  # t=70's 98 °C seen at t=80; model limit 95
    pts = trs[1]["evidence"]["points"]
    assert trs[1]["evidence"]["metric"] == "chip_temp_c"
    assert [T0 + 40 * S, 96.0] in pts and all(p[0] <= T0 + 80 * S for p in pts)
    assert alert["peak_max"] == 99.0 and alert["resolved_at_ns"] == T0 + 140 * S


def _fire_profile(regulator: bool):
    return validate_profile(
        yaml.safe_load(f"""
id: t
title: t
jurisdiction: t
version: "1"
rules:
  - id: FS-01
    title: Fire alarm
    kind: event
    family: fire
    severity: critical
    regulator_notifiable: {str(regulator).lower()}
    selector: {{role: fire_panel}}
    params: {{metrics: [fire_alarm_bool], max_age: 60s}}
    source: test
"""),
        "inline",
    )


def _fire_setup(tmp_path, regulator):
    from minewatch.store import SqliteStore
    from tests.support.analyzer import facility_cfg, fill_store

    cfg = facility_cfg(tmp_path)
    store = SqliteStore(cfg.telemetry_db)
    fill_store(
        store,
        [
            {
                "ts": t,
                "device": "panel-1",
                "metric": "fire_alarm_bool",
                "value": 1 if t >= 50 else 0,
            }
            for t in range(0, 300, 10)
        ],
        [{"device": "panel-1", "kind": "fire_panel", "role": "fire_panel"}],
    )
    bus = EventBus()
    events = []
    bus.subscribe(events.append)
    an, alerts = _analyzer(cfg, store, {}, _fire_profile(regulator), bus)
    return an, alerts, events


def test_silenced_regulator_notifiable_alert_still_produces_its_event(tmp_path):
    an, alerts, events = _fire_setup(tmp_path, regulator=True)
    alerts.add_silence({"family": "fire"}, T0, T0 + 3600 * S, "night shift", "panel maintenance")
    _run(an, range(10, 100, 10))
    tr = [e for e in events if e.kind == "alert.transition"]
    assert len(tr) == 1
    p = tr[0].payload
    assert (p["to_state"], p["regulator_notifiable"], p["silenced"]) == ("firing", True, True)
    assert p["at_ns"] == T0 + 60 * S and p["severity"] == "critical"
    assert [e.kind for e in events][:1] == ["silence.created"]


def test_silence_suppresses_operator_alert_and_its_end_re_notifies(tmp_path):
    an, alerts, events = _fire_setup(tmp_path, regulator=False)
    sil = alerts.add_silence(
        {"rule_id": "FS-01", "subject": "panel-1"}, T0, T0 + 100 * S, "ops", "testing panel"
    )
    _run(an, range(10, 151, 10))
    tr = [
        (e.payload["from_state"], e.payload["to_state"], e.payload["silenced"], e.at_ns)
        for e in events
        if e.kind == "alert.transition"
    ]
    assert tr == [
        ("inactive", "suppressed", True, T0 + 60 * S),
        ("suppressed", "firing", False, T0 + 100 * S),
    ]
    expired = [e for e in events if e.kind == "silence.expired"]
    assert len(expired) == 1 and expired[0].payload["silence_id"] == sil["id"]
    assert alerts.list_alerts("firing")[0]["rule_id"] == "FS-01"


def test_expired_acknowledgement_re_notifies(tmp_path):
    an, alerts, events = _fire_setup(tmp_path, regulator=True)
    _run(an, range(10, 61, 10))
    (alert,) = alerts.list_alerts("firing")
    alerts.clock = lambda: T0 + 61 * S
    acked = alerts.acknowledge(alert["id"], "amir", "crew on the way", T0 + 120 * S)
    assert acked["acknowledged"] and acked["ack_by"] == "amir"
    _run(an, range(70, 131, 10))
    kinds = [(e.kind, e.payload.get("to_state"), e.payload.get("acknowledged")) for e in events]
    assert ("alert.ack", None, None) in kinds
    renotify = [
        e.payload
        for e in events
        if e.kind == "alert.transition" and "expired" in e.payload["reason"]
    ]
    assert len(renotify) == 1 and renotify[0]["at_ns"] == T0 + 120 * S
    assert renotify[0]["from_state"] == renotify[0]["to_state"] == "firing"
    assert not alerts.get_alert(alert["id"])["acknowledged"]


def test_inhibition_records_child_as_suppressed(tmp_path):
    from minewatch.store import SqliteStore
    from tests.support.analyzer import facility_cfg, fill_store

    prof = validate_profile(
        yaml.safe_load("""
id: t
title: t
jurisdiction: t
version: "1"
rules:
  - {id: HOT, title: Hot chip, kind: threshold, family: thermal, severity: critical,
     selector: {role: rig}, params: {metric: chip_temp_c, above: 90, max_age: 60s}, source: test}
  - {id: SILENT, title: Rig silent, kind: stale, family: data_quality, severity: major,
     selector: {role: rig}, params: {metric: hashrate_ths, interval: 10s, intervals: 3},
     source: test}
inhibit:
  - {source: SILENT, targets: [thermal]}
"""),
        "inline",
    )
    cfg = facility_cfg(tmp_path)
    store = SqliteStore(cfg.telemetry_db)
    rows = [
        {"ts": t, "device": "rig-1", "metric": "chip_temp_c", "value": 95}
        for t in range(0, 200, 10)
    ]
    rows += [
        {"ts": t, "device": "rig-1", "metric": "hashrate_ths", "value": 100}
        for t in range(0, 50, 10)
    ]
    fill_store(store, rows, [{"device": "rig-1", "kind": "asic_miner", "role": "rig"}])
    an, alerts = _analyzer(cfg, store, {}, prof)
    got = _run(an, range(10, 101, 10))
    hot = [(t["from_state"], t["to_state"], t["silenced"]) for t in got if t["rule_id"] == "HOT"]
    assert hot == [("inactive", "firing", False), ("firing", "suppressed", True)]
    (row,) = alerts.list_alerts(rule_id="HOT")
    assert row["state"] == "suppressed" and row["suppressed_by"] == "inhibited by SILENT:rig-1"


def test_one_open_alert_per_rule_and_subject(tmp_path):
    an, alerts, _ = _fire_setup(tmp_path, regulator=True)
    _run(an, range(10, 200, 10))
    assert len(alerts.list_alerts("unresolved")) == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ends_at_ns": T0}, "ends_at must be after starts_at"),
        ({"author": " "}, "author is required"),
        ({"reason": ""}, "reason is required"),
        ({"matchers": {"zone": "a"}}, "unknown matcher label"),
    ],
)
def test_silence_needs_end_author_reason(tmp_path, kwargs, message):
    alerts = AlertStore(tmp_path / "state.db")
    args = {
        "matchers": {"family": "fire"},
        "starts_at_ns": T0,
        "ends_at_ns": T0 + S,
        "author": "a",
        "reason": "r",
    }
    with pytest.raises(ValueError, match=message):
        alerts.add_silence(**{**args, **kwargs})


def test_a_failing_rule_is_counted_and_the_others_still_run(tmp_path, monkeypatch):
    from minewatch.analyzer.rules.kinds import KINDS

    cfg, store, profiles = HYST.setup(tmp_path)
    an, _ = _analyzer(cfg, store, profiles, HYST.profile)

    def boom(*a, **k):
        raise RuntimeError("bug")

    monkeypatch.setattr(KINDS["threshold"], "evaluate", boom)
    assert an.evaluate_once(T0 + 50 * S) == []
    assert an.stats()["rule_errors_total"] == {"TH-05": 1}


def test_live_loop_publishes_each_completed_hour_once(tmp_path):
    from tests.support.analyzer import site_with_history

    cfg, store, _alerts, profiles = site_with_history(tmp_path)
    bus = EventBus()
    events = []
    bus.subscribe(events.append)
    an = Analyzer(
        cfg,
        store,
        AlertStore(cfg.state_db, bus),
        bus,
        profiles,
        compliance=validate_profile(
            {"id": "t", "title": "t", "jurisdiction": "t", "version": "1", "rules": []}, "t"
        ),
    )
    an.evaluate_once(T0 + 3700 * S)  # hour 0 complete (after a 60 s grace)
    an.evaluate_once(T0 + 3800 * S)
    an.evaluate_once(T0 + 7250 * S)  # hour 1 complete, but still within the grace
    an.evaluate_once(T0 + 7300 * S)  # hour 1
    hours = [e.payload for e in events if e.kind == "hourly.record"]
    assert [h["hour"] for h in hours] == ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"]
    assert hours[0]["energy_kwh"]["value"] == pytest.approx(
        60 + 20 / 60 * 60
    )  # 120 kW for 20 of 60 min
    assert an.stats()["hourly_records_total"] == 2


def test_events_are_published_after_the_cycle_commits(tmp_path):
    """A subscriber in another process (here: another connection) finds the alert the event
    names."""
    an, alerts, _ = _fire_setup(tmp_path, regulator=True)
    other = AlertStore(alerts.path)
    seen = []
    an.bus.subscribe(
        lambda e: (
            seen.append(other.get_alert(e.payload["alert_id"]))
            if e.kind == "alert.transition"
            else None
        )
    )
    _run(an, range(10, 100, 10))
    assert len(seen) == 1 and seen[0]["state"] == "firing" and seen[0]["rule_id"] == "FS-01"


def test_readers_in_other_threads_are_not_blocked_by_a_cycle_and_see_only_committed_rows(tmp_path):
    import threading

    an, alerts, _ = _fire_setup(tmp_path, regulator=True)
    _run(an, [10])
    seen: list = []
    with alerts.batch():
        alerts.set_cursor("X", 1)  # uncommitted write inside the analyzer's transaction
        t = threading.Thread(target=lambda: seen.append((alerts.list_alerts(), alerts.cursor("X"))))
        t.start()
        t.join(timeout=10)
        assert not t.is_alive()  # the API thread did not wait for the cycle
    assert seen == [([], None)]
    assert alerts.cursor("X") == 1


def test_open_alerts_group_by_facility_and_family_and_silences_end_early(tmp_path):
    an, alerts, _ = _fire_setup(tmp_path, regulator=False)
    sil = alerts.add_silence(
        {"family": "fire"}, T0, T0 + 3600 * S, "ops", "drill", kind="maintenance"
    )
    _run(an, range(10, 70, 10))
    assert alerts.groups() == [
        {"group_key": "test-site/fire", "family": "fire", "severity": "critical", "n": 1}
    ]
    alerts.clock = lambda: T0 + 70 * S
    ended = alerts.end_silence(sil["id"], "amir")
    assert ended["ends_at_ns"] == T0 + 70 * S and "ended early by amir" in ended["reason"]
    got = _run(an, [80])
    assert [(t["from_state"], t["to_state"]) for t in got] == [("suppressed", "firing")]


def test_alertmanager_style_silence_mutes_in_the_analyzer_too(tmp_path):
    """A list-form silence (``!=``, ``=~``) is read by the analyzer with the notifier's matcher:
    it used to compare only exact ``{label: value}`` dicts and crash on a list."""
    an, alerts, _events = _fire_setup(tmp_path, regulator=False)
    alerts.add_silence(
        [
            {"name": "subject", "value": "panel-[0-9]+", "op": "=~"},
            {"name": "severity", "value": "info", "op": "!="},
        ],
        T0,
        T0 + 3600 * S,
        "ops",
        "panel work",
    )
    got = _run(an, range(10, 100, 10))
    assert [(t["to_state"], t["silenced"]) for t in got] == [("suppressed", True)]


def test_a_silence_that_would_mute_everything_or_nothing_is_refused(tmp_path):
    _an, alerts, events = _fire_setup(tmp_path, regulator=False)
    with pytest.raises(ValueError, match="matchers must name at least one of"):
        alerts.add_silence({}, T0, T0 + S, "ops", "everything")
    with pytest.raises(ValueError, match="bad regular expression"):
        alerts.add_silence([{"name": "subject", "value": "(", "op": "=~"}], T0, T0 + S, "o", "r")
    with pytest.raises(ValueError, match="unknown matcher label"):
        alerts.add_silence([{"name": "zone", "value": "h1"}], T0, T0 + S, "ops", "hall 1")
    assert alerts.silences() == [] and [e.kind for e in events] == []


def test_refusals_are_typed_for_the_api(tmp_path):
    """The API answers by the exception's type: unknown -> 404, already resolved -> 409, bad input
    -> 400 (``minewatch.errors``)."""
    cfg, store, profiles = HYST.setup(tmp_path)
    an, alerts = _analyzer(cfg, store, profiles, HYST.profile)
    _run(an, range(0, 201, 10))
    (resolved,) = alerts.list_alerts("resolved")
    with pytest.raises(Conflict, match=f"alert {resolved['id']} is resolved"):
        alerts.acknowledge(resolved["id"], "amir", "late", None)
    with pytest.raises(NotFound, match="alert 999 not found"):
        alerts.acknowledge(999, "amir", "typo", None)
    with pytest.raises(NotFound, match="silence 7 not found"):
        alerts.end_silence(7, "amir")
    with pytest.raises(InvalidInput, match="state must be one of"):
        alerts.list_alerts("burning")
