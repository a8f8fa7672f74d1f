"""Firmware truth: replies captured from real miners, served on loopback the way firmware sends them
(NUL after the reply, the connection closed), read through the production poller and compared with
values derived by hand beside the captures (tests/captures/foreman/expected.yaml)."""

from __future__ import annotations

import logging

import pytest

from minewatch.analyzer.engine import Analyzer
from minewatch.analyzer.profile_loader import load_compliance_profile
from minewatch.analyzer.state import AlertStore
from minewatch.collector.discovery import scan
from minewatch.collector.minerapi.miner import MinerPoller
from minewatch.collector.minerapi.probe import probe
from minewatch.collector.minerapi.raw import RawKeeper
from minewatch.config.polling import MinerTarget
from minewatch.counters import Counters
from minewatch.profiles import load_profiles
from minewatch.sample import now_ns
from minewatch.store import SqliteStore
from tests.support.analyzer import facility_cfg
from tests.support.minerapi import ReplayMiner, capture_cases, running

PROFILES = load_profiles()
CASES = capture_cases()
IDENTIFIABLE = sorted(c for c, e in CASES.items() if "model" in e)


def _poller(server, profile: str | None, counters: Counters | None = None, raw=None):  # type: ignore[no-untyped-def]
    target = MinerTarget(
        host=server.host, port=server.port, profile=profile, serial="SN", timeout_s=3.0
    )
    return MinerPoller(target, PROFILES, counters or Counters(), raw)


@pytest.mark.parametrize("case", sorted(CASES))
async def test_captured_reply_reads_as_derived_by_hand(case: str) -> None:
    expected = CASES[case]
    counters = Counters()
    async with running([ReplayMiner(case, CASES[case].get("folder", ""))]) as (server,):
        poller = _poller(server, expected["profile"], counters)
        got = {s.metric: s.value for s in await poller.poll(now_ns())}
    assert got["up"] == 1.0 and poller.state == "up", counters.snapshot()
    for metric, value in expected["metrics"].items():
        if value is None:
            assert metric not in got, f"{metric} should be absent, read {got.get(metric)}"
        else:
            assert got.get(metric) == pytest.approx(value, abs=1e-6), metric
    assert counters.get("rejected_total", "miner_field_out_of_range") == expected.get(
        "out_of_range", 0
    )


@pytest.mark.parametrize("case", IDENTIFIABLE)
async def test_each_captured_antminer_is_identified_without_a_profile(case: str) -> None:
    async with running([ReplayMiner(case, CASES[case].get("folder", ""))]) as (server,):
        poller = _poller(server, None)
        await poller.poll(now_ns())
        found = await scan([server.host], PROFILES, miner_ports=[server.port], timeout_s=2.0)
    assert poller.profile is not None and poller.profile.id == CASES[case]["profile"]
    (miner,) = [f for f in found if f.protocol == "miner_api"]
    assert (miner.model, miner.profile) == (CASES[case]["model"], CASES[case]["profile"])
    assert miner.generic_limits  # family profiles: the page and reports say "generic limits"


@pytest.mark.parametrize("case", IDENTIFIABLE[:3])
async def test_probe_reads_units_and_pool_labels(case: str) -> None:
    async with running([ReplayMiner(case, CASES[case].get("folder", ""))]) as (server,):
        result = await probe(server.host, server.port, PROFILES, timeout_s=2.0)
    assert result.read and result.profile == CASES[case]["profile"] and result.generic_limits
    assert result.labels == CASES[case]["labels"]
    assert result.metrics["chip_temp_c"]["unit"] == "°C"
    assert result.metrics["hashrate_ths"] == {
        "value": pytest.approx(CASES[case]["metrics"]["hashrate_ths"]),
        "unit": "TH/s",
    }


async def test_refused_command_is_degraded_counted_kept_and_logged_once(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    miner = ReplayMiner("antminer-s19pro-overheat")
    denied = (
        b'{"STATUS":[{"STATUS":"E","When":1621305590,"Code":45,'
        b'"Msg":"Access denied to \'stats\' command","Description":"cgminer 1.0.0"}],'
        b'"id":1}\x00'
    )
    miner.replies["stats"] = denied[:-1]
    raw = RawKeeper(tmp_path, keep=10)
    counters = Counters()
    with caplog.at_level(logging.WARNING, logger="minewatch.collector.minerapi.miner"):
        async with running([miner]) as (server,):
            poller = _poller(server, "antminer-x17-x19", counters, raw)
            polls = [{s.metric: s.value for s in await poller.poll(now_ns())} for _ in range(3)]
    assert all(p["up"] == 0.0 and p["api_state"] == 1.0 for p in polls)  # degraded, not up
    assert polls[0]["pool_accepted_count"] == 37  # the pools reply still counts
    assert "chip_temp_c" not in polls[0]
    assert counters.get("rejected_total", "miner_reply_status_error") == 3
    assert next((k.command, k.reason, k.raw) for k in raw.recent()) == (
        "stats",
        "status_error",
        denied,
    )
    lines = [r.getMessage() for r in caplog.records if "degraded" in r.getMessage()]
    assert len(lines) == 1 and "Access denied to 'stats' command" in lines[0]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda b: b[: len(b) // 2], "truncated"),
        (lambda b: b.replace(b'"Type"', b'"Ty\xff\xfepe"', 1)[:300], "truncated"),
        (lambda b: b"\xff\xfe\x00BUSY", "invalid_json"),
    ],
)
async def test_broken_stats_reply_keeps_its_bytes_and_the_pools_data(
    tmp_path, damage, reason: str
) -> None:  # type: ignore[no-untyped-def]
    miner = ReplayMiner("antminer-s17pro")
    miner.replies["stats"] = damage(miner.replies["stats"])
    raw = RawKeeper(tmp_path, keep=10)
    counters = Counters()
    async with running([miner]) as (server,):
        poller = _poller(server, "antminer-x17-x19", counters, raw)
        got = {s.metric: s.value for s in await poller.poll(now_ns())}
    assert poller.state == "degraded" and got["pool_rejected_count"] == 416
    assert counters.get("rejected_total", f"miner_reply_{reason}") == 1
    assert raw.recent()[0].raw == miner.replies["stats"] + b"\x00"


