"""Polling load benchmark: 300 Modbus devices at 1 s and 3,000 miner APIs at 30 s on this machine.

The simulated devices run in a child process (real pymodbus servers, real TCP miner-API servers on
127.1.x.y); the collector runs in this process, so its CPU is measured alone. Baseline, same run:
the same reads done by the thinnest possible loop (one persistent pymodbus client per device reading
the planned blocks, raw TCP exchanges with the miners, no decoding, no store). The figures printed
are completed and missed polls, late starts, and CPU per poll against that baseline.

With ``--pyasic-seconds N`` it then runs pyasic (``get_miner`` once, ``get_data()`` every 30 s) on
the same miners, served on 4028, and prints its CPU per poll and what it read beside the poller's.

Usage: python bench/polling_load.py [--modbus 300] [--miners 3000] [--seconds 45]
[--baseline-seconds 20] [--pyasic-seconds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pymodbus.client import AsyncModbusTcpClient

from minewatch.collector.minerapi.client import query
from minewatch.collector.modbus.plan import plan_reads
from minewatch.collector.polling import PollingCollector
from minewatch.collector.polling.schedule import phase
from minewatch.config.facility import FacilityConfig
from minewatch.configfile import validate
from minewatch.profiles import load_profiles
from minewatch.store import SqliteStore

MODBUS_MIX = (("generic-rack-pdu", 5), ("eastron-sdm630", 1))  # 5 PDUs per meter, like a site
MINER_MIX = ("whatsminer-m60", "antminer-s21", "antminer-s19-xp", "luxos-antminer-s19j-pro")


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _proc_cpu_s(pid: int) -> float:
    """CPU seconds of another process (Linux /proc), to show what the simulated devices cost."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _modbus_plan(n: int) -> list[tuple[str, int, int]]:
    """(profile, port index, unit) per device: 10 units behind each gateway port, as RS-485 gateways
    do."""
    kinds = [p for p, k in MODBUS_MIX for _ in range(k)]
    return [(kinds[i % len(kinds)], i // 10, i % 10 + 1) for i in range(n)]


def _serve(
    n_modbus: int, n_miners: int, miner_port: int, modbus_ports: list[int], ready, stop
) -> None:  # type: ignore[no-untyped-def]
    """Child process: every simulated device."""
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    from minewatch.simulator.miner_api import MinerApiServer, RigValues
    from minewatch.simulator.miner_api_fleet import FLEET_NET, sim_miner_for
    from minewatch.simulator.modbus_server import SimModbusServer, SimUnit

    profiles = load_profiles()

    async def serve() -> None:
        values = {
            "power_w": 32000.0,
            "voltage_v_l1": 230.0,
            "current_a_l1": 46.0,
            "energy_kwh": 1234.5,
        }
        by_port: dict[int, list[SimUnit]] = {}
        for i, (profile, port_idx, unit) in enumerate(_modbus_plan(n_modbus)):
            by_port.setdefault(port_idx, []).append(
                SimUnit(f"d{i}", profiles[profile], unit, lambda: values)
            )
        servers = [SimModbusServer(units, modbus_ports[idx]) for idx, units in by_port.items()]
        for s in servers:
            await s.start()
        miners = [
            MinerApiServer(
                sim_miner_for(RigValues(f"SN{i:05d}"), MINER_MIX[i % len(MINER_MIX)]),
                str(FLEET_NET[i + 1]),
                miner_port,
            )
            for i in range(n_miners)
        ]
        for m in miners:
            await m.start()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.2)
        for m in miners:
            await m.stop()
        for s in servers:
            await s.stop()

    asyncio.run(serve())


def _targets(
    n_modbus: int, n_miners: int, miner_port: int, modbus_ports: list[int]
) -> tuple[list, list]:
    from minewatch.simulator.miner_api_fleet import FLEET_NET

    modbus = [
        {
            "name": f"dev-{i:03d}",
            "profile": p,
            "host": "127.0.0.1",
            "port": modbus_ports[idx],
            "unit_id": u,
            "interval_s": 1.0,
            "timeout_s": 1.0,
            "role": "rack_pdu",
        }
        for i, (p, idx, u) in enumerate(_modbus_plan(n_modbus))
    ]
    miners = [
        {
            "host": str(FLEET_NET[i + 1]),
            "port": miner_port,
            "profile": MINER_MIX[i % len(MINER_MIX)],
            "serial": f"SN{i:05d}",
            "interval_s": 30.0,
            "timeout_s": 5.0,
        }
        for i in range(n_miners)
    ]
    return modbus, miners


async def _baseline(modbus: list[dict], miners: list[dict], seconds: float, profiles: dict) -> dict:
    """Thinnest loop doing the same requests on the same schedule: no decode, no store."""
    stop_at = time.monotonic() + seconds
    done = {"modbus": 0, "miner": 0}
    clients: dict[int, AsyncModbusTcpClient] = {}
    locks: dict[int, asyncio.Lock] = {}
    for t in modbus:
        if t["port"] not in clients:
            clients[t["port"]] = AsyncModbusTcpClient(
                "127.0.0.1", port=t["port"], timeout=1, retries=0
            )
            locks[t["port"]] = asyncio.Lock()
            await clients[t["port"]].connect()

    async def modbus_loop(t: dict, offset: float) -> None:
        blocks = plan_reads(profiles[t["profile"]].modbus)
        nxt = time.monotonic() + offset
        while nxt < stop_at:
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))
            for b in blocks:
                async with locks[t["port"]]:
                    call = (
                        clients[t["port"]].read_input_registers
                        if b.function_code == 4
                        else clients[t["port"]].read_holding_registers
                    )
                    await call(b.address, count=b.count, device_id=t["unit_id"])
            done["modbus"] += 1
            nxt += 1.0

    async def miner_loop(t: dict, offset: float, sem: asyncio.Semaphore) -> None:
        cmds = profiles[t["profile"]].miner_api.commands
        nxt = time.monotonic() + offset
        while nxt < stop_at:
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))
            async with sem:
                await asyncio.gather(
                    *(query(t["host"], t["port"], c, 5.0) for c in cmds), return_exceptions=True
                )
            done["miner"] += 1
            nxt += 30.0

    sem = asyncio.Semaphore(256)
    cpu0, t0 = _cpu_s(), time.monotonic()
    await asyncio.gather(
        *(modbus_loop(t, phase(t["name"], 1.0, 1.0)) for t in modbus),
        *(miner_loop(t, phase(f"{t['host']}:{t['port']}", 30.0, 1.0), sem) for t in miners),
    )
    for c in clients.values():
        c.close()
    return {"cpu_s": _cpu_s() - cpu0, "wall_s": time.monotonic() - t0, **done}


