"""The live loop against what telemetry really does: samples written after the cycle that should
have read them (collector batches, late MQTT delivery, devices' own clocks), devices that appear
after the analyzer started, registered equipment of every kind, a fresh analyzer over an empty store
— on a real SqliteStore and state.db."""

from __future__ import annotations

from typing import Any

from minewatch.alerting import AlertTransition
from minewatch.analyzer.engine import Analyzer
from minewatch.analyzer.evaluator import Evaluator
from minewatch.analyzer.profile_loader import load_compliance_profile, validate_profile
from minewatch.analyzer.state import AlertStore
from minewatch.collector.discovery import Comparison, as_samples
from minewatch.profiles.loader import load_profiles
from minewatch.sample import DeviceMeta, Sample
from minewatch.store import SqliteStore
from tests.support.analyzer import T0, S, device_profiles, facility_cfg

RIGS = [
    DeviceMeta("rig-a", "asic_miner", "s21", "hall1", "r1", "rig"),
    DeviceMeta("rig-b", "asic_miner", "s21", "hall1", "r2", "rig"),
]


def _hot_profile(for_s: int = 0):
    return validate_profile(
        {
            "id": "t",
            "title": "late samples",
            "jurisdiction": "test",
            "version": "1",
            "rules": [
                {
                    "id": "TH-05",
                    "title": "chip too hot",
                    "kind": "threshold",
                    "family": "thermal",
                    "severity": "critical",
                    "source": "test",
                    "selector": {"kind": "asic_miner"},
                    "for": f"{for_s}s",
                    "params": {"metric": "chip_temp_c", "max_age": "60s", "above": 90},
                }
            ],
        },
        "test profile",
    )


def _payloads(transitions: list[AlertTransition]) -> list[dict[str, Any]]:
    """The transitions in their wire form (what the notifier and the ledger read)."""
    return [t.to_json() for t in transitions]


def _setup(tmp_path, **analysis: Any):
    cfg = facility_cfg(tmp_path, analysis={"interval_s": 10, **analysis})
    store = SqliteStore(cfg.telemetry_db)
    alerts = AlertStore(cfg.state_db)
    return cfg, store, alerts


def _key(tr: dict[str, Any]) -> tuple:
    return tr["rule_id"], tr["subject"], tr["from_state"], tr["to_state"]