async def test_whatsminer_invalid_escape_no_longer_loses_the_summary() -> None:
    miner = ReplayMiner("whatsminer-m20s")
    assert b"\"\\'20200917.22.REL\\'\"" in miner.replies["summary"]
    async with running([miner]) as (server,):
        result = await probe(server.host, server.port, PROFILES, timeout_s=2.0)
        poller = _poller(server, "whatsminer-m2x-m3x")
        got = {s.metric: s.value for s in await poller.poll(now_ns())}
    assert got["power_w"] == 3491 and got["chip_temp_c"] == 87.7 and poller.state == "up"
    # no devdetails was captured: the probe says what it saw and why it cannot name a profile
    assert not result.read and "no profile matches" in result.problems[0]


async def test_overheating_capture_fires_the_chip_temperature_rule(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The real S19 Pro with chips at 93-97 °C, polled as production polls it, into the store and
    through the shipped tm-2026 profile: TH-05 (chip above the model's maximum) fires."""
    cfg = facility_cfg(tmp_path, analysis={"interval_s": 10})
    store, alerts = SqliteStore(cfg.telemetry_db), AlertStore(cfg.state_db)
    analyzer = Analyzer(
        cfg, store, alerts, None, PROFILES, compliance=load_compliance_profile("tm-2026")
    )
    fired = []
    async with running([ReplayMiner("antminer-s19pro-overheat")]) as (server,):
        target = MinerTarget(host=server.host, port=server.port, serial="S19P-1", timeout_s=3.0)
        poller = MinerPoller(target, PROFILES, Counters(), None)
        t0 = now_ns()
        for i in range(7):  # one poll every 10 s of analyzer time
            ts = t0 + i * 10 * 10**9
            samples = await poller.poll(ts)
            if poller.new_meta is not None:
                store.upsert_devices([poller.new_meta])
                poller.new_meta = None
            store.write(samples)
            fired += [
                t
                for t in analyzer.evaluate_once(ts + 10**9)
                if (t.rule_id, t.to_state) == ("TH-05", "firing")
            ]
    assert poller.profile is not None and poller.profile.id == "antminer-s19"
    assert [t.subject for t in fired] == ["S19P-1"]


async def test_identification_refusals_are_not_counted_as_bad_replies(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Identifying asks every firmware's identity commands; an Antminer refusing Whatsminer's
    ``get_miner_info`` is an answer ("not this firmware"), not a broken reply to keep."""
    raw, counters = RawKeeper(tmp_path, keep=10), Counters()
    async with running([ReplayMiner("antminer-s17pro")]) as (server,):
        poller = _poller(server, None, counters, raw)
        got = {s.metric: s.value for s in await poller.poll(now_ns())}
    assert got["up"] == 1.0 and poller.state == "up"
    assert counters.get("rejected_total") == 0 and raw.recent() == []


def test_simulated_miners_answer_in_the_captured_firmware_format() -> None:
    """The simulator's Antminer stats and Whatsminer summary are the captured replies with the rig's
    values put in: same keys, same order, same types; its captured bytes are the fixtures'."""
    from minewatch.collector.minerapi.parse import parse_reply
    from minewatch.simulator import miner_api_captured as captured
    from tests.support.minerapi import CAPTURES, sim_miner

    assert (CAPTURES / "antminer-s19pro-cold" / "stats.raw").read_bytes() == captured.S19PRO_STATS
    assert (CAPTURES / "whatsminer-m31s" / "summary.raw").read_bytes() == captured.M31S_SUMMARY
    real = parse_reply(captured.S19PRO_STATS)["STATS"][1]
    sim = parse_reply(sim_miner("antminer-s19-xp", "A-9", chip_temp_c=81.0).reply("stats"))
    flat = sim["STATS"][1]
    assert list(flat) == list(real) and [type(v) for v in flat.values()] == [
        type(v) for v in real.values()
    ]
    assert flat["temp2_1"] == 81 and flat["temp_chip1"].endswith("-81")
    assert sim["STATS"][0]["Type"] == "Antminer S19 XP"
    wm_real = parse_reply(captured.M31S_SUMMARY)["SUMMARY"][0]
    wm = parse_reply(sim_miner("whatsminer-m60", "W-9").reply("summary"))["SUMMARY"][0]
    assert set(wm) <= set(wm_real) and wm["Power"] == 3250 and wm["Error Code Count"] == 0