def _collector_run(
    modbus: list[dict], miners: list[dict], seconds: float, profiles: dict, tmp: Path
) -> dict:
    data = {
        "facility": {"id": "bench", "name": "Bench"},
        "licence": {"number": "B", "capacity_kw": 100000},
        "storage": {"data_dir": str(tmp)},
        "polling": {"modbus": modbus, "miners": miners},
    }
    cfg = validate(FacilityConfig, data, "bench").model_copy(update={"base_dir": tmp})
    store = SqliteStore(tmp / "telemetry.db")
    collector = PollingCollector(cfg, store, profiles)
    cpu0, t0 = _cpu_s(), time.monotonic()
    collector.start()
    time.sleep(seconds)
    collector.stop()
    out = {"cpu_s": _cpu_s() - cpu0, "wall_s": time.monotonic() - t0, "stats": collector.stats()}
    store.close()
    return out


async def _pyasic_run(miners: list[dict], seconds: float) -> dict:
    """pyasic (UpstreamData/pyasic) doing the same job: identify each miner once (``get_miner``),
    then ``get_data()`` on the same 30 s schedule, at most 256 miners in flight."""
    import warnings

    import pyasic

    warnings.simplefilter("ignore")
    sem = asyncio.Semaphore(256)
    cpu0, t0 = _cpu_s(), time.monotonic()

    async def identify(host: str):  # type: ignore[no-untyped-def]
        async with sem:
            return await pyasic.get_miner(host)

    found = await asyncio.gather(*(identify(t["host"]) for t in miners), return_exceptions=True)
    ident_cpu, ident_wall = _cpu_s() - cpu0, time.monotonic() - t0
    stop_at = time.monotonic() + seconds
    done = {"polls": 0, "failed": 0, "hashrate": 0, "chip_temp": 0, "board_temp": 0, "fans": 0}

    async def loop(miner, offset: float) -> None:  # type: ignore[no-untyped-def]
        nxt = time.monotonic() + offset
        while nxt < stop_at:
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))
            try:
                async with sem:
                    d = await asyncio.wait_for(miner.get_data(), 5.0)
            except Exception:  # pyasic raises many kinds; each is one failed poll
                done["failed"] += 1
            else:
                done["polls"] += 1
                done["hashrate"] += d.hashrate is not None
                done["chip_temp"] += any(h.chip_temp is not None for h in d.hashboards)
                done["board_temp"] += any(h.temp is not None for h in d.hashboards)
                done["fans"] += any(f.speed for f in d.fans)
            nxt += 30.0

    cpu1, t1 = _cpu_s(), time.monotonic()
    live = [(m, t) for m, t in zip(found, miners, strict=True) if m is not None]
    live = [(m, t) for m, t in live if not isinstance(m, BaseException)]
    await asyncio.gather(*(loop(m, phase(t["host"], 30.0, 1.0)) for m, t in live))
    return {
        "identified": len(live),
        "ident_cpu_s": ident_cpu,
        "ident_wall_s": ident_wall,
        "cpu_s": _cpu_s() - cpu1,
        "wall_s": time.monotonic() - t1,
        "classes": sorted({type(m).__name__ for m, _ in live}),
        **done,
    }


