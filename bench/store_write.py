"""Samples/s into each telemetry backend, against a raw-write baseline of the same server in the
same run.

- SQLite: ``SqliteStore.write`` of a columnar ``SampleBatch`` (what the MQTT collector hands it) and
  of ``Sample`` objects (simulator, pollers, importer) vs a raw ``executemany`` of the same rows,
  pre-resolved to series ids, into the same schema.
- InfluxDB 1.x (Debian's influxd on a free port): ``InfluxStore.write`` (Sample → line protocol →
  /write, gzip) vs a raw HTTP POST of the same pre-built, gzip-compressed line protocol.
- Spool: ``Spool.append`` (what a write costs while the store is down) and replay throughput.

Run: ``python bench/store_write.py [--rigs 3000] [--rounds 20]``. Each round is one status of
every rig (12 metrics each), i.e. a 10 s poll of a ~10 MW site at 3000 rigs; batches of 5,000
lines.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from minewatch.config.storage import InfluxSettings
from minewatch.sample import NS_PER_S, DeviceMeta, Sample, SampleBatch
from minewatch.store.influx import InfluxStore
from minewatch.store.lineproto import format_samples, series_prefix
from minewatch.store.spool import Spool
from minewatch.store.spooling import SpoolingStore
from minewatch.store.sqlite import SqliteStore
from tests.support.influx import ADMIN_PASSWORD, ADMIN_USER, Server, influxd

METRICS = [
    "power_w",
    "chip_temp_c",
    "board_temp_c",
    "inlet_temp_c",
    "outlet_temp_c",
    "hashrate_ths",
    "fan_rpm_1",
    "fan_rpm_2",
    "fan_rpm_3",
    "fan_rpm_4",
    "up",
    "error_code",
]
T0 = 1_767_225_600 * NS_PER_S


def rounds(rigs: int, n: int) -> list[list[Sample]]:
    return [
        [
            Sample(T0 + r * 10 * NS_PER_S, f"rig-{d:05d}", m, 1000.0 + d + r * 0.5 + i)
            for d in range(rigs)
            for i, m in enumerate(METRICS)
        ]
        for r in range(n)
    ]


def rate(samples: int, fn) -> float:
    t = time.perf_counter()
    fn()
    return samples / (time.perf_counter() - t)


def bench_sqlite(
    data: list[list[Sample]], tmp: Path, rep: int
) -> tuple[float, float, float, float]:
    """(batch rate, raw rate, Sample-objects rate, CPU s per sample of the batch path)."""
    total = sum(map(len, data))
    batches = [SampleBatch.of(b) for b in data]  # built by the decoder, before the store's clock
    store = SqliteStore(tmp / f"store{rep}.db")
    cpu = time.process_time()
    batch_rate = rate(total, lambda: [store.write(b) for b in batches])
    cpu = (time.process_time() - cpu) / total
    store.close()
    store = SqliteStore(tmp / f"objects{rep}.db")
    objects_rate = rate(total, lambda: [store.write(b) for b in data])
    store.close()
    raw = SqliteStore(
        tmp / f"raw{rep}.db"
    )  # same schema, then plain executemany of pre-resolved rows
    raw.close()
    conn = sqlite3.connect(tmp / f"raw{rep}.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executemany(
        "INSERT OR IGNORE INTO series (device, metric) VALUES (?, ?)",
        sorted({(s.device, s.metric) for s in data[0]}),
    )
    ids = {(d, m): i for i, d, m in conn.execute("SELECT id, device, metric FROM series")}
    rows = [[(ids[(s.device, s.metric)], s.ts, s.value) for s in b] for b in data]

    def raw_write() -> None:
        for b in rows:
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT OR IGNORE INTO samples (series_id, ts, value) VALUES (?, ?, ?)", b
            )
            conn.execute("COMMIT")

    raw_rate = rate(total, raw_write)
    conn.close()
    return batch_rate, raw_rate, objects_rate, cpu


def bench_influx(
    data: list[list[Sample]], server: Server, rigs: int, rep: int
) -> tuple[float, float, float]:
    """(Sample-objects rate, raw rate, SampleBatch rate)."""
    total = sum(map(len, data))
    os.environ["BENCH_INFLUX_PW"] = ADMIN_PASSWORD

    def settings(db: str) -> InfluxSettings:
        return InfluxSettings(
            url=server.url,
            api="v1",
            database=db,
            username=ADMIN_USER,
            password_env="BENCH_INFLUX_PW",
            batch_lines=5000,
        )

    metas = [
        DeviceMeta(
            f"rig-{d:05d}", "asic_miner", "antminer-s21", f"hall-{d % 4}", f"r{d // 40:03d}", "rig"
        )
        for d in range(rigs)
    ]
    store = InfluxStore(settings(f"bench_store_{rep}"), facility="bench")
    store.upsert_devices(metas)
    store_rate = rate(total, lambda: [store.write(b) for b in data])
    store.close()
    batches = [SampleBatch.of(b) for b in data]
    store = InfluxStore(settings(f"bench_batch_{rep}"), facility="bench")
    store.upsert_devices(metas)
    batch_rate = rate(total, lambda: [store.write(b) for b in batches])
    store.close()

    # Baseline: the same lines, formatted and compressed before the clock starts.
    prefixes = {m.device: series_prefix(m, m.device, "bench") for m in metas}
    bodies = []
    for b in data:
        lines = format_samples(SampleBatch.of(b), prefixes).lines
        bodies += [
            gzip.compress("\n".join(lines[i : i + 5000]).encode(), 1)
            for i in range(0, len(lines), 5000)
        ]
    db = f"bench_raw_{rep}"
    with httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=60) as http:
        http.post("/query", data={"q": f'CREATE DATABASE "{db}"'}).raise_for_status()

        def raw_post() -> None:
            for body in bodies:
                http.post(
                    "/write",
                    params={"db": db, "precision": "ns"},
                    content=body,
                    headers={"Content-Encoding": "gzip"},
                ).raise_for_status()

        raw_rate = rate(total, raw_post)
    return store_rate, raw_rate, batch_rate


def bench_spool(data: list[list[Sample]], tmp: Path) -> tuple[float, float, float]:
    """(append rate of Sample objects, replay rate, append rate of SampleBatch)."""
    total = sum(map(len, data))
    batches = [SampleBatch.of(b) for b in data]
    spool = Spool(tmp / "spool-batches.db", 10**10)
    batch_rate = rate(total, lambda: [spool.append(b) for b in batches])
    spool.close()
    spool = Spool(tmp / "spool.db", 10**10)
    append_rate = rate(total, lambda: [spool.append(b) for b in data])
    store = SpoolingStore(SqliteStore(tmp / "replayed.db"), spool)

    def drain() -> None:
        while store.replay_once():
            pass

    replay_rate = rate(total, drain)
    store.close()
    return append_rate, replay_rate, batch_rate


def report(name: str, store: str, raw: str, results: list[tuple[float, float]]) -> None:
    """Median of the runs; the ratio is per run (store and raw measured back to back), then
    median."""
    st = statistics.median(r[0] for r in results)
    rw = statistics.median(r[1] for r in results)
    ratio = statistics.median(r[0] / r[1] for r in results)
    print(
        f"{name:<13}{store:<22}{st:>10,.0f} samples/s ({1e6 / st:.2f} us) | {raw:<18}{rw:>10,.0f}"
        f" samples/s ({1e6 / rw:.2f} us) | ratio {ratio:.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rigs", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each pair; medians are printed")
    args = ap.parse_args()
    data = rounds(args.rigs, args.rounds)
    total = sum(map(len, data))
    print(
        f"{total:,} samples per run: {args.rigs} rigs x {len(METRICS)} metrics x {args.rounds} "
        "rounds, "
        f"{args.repeat} runs"
    )
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        sqlite_runs = [bench_sqlite(data, tmp, i) for i in range(args.repeat)]
        report("SQLite", "write(SampleBatch)", "raw executemany", [r[:2] for r in sqlite_runs])
        report(
            "SQLite", "write([Sample, ...])", "raw executemany", [(r[2], r[1]) for r in sqlite_runs]
        )
        print(
            f"{'':<13}write(SampleBatch) CPU "
            f"{statistics.median(r[3] for r in sqlite_runs) * 1e6:.2f} us/sample (all threads)"
        )
        try:
            server = influxd(tmp / "influxd")
        except (
            RuntimeError
        ) as exc:  # Debian's influxdb is a test dependency: scripts/bootstrap.sh test
            print(f"InfluxDB 1.x  not measured: {exc}")
        else:
            try:
                runs = [bench_influx(data, server, args.rigs, i) for i in range(args.repeat)]
                report(
                    "InfluxDB 1.x",
                    "write(SampleBatch)",
                    "raw POST /write",
                    [(r[2], r[1]) for r in runs],
                )
                report(
                    "InfluxDB 1.x", "write([Sample, ...])", "raw POST /write", [r[:2] for r in runs]
                )
            finally:
                server.stop()
        sp_in, sp_out, sp_batch = bench_spool(data, tmp)
        print(
            f"{'Spool':<13}{'append(SampleBatch)':<22}{sp_batch:>10,.0f} samples/s | "
            f"append([Sample, ...]) {sp_in:,.0f} samples/s | replay to SQLite {sp_out:,.0f}"
            f" samples/s"
        )
    print(f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
