"""API latency at facility scale: /api/v1/facility, a 24 h series, the device list, the fleet (heat
map), /metrics and the live snapshot, at 200 to 30,000 rigs, against ``/health`` (a store round
trip, no auth) in the same run.

Each size gets a fresh SQLite store with N rigs (role rig, a real ASIC profile), a revenue meter,
three metrics per rig for the last minute (so ``latest`` and ``devices`` have facility-scale
tables), and 24 h of one rig's chip temperature at a 10 s interval (8,640 points). The API's clock
stays at the moment of the fill, so every row sees all rigs reporting (with the wall clock, rows run
minutes later measured a facility gone offline: no hot rigs to rank, no power to sum). Requests go
over HTTP to a real uvicorn server on loopback, one at a time; figures are median, p95 and p99 of
``--requests`` requests after two warm-ups (the fleet and /metrics, hundreds of ms at 30,000 rigs,
get a tenth of them: their p99 is then only a p95-like tail and is printed as such). Beside wall
time each row shows the process CPU time per request (client and server share the process) and the
1-minute load average, because the two cores are shared and wall time moves with other jobs.

``/api/v1/facility`` serves a summary shared for at most 1 s and refreshed in the background past
half of that, so the cost of recomputing it (about once a second, on a request's path only when
clients poll less than twice a second) is also timed in-process. The live snapshot (what every
open page costs the server every 2 s, shared by all pages) is timed in-process: a tick when the
power trend is not due, a tick that finds it due (every 15 s: the tick starts its refresh, from the
last complete bucket, in a background thread and returns), the same tick waited for until that
refresh is done (what the trend's freshness bound adds), and cold (the first page opened starts the
whole 30-minute trend's read and waits for it at most ``TREND_WAIT_S``), alone and waited for until
that read is done. The facility is measured twice: with the revenue meter (the normal
case) and without (power summed over every rig).

Run: ``python bench/api_latency.py [--sizes 200,30000] [--requests 300] [--json out.jsonl]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from minewatch.api.app import create_app  # noqa: E402
from minewatch.api.auth import TokenTable  # noqa: E402
from minewatch.api.live import TREND_REFRESH_S  # noqa: E402
from minewatch.api.server import ApiServer  # noqa: E402
from minewatch.api.shared import Shared  # noqa: E402
from minewatch.api.summary import current_summary  # noqa: E402
from minewatch.broker import free_port  # noqa: E402
from minewatch.config import FacilityConfig  # noqa: E402
from minewatch.profiles import load_profiles  # noqa: E402
from minewatch.sample import NS_PER_S, DeviceMeta, Sample, now_ns  # noqa: E402
from minewatch.store import SqliteStore  # noqa: E402

TOKEN = "bench-operator-token-0123456789"
PROFILE = "antminer-s21"


def fill(store: SqliteStore, n_rigs: int, now: int, meter: bool) -> str:
    rigs = [f"R{i:06d}" for i in range(n_rigs)]
    metas = [
        DeviceMeta(r, "asic_miner", PROFILE, f"hall{i % 10}", f"A{i % 500:03d}", "rig")
        for i, r in enumerate(rigs)
    ]
    if meter:
        metas.append(DeviceMeta("meter", "power_meter", "meter", "", "", "revenue_meter"))
    store.upsert_devices(metas)
    batch: list[Sample] = []
    for i, r in enumerate(rigs):
        for k in range(6):  # the last minute, every 10 s
            ts = now - (60 - k * 10) * NS_PER_S
            batch += [
                Sample(ts, r, "power_w", 3500.0 + i % 50),
                Sample(ts, r, "chip_temp_c", 60.0 + (i % 300) / 10),
                Sample(ts, r, "hashrate_ths", 200.0),
            ]
        if len(batch) >= 200_000:
            store.write(batch)
            batch = []
    if meter:
        batch += [
            Sample(now - k * NS_PER_S, "meter", "power_w", n_rigs * 3.6e3)
            for k in range(0, 3600, 1)
        ]
    batch += [
        Sample(now - 86_400 * NS_PER_S + k * 10 * NS_PER_S, rigs[0], "chip_temp_c", 60.0 + k % 7)
        for k in range(8640)
    ]
    store.write(batch)
    return rigs[0]


@dataclass
class Row:
    name: str
    n: int
    median_ms: float
    p95_ms: float
    p99_ms: float
    cpu_ms: float
    load1: float


def pct(sorted_ms: list[float], q: float) -> float:
    """Nearest-rank percentile: at 300 requests the p99 is the 297th slowest, so 3 outliers show."""
    return sorted_ms[min(len(sorted_ms) - 1, max(0, math.ceil(q * len(sorted_ms)) - 1))]


def timed(name: str, fn: Callable[[], object], n: int, pace_s: float = 0.0) -> Row:
    """``n`` calls after two warm-ups; ``pace_s`` spaces the calls (the pause is not timed)."""
    for _ in range(2):
        fn()
    samples = []
    cpu0 = time.process_time()
    for _ in range(n):
        time.sleep(pace_s)
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    cpu = (time.process_time() - cpu0) * 1000 / n
    samples.sort()
    return Row(
        name,
        n,
        statistics.median(samples),
        pct(samples, 0.95),
        pct(samples, 0.99),
        cpu,
        os.getloadavg()[0],
    )


def run_size(n_rigs: int, meter: bool, requests: int, profiles: dict) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = FacilityConfig.model_validate(
            {
                "facility": {"id": "bench", "name": "Bench"},
                "licence": {"number": "B-1", "capacity_kw": n_rigs * 4.0},
                "storage": {"data_dir": tmp},
            }
        )
        store = SqliteStore(Path(tmp) / "telemetry.db")
        now = now_ns()
        t0 = time.perf_counter()
        rig = fill(store, n_rigs, now, meter)
        print(
            f"  filled {n_rigs} rigs{' + meter' if meter else ''} "
            f"in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        # the API's clock stays at the fill: every row measures the facility as just filled (all
        # rigs reporting), not one gone stale over the minutes the run takes
        app = create_app(
            cfg,
            store,
            tokens=TokenTable([("operator", TOKEN)]),
            profiles=profiles,
            clock=lambda: now,
        )
        server = ApiServer(app, "127.0.0.1", free_port())
        server.start()
        try:
            client = httpx.Client(
                base_url=server.url, timeout=120, headers={"Authorization": f"Bearer {TOKEN}"}
            )

            def get(path: str) -> Callable[[], object]:
                def call() -> object:
                    r = client.get(path)
                    assert r.status_code == 200, r.text[:300]
                    return r

                return call

            start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now / NS_PER_S - 86_400))
            series = f"/api/v1/devices/{rig}/series?metric=chip_temp_c&start={start}"
            few = max(10, requests // 10)
            rows = [
                timed("GET /health (baseline)", get("/health"), requests),
                timed("GET /api/v1/facility", get("/api/v1/facility"), requests),
                # spaced so that the 1 s shared summary expires every 20 requests: p95/p99 then
                # hold the requests that recompute it, as a page polling it would see
                timed(
                    "GET /api/v1/facility, 20/s (1 in 20 recomputes)",
                    get("/api/v1/facility"),
                    requests,
                    pace_s=0.05,
                ),
                timed("GET series 24 h raw (8,640 points)", get(series), requests),
                timed("GET series 24 h step=5m (288 points)", get(series + "&step=5m"), requests),
                timed(
                    "GET /api/v1/devices?limit=100",
                    get("/api/v1/devices?role=rig&limit=100"),
                    requests,
                ),
                # the operator page polls the fleet (totals, halls, heat map, rig list) every 10 s
                timed("GET /api/v1/fleet (every rig)", get("/api/v1/fleet"), few),
                timed("GET /metrics (Prometheus)", get("/metrics"), few),
            ]
            hub, ctx = app.state.hub, app.state.ctx
            hub.snapshot()  # the trend's first read, done before the warm ticks are timed
            hub.trend.settle()

            def summary() -> object:
                # what a request pays when the shared summary has expired (1 s): computed anew
                ctx.cache.pop("summary", None)
                return current_summary(ctx)

            def snapshot(
                due: bool, cold: bool = False, landed: bool = False
            ) -> Callable[[], object]:
                def call() -> object:
                    # one 2 s tick: the summary has expired (1 s); the 30-minute power trend is
                    # fresh, due (its refresh, from the last complete bucket, starts in the
                    # background), or absent (cold: the first page opened starts the whole read
                    # and waits for it at most TREND_WAIT_S); ``landed`` also waits for the read
                    hub._snap = None
                    ctx.cache.clear()
                    trend = hub.trend.peek()
                    if cold or trend is None:
                        hub.trend = Shared("power trend")
                    elif due:
                        hub.trend._current = (time.monotonic() - TREND_REFRESH_S, trend)
                    else:
                        hub.trend.put(time.monotonic(), trend)
                    snap = hub.snapshot()
                    if landed:
                        hub.trend.settle()
                    return snap

                return call

            rows += [
                timed("facility summary, recomputed (in-process)", summary, requests),
                timed("live tick, trend not due (in-process)", snapshot(False), few),
                # spaced so that each background refresh is done before the next tick, as it is
                # 2 s apart; CPU ms includes that refresh (same process, off the tick's path)
                timed(
                    "live tick, trend due (in-process)",
                    snapshot(True),
                    few,
                    pace_s=0.5,
                ),
                timed(
                    "live tick + trend refresh done (in-process)",
                    snapshot(True, landed=True),
                    few,
                ),
                timed(
                    "live tick, cold: no trend yet (in-process)",
                    snapshot(True, cold=True),
                    max(5, requests // 20),
                    pace_s=0.5,
                ),
                timed(
                    "live tick, cold + whole 30 min trend read (in-process)",
                    snapshot(True, cold=True, landed=True),
                    max(5, requests // 20),
                ),
            ]
        finally:
            server.stop()
            store.close()
        return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="200,30000")
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--json", type=Path, help="append one JSON line per row to this file")
    args = ap.parse_args()
    profiles = load_profiles()
    for n in (int(x) for x in args.sizes.split(",")):
        for meter in (True, False):
            print(
                f"\n{n} rigs, "
                f"{'with revenue meter' if meter else 'no meter (power = sum over rigs)'}:"
            )
            rows = run_size(n, meter, args.requests, profiles)
            base = rows[0].median_ms
            print(
                f"  {'request':<48} {'n':>4} {'median ms':>10} {'p95 ms':>8} {'p99 ms':>8} "
                f"{'CPU ms':>7} {'x baseline':>10} {'load1':>6}"
            )
            for r in rows:
                print(
                    f"  {r.name:<48} {r.n:>4} {r.median_ms:>10.1f} {r.p95_ms:>8.1f} "
                    f"{r.p99_ms:>8.1f} {r.cpu_ms:>7.1f} {r.median_ms / base:>10.1f} "
                    f"{r.load1:>6.2f}",
                    flush=True,
                )
            if args.json:
                with args.json.open("a") as out:
                    for r in rows:
                        out.write(
                            json.dumps(
                                {"rigs": n, "meter": meter, "baseline_ms": base, **asdict(r)}
                            )
                            + "\n"
                        )


if __name__ == "__main__":
    main()