def _scheduled(names: list[str], interval_s: float, wall_s: float) -> int:
    """Polls the schedule asks for in ``wall_s``: each device's slots after its phase (jitter
    1.0)."""
    return sum(
        int((wall_s - phase(n, interval_s, 1.0)) // interval_s) + 1
        for n in names
        if phase(n, interval_s, 1.0) < wall_s
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modbus", type=int, default=300)
    ap.add_argument("--miners", type=int, default=3000)
    ap.add_argument("--seconds", type=float, default=45.0)
    ap.add_argument("--baseline-seconds", type=float, default=20.0)
    ap.add_argument(
        "--pyasic-seconds",
        type=float,
        default=0.0,
        help="Also run pyasic's get_data on the same miners for this long (miners then on 4028)",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    import socket

    def port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    n_ports = (args.modbus + 9) // 10
    modbus_ports, miner_port = [port() for _ in range(n_ports)], port()
    if args.pyasic_seconds:
        miner_port = 4028  # pyasic reaches the miner API on 4028 only
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    child = ctx.Process(
        target=_serve,
        args=(args.modbus, args.miners, miner_port, modbus_ports, ready, stop),
        daemon=True,
    )
    child.start()
    if not ready.wait(300):
        raise SystemExit("simulated devices did not start")
    profiles = load_profiles()
    modbus, miners = _targets(args.modbus, args.miners, miner_port, modbus_ports)
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before the run "
        f"(other processes compete for the cores); {args.modbus} Modbus devices at 1 s "
        f"on {n_ports} gateway ports, "
        f"{args.miners} miners at 30 s; devices served by a separate process"
    )
    try:
        c0 = _proc_cpu_s(child.pid)
        base = asyncio.run(_baseline(modbus, miners, args.baseline_seconds, profiles))
        c1 = _proc_cpu_s(child.pid)
        with tempfile.TemporaryDirectory() as d:
            run = _collector_run(modbus, miners, args.seconds, profiles, Path(d))
        c2 = _proc_cpu_s(child.pid)
        pya = asyncio.run(_pyasic_run(miners, args.pyasic_seconds)) if args.pyasic_seconds else None
    finally:
        stop.set()
        child.join(30)
    st = run["stats"]
    polls = st.get("polls_total", {})
    missed, late = st.get("missed_polls_total", {}), st.get("late_polls_total", {})
    exp_mb = _scheduled([t["name"] for t in modbus], 1.0, run["wall_s"])
    exp_mi = _scheduled([f"{t['host']}:{t['port']}" for t in miners], 30.0, run["wall_s"])
    base_polls = base["modbus"] + base["miner"]
    run_polls = polls.get("modbus", 0) + polls.get("miner", 0)
    base_ms = 1000 * base["cpu_s"] / max(1, base_polls)
    run_ms = 1000 * run["cpu_s"] / max(1, run_polls)
    print(
        f"\nbaseline ({base['wall_s']:.0f} s): {base['modbus']} Modbus polls, "
        f"{base['miner']} miner polls, "
        f"CPU {100 * base['cpu_s'] / base['wall_s']:.0f} % of one core, "
        f"{base_ms:.2f} ms CPU per poll "
        f"(device simulator process: {100 * (c1 - c0) / base['wall_s']:.0f} %)"
    )
    print(
        f"collector ({run['wall_s']:.0f} s): Modbus polls {polls.get('modbus', 0)} "
        f"of {exp_mb} scheduled, missed {missed.get('modbus', 0)}, late {late.get('modbus', 0)}; "
        f"miner polls {polls.get('miner', 0)} of "
        f"{exp_mi}, missed {missed.get('miner', 0)}, late {late.get('miner', 0)}"
    )
    print(
        f"  devices up: Modbus {st['modbus_devices_up']}/{st['modbus_devices']}, "
        f"miners {st['miners_up']}/{st['miners']} ({st['miners_degraded']} degraded); "
        f"samples written {st.get('written_total', 0)} "
        f"({st.get('written_total', 0) / run['wall_s']:.0f}/s); "
        f"errors {st.get('modbus_errors_total', {})} {st.get('miner_errors_total', {})}"
    )
    print(
        f"  CPU {100 * run['cpu_s'] / run['wall_s']:.0f} % of one core, "
        f"{run_ms:.2f} ms CPU per poll = {run_ms / base_ms:.2f}x the baseline "
        f"(decode, mapping, batching and SQLite writes included); "
        f"device simulator process: {100 * (c2 - c1) / run['wall_s']:.0f} %"
    )
    if pya is not None:
        pya_ms = 1000 * pya["cpu_s"] / max(1, pya["polls"] + pya["failed"])
        print(
            f"pyasic: identified {pya['identified']}/{len(miners)} miners in "
            f"{pya['ident_wall_s']:.0f} s ({pya['ident_cpu_s']:.1f} s CPU) as {pya['classes']}; "
            f"get_data ({pya['wall_s']:.0f} s): {pya['polls']} polls, {pya['failed']} failed, "
            f"{pya_ms:.2f} ms CPU per poll = {pya_ms / max(run_ms, 1e-9):.2f}x the collector; "
            f"polls with hashrate {pya['hashrate']}, chip temp {pya['chip_temp']}, "
            f"board temp {pya['board_temp']}, fans {pya['fans']}"
        )
    print(f"load average after the run: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
