"""API latency at facility scale: /api/v1/facility, a 24 h series, the device list, the fleet (heat
map), /metrics and the live snapshot, at 200 and 30,000 rigs, against ``/health`` (a store round
trip, no auth) in the same run.

Each size gets a fresh SQLite store with N rigs (role rig, a real ASIC profile), a revenue meter,
three metrics per rig for the last minute (so ``latest`` and ``devices`` have facility-scale
tables), and 24 h of one rig's chip temperature at a 10 s interval (8,640 points). Requests go over
HTTP to a real uvicorn server on loopback, one at a time; figures are medians and p95 of
``--requests`` requests after two warm-ups. The live snapshot (what every open page costs the server
every 2 s, shared by all pages) is timed in-process, in its steady state (trend read incrementally)
and cold (the first page opened reads the whole 30-minute trend). The facility is measured twice:
with the revenue meter (the normal case) and without (power summed over every rig).

Run: ``python bench/api_latency.py [--sizes 200,30000] [--requests 30]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from minewatch.api.app import create_app  # noqa: E402
from minewatch.api.auth import TokenTable  # noqa: E402
from minewatch.api.server import ApiServer  # noqa: E402
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


def timed(fn: Callable[[], object], n: int) -> tuple[float, float]:
    for _ in range(2):
        fn()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(0.95 * len(samples)))]


def run_size(
    n_rigs: int, meter: bool, requests: int, profiles: dict
) -> list[tuple[str, float, float]]:
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
        app = create_app(cfg, store, tokens=TokenTable([("operator", TOKEN)]), profiles=profiles)
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
            rows = [
                ("GET /health (baseline)", *timed(get("/health"), requests)),
                ("GET /api/v1/facility", *timed(get("/api/v1/facility"), requests)),
                (
                    "GET series 24 h raw (8,640 points)",
                    *timed(
                        get(f"/api/v1/devices/{rig}/series?metric=chip_temp_c&start={start}"),
                        requests,
                    ),
                ),
                (
                    "GET series 24 h step=5m (288 points)",
                    *timed(
                        get(
                            f"/api/v1/devices/{rig}/series?metric=chip_temp_c&start={start}&step=5m"
                        ),
                        requests,
                    ),
                ),
                (
                    "GET /api/v1/devices?limit=100",
                    *timed(get("/api/v1/devices?role=rig&limit=100"), requests),
                ),
                # the operator page polls the fleet (totals, halls, heat map, rig list) every 10 s
                ("GET /api/v1/fleet (every rig)", *timed(get("/api/v1/fleet"), requests)),
                ("GET /metrics (Prometheus)", *timed(get("/metrics"), requests)),
            ]
            hub, ctx = app.state.hub, app.state.ctx

            def snapshot(cold: bool) -> Callable[[], object]:
                def call() -> object:
                    # what one 2 s tick costs: the device table has expired (1 s), the trend is
                    # re-read
                    # from its last complete bucket (steady) or from scratch (cold: first page
                    # opened)
                    hub._snap, hub._trend_at = None, 0.0
                    ctx.cache.clear()
                    if cold:
                        hub._trend = None
                    return hub.snapshot()

                return call

            rows.append(
                (
                    "live snapshot, steady (in-process)",
                    *timed(snapshot(False), max(5, requests // 2)),
                )
            )
            rows.append(
                (
                    "live snapshot, cold: 30 min trend (in-process)",
                    *timed(snapshot(True), max(5, requests // 3)),
                )
            )
        finally:
            server.stop()
            store.close()
        return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="200,30000")
    ap.add_argument("--requests", type=int, default=30)
    args = ap.parse_args()
    profiles = load_profiles()
    for n in (int(x) for x in args.sizes.split(",")):
        for meter in (True, False):
            print(
                f"\n{n} rigs, "
                f"{'with revenue meter' if meter else 'no meter (power = sum over rigs)'}:"
            )
            rows = run_size(n, meter, args.requests, profiles)
            base = rows[0][1]
            print(f"  {'request':<48} {'median ms':>10} {'p95 ms':>9} {'x baseline':>11}")
            for name, med, p95 in rows:
                print(f"  {name:<48} {med:>10.1f} {p95:>9.1f} {med / base:>11.1f}")


if __name__ == "__main__":
    main()