def _late_run(tmp_path, **analysis: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """rig-a's samples are on time; rig-b's collector batches: each of its samples is stamped 1 s
    before a cycle's read point and written just after that cycle — with equal intervals, always.
    rig-b runs hot (95 °C) for samples stamped 99…139 s. Returns (live transitions, replay
    transitions)."""
    cfg, store, alerts = _setup(tmp_path, **analysis)
    store.upsert_devices(RIGS)
    profile = _hot_profile()
    an = Analyzer(
        cfg,
        store,
        alerts,
        None,
        device_profiles({"s21": {"kind": "asic_miner"}}),
        compliance=profile,
    )
    live = []
    for t in range(10, 241, 10):
        live += _payloads(an.evaluate_once(T0 + t * S))
        store.write(
            [
                Sample(T0 + t * S, "rig-a", "chip_temp_c", 70.0),
                Sample(T0 + (t - 1) * S, "rig-b", "chip_temp_c", 95.0 if 100 <= t < 150 else 70.0),
            ]
        )
    ev = Evaluator(cfg, store, profile, device_profiles({"s21": {"kind": "asic_miner"}}))
    replay = [
        {
            "rule_id": tr.rule_id,
            "subject": tr.subject,
            "from_state": tr.from_state,
            "to_state": tr.to_state,
            "at_ns": tr.at_ns,
        }
        for _r, _o, trs, _c in ev.replay(T0 + 10 * S, T0 + 240 * S)
        for tr in trs
    ]
    return live, replay


def test_a_sample_written_after_its_cycle_still_fires_live_and_agrees_with_replay(tmp_path):
    live, replay = _late_run(tmp_path)
    assert [_key(t) for t in live] == [
        ("TH-05", "rig-b", "inactive", "firing"),
        ("TH-05", "rig-b", "firing", "resolved"),
    ]
    assert [_key(t) for t in live] == [_key(t) for t in replay]
    # live learns of each of rig-b's samples one cycle after the replay (which has them all)
    # evaluates them
    assert [(t["at_ns"] - T0) // S for t in live] == [110, 160]
    assert [(t["at_ns"] - T0) // S for t in replay] == [100, 150]


def test_without_the_late_window_a_batching_collector_is_invisible_live(tmp_path):
    """What ``analysis.late_window_s`` buys: with it at 0 the live loop never sees rig-b at all."""
    live, replay = _late_run(tmp_path, late_window_s=0)
    assert live == [] and len(replay) == 2


def test_a_device_appearing_after_start_is_evaluated_at_the_next_cycle(tmp_path):
    """A rig that comes up after the analyzer read its device table is judged as soon as its samples
    are read, not after ``devices_refresh_s`` (here an hour, so only the unknown-device refresh can
    explain it)."""
    cfg, store, alerts = _setup(tmp_path, devices_refresh_s=3600)
    an = Analyzer(
        cfg,
        store,
        alerts,
        None,
        device_profiles({"s21": {"kind": "asic_miner"}}),
        compliance=_hot_profile(),
    )
    assert an.evaluate_once(T0 + 10 * S) == []  # empty store: nothing known yet
    store.upsert_devices(RIGS[:1])  # the collector learns of rig-a, then writes
    store.write([Sample(T0 + 12 * S, "rig-a", "chip_temp_c", 99.0)])
    got = _payloads(an.evaluate_once(T0 + 20 * S))
    assert [(_key(t), (t["at_ns"] - T0) // S) for t in got] == [
        (("TH-05", "rig-a", "inactive", "firing"), 20)
    ]
    assert an.stats()["device_table_reads_total"] == {"periodic": 1, "forced": 1}


def test_the_default_device_refresh_is_seconds_not_half_a_minute(tmp_path):
    cfg = facility_cfg(tmp_path, analysis={})
    # and the late window covers several times the collectors' normal write lag (seconds)
    assert cfg.analysis.devices_refresh_s <= 5 and cfg.analysis.late_window_s >= 15


def _registry_site(tmp_path, start_s: int):
    """Registered: a rig, a hall sensor (reports ambient temperature and humidity, no chip), a
    cooling unit (coolant temperatures only: none of RG-02's heartbeats), a PDU that never reports.
    Everything but the PDU reports every 10 s from ``start_s``; the store is empty before that."""
    (tmp_path / "registry.csv").write_text(
        "serial,model,zone,rack\nrig-1,s21,hall1,r1\nhall-1,env,hall1,\n"
        "cdu-1,cdu,hall1,\npdu-2,pdu,hall1,r2\n"
    )
    cfg, store, alerts = _setup(tmp_path)
    cfg = cfg.model_copy(update={"registry": "registry.csv"})
    store.upsert_devices(
        [
            DeviceMeta("rig-1", "asic_miner", "s21", "hall1", "r1", "rig"),
            DeviceMeta("hall-1", "env_sensor", "env", "hall1", role="hall_sensor"),
            DeviceMeta("cdu-1", "cooling", "cdu", "hall1", role="cooling"),
            DeviceMeta("pdu-2", "pdu", "pdu", "hall1", "r2", "rack_pdu"),
        ]
    )
    rows = []
    for t in range(start_s, 600, 10):
        rows += [
            Sample(T0 + t * S, "rig-1", "chip_temp_c", 70.0),
            Sample(T0 + t * S, "hall-1", "ambient_temp_c", 24.0),
            Sample(T0 + t * S, "hall-1", "humidity_pct", 40.0),
            Sample(T0 + t * S, "cdu-1", "coolant_in_temp_c", 30.0),
        ]
    return cfg, store, alerts, rows


def _rg02(for_s: int = 0):
    """The shipped tm-2026 RG-02, with `for` shortened so the test need not run an hour."""
    (rule,) = [r for r in load_compliance_profile("tm-2026").rules if r.id == "RG-02"]
    data = rule.model_dump(by_alias=True, exclude_none=True)
    data["for"] = f"{for_s}s"
    return validate_profile(
        {"id": "t", "title": "registry", "jurisdiction": "test", "version": "1", "rules": [data]},
        "test profile",
    )


def test_missing_judges_every_registered_kind_by_any_telemetry(tmp_path):
    cfg, store, alerts, rows = _registry_site(tmp_path, start_s=0)
    store.write(rows)
    an = Analyzer(
        cfg,
        store,
        alerts,
        None,
        device_profiles({"s21": {"kind": "asic_miner"}}),
        compliance=_rg02(),
    )
    got = []
    for t in range(0, 541, 10):
        got += _payloads(an.evaluate_once(T0 + t * S))
    # only the PDU that never reported; the hall sensor and the cooling unit report, just no chip
    # temperature
    assert [(_key(t), (t["at_ns"] - T0) // S) for t in got] == [
        (("RG-02", "pdu-2", "inactive", "firing"), 120)
    ]


def test_a_fresh_analyzer_does_not_call_equipment_missing_before_watching_a_whole_window(tmp_path):
    """The analyzer starts at 50 s on an empty store; telemetry begins at 52 s. RG-02 runs every 60
    s, so its first instant (0 s) lies before the start: nothing is judged until 2 min after the
    start (170 s), i.e. the 180 s instant — and then only the PDU that never reported."""
    cfg, store, alerts, rows = _registry_site(tmp_path, start_s=0)
    rows = [Sample(s.ts + 52 * S, s.device, s.metric, s.value) for s in rows]
    an = Analyzer(
        cfg,
        store,
        alerts,
        None,
        device_profiles({"s21": {"kind": "asic_miner"}}),
        compliance=_rg02(),
    )
    got = []
    for t in range(50, 400, 5):
        got += _payloads(an.evaluate_once(T0 + t * S))
        store.write([s for s in rows if T0 + t * S <= s.ts < T0 + (t + 5) * S])
    assert [(_key(t), (t["at_ns"] - T0) // S) for t in got] == [
        (("RG-02", "pdu-2", "inactive", "firing"), 180)
    ]


def test_a_site_silent_since_the_analyzer_started_is_missing_after_one_window(tmp_path):
    """No telemetry at all (collectors never came up): after watching seen_within (2 min) in
    silence, every registered device is missing — the start-up grace hides nothing longer than one
    window."""
    cfg, store, alerts, _rows = _registry_site(tmp_path, start_s=0)
    an = Analyzer(
        cfg,
        store,
        alerts,
        None,
        device_profiles({"s21": {"kind": "asic_miner"}}),
        compliance=_rg02(),
    )
    got = []
    for t in range(30, 200, 10):
        got += _payloads(an.evaluate_once(T0 + t * S))
    assert sorted((t["subject"], (t["at_ns"] - T0) // S) for t in got) == [
        ("cdu-1", 180),
        ("hall-1", 180),
        ("pdu-2", 180),
        ("rig-1", 180),
    ]


def _demo_like_site(tmp_path):
    """The shipped tm-2026 profile and device profiles, the demo's 5 s analysis interval and a
    registry."""
    (tmp_path / "registry.csv").write_text("serial,model,zone,rack\nrig-1,antminer-s21,hall1,r1\n")
    cfg, store, alerts = _setup(tmp_path, interval_s=5)
    cfg = cfg.model_copy(update={"registry": "registry.csv"})
    an = Analyzer(
        cfg, store, alerts, None, load_profiles(), compliance=load_compliance_profile("tm-2026")
    )
    return store, an


def test_an_overheat_fires_within_a_minute_of_start_with_the_shipped_profile(tmp_path):
    """The demo's case: a rig above its model's maximum from its first message (5 s interval). TH-05
    must be firing, not just pending, well within a minute of the analyzer's start."""
    store, an = _demo_like_site(tmp_path)
    store.upsert_devices([DeviceMeta("rig-1", "asic_miner", "antminer-s21", "hall1", "r1", "rig")])
    fired = None
    for t in range(0, 60, 5):
        store.write(
            [
                Sample(T0 + (t - 1) * S, "rig-1", m, v)
                for m, v in (("chip_temp_c", 110.0), ("fan_rpm_1", 6000.0), ("fan_rpm_2", 6000.0))
            ]
        )
        for tr in an.evaluate_once(T0 + t * S):
            if (tr.rule_id, tr.subject, tr.to_state) == (
                "TH-05",
                "rig-1",
                "firing",
            ) and fired is None:
                assert tr.at_ns is not None
                fired = (tr.at_ns - T0) // S
    assert fired is not None and fired <= 35


def test_the_shipped_profile_flags_a_miner_only_discovery_sees(tmp_path):
    """What the polling collector's discovery writes for a miner on the network that is in no
    registry (collector/discovery.py ``as_samples``): RG-04 fires on it; RG-01 cannot (it sends no
    chip temperature)."""
    store, an = _demo_like_site(tmp_path)
    found = Comparison(
        registered_seen=[{"serial": "rig-1", "profile": "antminer-s21"}],
        unregistered=[{"serial": "rogue-7", "profile": "antminer-s21", "host": "127.0.0.9"}],
    )
    samples, metas = as_samples(found, T0 + 2 * S)
    store.upsert_devices(metas)
    store.write(samples)
    got = []
    for t in range(60, 181, 5):
        got += _payloads(an.evaluate_once(T0 + t * S))
    rg = [
        (_key(t), (t["at_ns"] - T0) // S)
        for t in got
        if t["rule_id"].startswith("RG-0") and t["subject"] != "rig-1"
    ]
    assert rg == [(("RG-04", "rogue-7", "inactive", "firing"), 60)]
    (fire,) = [t for t in got if t["rule_id"] == "RG-04"]
    assert fire["regulator_notifiable"] and fire["family"] == "registry"


def _shipped(rule_id: str):
    (rule,) = [r for r in load_compliance_profile("tm-2026").rules if r.id == rule_id]
    return validate_profile(
        {
            "id": "t",
            "title": rule_id,
            "jurisdiction": "test",
            "version": "1",
            "rules": [rule.model_dump(by_alias=True, exclude_none=True)],
        },
        "test profile",
    )


def test_a_meter_polled_faster_than_it_refreshes_is_not_frozen_but_a_stuck_one_is(tmp_path):
    """The demo's DQ-04: the revenue meter is polled every second, its value changes every 5 s (the
    simulated facility's step; real meters refresh registers every 1-5 s) — five identical readings
    in a row, over and over. Not frozen. The same meter stuck at one value for 16 minutes is."""
    cfg, store, _alerts = _setup(tmp_path, interval_s=5)
    store.upsert_devices(
        [DeviceMeta("meter-1", "power_meter", "eastron-sdm630", role="revenue_meter")]
    )
    store.write(
        [
            Sample(
                T0 + t * S,
                "meter-1",
                "power_w",
                820_000.0 + 37 * (t // 5) % 400 if t < 1800 else 815_000.0,
            )
            for t in range(0, 2880)
        ]
    )
    ev = Evaluator(cfg, store, _shipped("DQ-04"), {})
    trs = [
        (tr.to_state, (tr.at_ns - T0) // S)
        for _r, _o, ts, _c in ev.replay(T0 + 60 * S, T0 + 2870 * S)
        for tr in ts
    ]
    # stuck from 1800 s: the run spans 15 min with the reading at 2700 s, seen at the next 30 s
    # instant
    assert trs == [("firing", 2730)]


def test_rigs_judged_against_their_own_changing_rate_live_as_in_a_replay_instant_by_instant(
    tmp_path,
):
    """DQ-03 (``interval: device``) live keeps each rig's observed cadence between cycles
    (``SlidingCadence``); the replay with one instant per chunk computes it afresh at every instant,
    as live did before. rig-b's collector batches (each sample written after the cycle that should
    have read it, so its window changes inside, not only at its ends), rig-c slows from every 10 s
    to every 40 s (its median gap moves as the 12-minute window fills with the slower gaps), rig-d
    goes silent: every transition must agree."""
    cfg, store, alerts = _setup(tmp_path)
    rigs = [DeviceMeta(f"rig-{x}", "asic_miner", "s21", "hall1", "r1", "rig") for x in "abcd"]
    store.upsert_devices(rigs)
    profile = validate_profile(
        {
            "id": "t",
            "title": "own rates",
            "jurisdiction": "test",
            "version": "1",
            "rules": [
                {
                    "id": "DQ-03",
                    "title": "rig silent",
                    "kind": "stale",
                    "family": "data_quality",
                    "severity": "major",
                    "source": "test",
                    "selector": {"kind": "asic_miner"},
                    "params": {
                        "metric": "chip_temp_c",
                        "interval": "device",
                        "intervals": 3,
                        "max_interval": "2m",
                    },
                }
            ],
        },
        "test profile",
    )
    profiles = device_profiles({"s21": {"kind": "asic_miner"}})
    an = Analyzer(cfg, store, alerts, None, profiles, compliance=profile)
    live = []
    for t in range(10, 1501, 10):
        live += [(*_key(tr), tr["at_ns"]) for tr in _payloads(an.evaluate_once(T0 + t * S))]
        on_time = [Sample(T0 + t * S, "rig-a", "chip_temp_c", 70.0)]
        if t < 300 or t % 40 == 0:
            on_time.append(Sample(T0 + t * S, "rig-c", "chip_temp_c", 70.0))
        if t < 400:
            on_time.append(Sample(T0 + t * S, "rig-d", "chip_temp_c", 70.0))
        store.write(on_time)
        store.write([Sample(T0 + (t - 1) * S, "rig-b", "chip_temp_c", 70.0)])
    ev = Evaluator(cfg, store, profile, profiles)
    replay = [
        (tr.rule_id, tr.subject, tr.from_state, tr.to_state, tr.at_ns)
        for _r, _o, trs, _c in ev.replay(T0 + 10 * S, T0 + 1500 * S, chunk_s=10)
        for tr in trs
    ]
    subjects = {k[1] for k in live}
    assert {"rig-c", "rig-d"} <= subjects and "rig-a" not in subjects and "rig-b" not in subjects
    assert live == replay
