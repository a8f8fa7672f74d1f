"""Polling real TCP miner-API servers that answer like Antminer, Whatsminer and LuxOS firmware."""

from __future__ import annotations

import asyncio

import pytest

from minewatch.collector.minerapi.miner import MinerPoller
from minewatch.collector.minerapi.raw import RawKeeper
from minewatch.config.polling import MinerTarget
from minewatch.counters import Counters
from minewatch.profiles import load_profiles
from minewatch.sample import now_ns
from tests.support.minerapi import running, sim_miner

PROFILES = load_profiles()


def _poller(
    server,
    profile: str | None = None,
    serial: str | None = None,
    timeout_s: float = 3.0,
    raw: RawKeeper | None = None,
) -> MinerPoller:  # type: ignore[no-untyped-def]
    target = MinerTarget(
        host=server.host, port=server.port, profile=profile, serial=serial, timeout_s=timeout_s
    )
    return MinerPoller(target, PROFILES, Counters(), raw)


@pytest.mark.parametrize(
    "profile", ["antminer-s19-xp", "antminer-s21", "whatsminer-m60", "luxos-antminer-s19j-pro"]
)
async def test_each_firmware_maps_to_the_same_metrics(profile: str) -> None:
    miner = sim_miner(
        profile,
        "SN-1",
        chip_temp_c=77.0,
        hashrate_ths=150.0,
        power_w=3300.0,
        fan_rpm=[5000.0, 5100.0, 5200.0, 5300.0],
    )
    async with running([miner]) as (server,):
        poller = _poller(server, profile, "SN-1")
        samples = await poller.poll(now_ns())
    got = {s.metric: s.value for s in samples}
    assert got["up"] == 1.0 and got["hashrate_ths"] == pytest.approx(150.0)
    assert got["chip_temp_c"] == 77.0
    assert got["fan_rpm_1"] == 5000.0 and "board_temp_c" in got
    if profile.startswith("antminer"):
        assert "power_w" not in got  # stock Antminers report no power at all
    else:
        assert got["power_w"] == 3300.0 and PROFILES[profile].miner_api.fields["power_w"].estimate
    assert all(s.device == "SN-1" for s in samples)


async def test_hydro_antminer_reports_coolant_temperatures_from_the_chip_array() -> None:
    miner = sim_miner("antminer-s21-hydro", "H-1", chip_temp_c=80.0)
    async with running([miner]) as (server,):
        got = {
            s.metric: s.value
            for s in await _poller(server, "antminer-s21-hydro", "H-1").poll(now_ns())
        }
    assert (
        got["coolant_in_temp_c"] == 40.0
        and got["coolant_out_temp_c"] == 50.0
        and got["chip_temp_c"] == 80.0
    )
    assert not any(m.startswith("fan_rpm") for m in got)


async def test_unparseable_reply_is_kept_raw_and_the_rest_still_maps(tmp_path) -> None:  # type: ignore[no-untyped-def]
    miner = sim_miner("whatsminer-m60", "W-1", quirks={"truncated"})
    raw = RawKeeper(tmp_path / "raw", keep=10)
    async with running([miner]) as (server,):
        poller = _poller(server, "whatsminer-m60", "W-1", raw=raw)
        samples = await poller.poll(now_ns())
    # it answered, with nothing usable: degraded, not up
    assert [(s.metric, s.value) for s in samples] == [("up", 0.0), ("api_state", 1.0)]
    assert poller.state == "degraded" and poller.up is True
    kept = raw.recent()
    assert {(k.device, k.command, k.reason) for k in kept} == {
        ("W-1", "summary", "truncated"),
        ("W-1", "pools", "truncated"),
    }
    assert all(k.raw == miner.reply(k.command) for k in kept)  # byte-for-byte what the miner sent
    assert len(list((tmp_path / "raw").glob("*.raw"))) == 2
    assert poller.counters.get("rejected_total", "miner_reply_truncated") == 2


async def test_nan_in_one_field_rejects_that_field_only() -> None:
    miner = sim_miner("whatsminer-m60", "W-2", quirks={"nan"}, chip_temp_c=float("nan"))
    async with running([miner]) as (server,):
        poller = _poller(server, "whatsminer-m60", "W-2")
        got = {s.metric: s.value for s in await poller.poll(now_ns())}
    assert "chip_temp_c" not in got and got["power_w"] == 3250.0 and got["up"] == 1.0
    assert poller.counters.get("rejected_total", "miner_field_non_finite") >= 1


async def test_antminer_stats_with_missing_commas_and_nul_are_parsed() -> None:
    miner = sim_miner("antminer-s19-xp", "A-1")
    assert b"}{" in miner.reply("stats") and miner.reply("stats").endswith(b"\x00")
    async with running([miner]) as (server,):
        poller = _poller(server, "antminer-s19-xp", "A-1")
        got = {s.metric: s.value for s in await poller.poll(now_ns())}
    assert got["fan_rpm_4"] == 5580.0 and poller.counters.get("rejected_total") == 0


async def test_hung_miner_never_stalls_the_others() -> None:
    miners = [sim_miner("whatsminer-m60", f"W-{i}") for i in range(4)]
    miners[0].hang = True
    async with running(miners) as servers:
        pollers = [
            _poller(s, "whatsminer-m60", f"W-{i}", timeout_s=2.0) for i, s in enumerate(servers)
        ]
        tasks = [asyncio.create_task(p.poll(now_ns())) for p in pollers]
        await asyncio.wait(tasks[1:])
        assert not tasks[0].done()  # the healthy miners finished while the hung one still waits
        hung = await tasks[0]
    assert [(s.metric, s.value) for s in hung] == [("up", 0.0), ("api_state", 0.0)]
    assert all({s.metric: s.value for s in t.result()}["up"] == 1.0 for t in tasks[1:])
    assert pollers[0].counters.get("miner_errors_total", "timeout") >= 1


async def test_unconfigured_miner_is_identified_from_its_replies() -> None:
    async with running(
        [sim_miner("whatsminer-m60", "WM60-000777"), sim_miner("antminer-s21", "ignored")]
    ) as servers:
        wm, am = (_poller(s) for s in servers)
        wm_samples = await wm.poll(now_ns())
        am_samples = await am.poll(now_ns())
    assert wm.profile.id == "whatsminer-m60" and {s.device for s in wm_samples} == {"WM60-000777"}
    assert (
        wm.new_meta is not None
        and wm.new_meta.role == "rig"
        and wm.new_meta.model == "whatsminer-m60"
    )
    # stock Antminers give no serial on 4028: the device id falls back to host:port
    assert am.profile.id == "antminer-s21" and {s.device for s in am_samples} == {
        f"{am.target.host}:{am.port}"
    }


async def test_powered_off_miner_is_down() -> None:
    miner = sim_miner("luxos-antminer-s19j-pro", "L-1", online=False)
    async with running([miner]) as (server,):
        poller = _poller(server, "luxos-antminer-s19j-pro", "L-1")
        samples = await poller.poll(now_ns())
    assert [(s.metric, s.value) for s in samples] == [("up", 0.0), ("api_state", 0.0)]
    assert poller.up is False and poller.state == "down"


async def test_addresses_and_host_names_resolve_to_a_socket_family() -> None:
    import socket

    from minewatch.collector.minerapi.client import _address

    loop = asyncio.get_running_loop()
    assert await _address(loop, "127.1.0.7", 4028) == (socket.AF_INET, ("127.1.0.7", 4028))
    assert (await _address(loop, "::1", 4028))[0] == socket.AF_INET6
    family, addr = await _address(loop, "localhost", 4028)
    assert family in (socket.AF_INET, socket.AF_INET6) and addr[1] == 4028
