"""minewatch hub at national scale: 1,000 licensed facilities, a heartbeat from each every 60 s,
plus bursts of breach messages, through the real HTTP server, on SQLite and on a real PostgreSQL.

For each engine, in one run:
- heartbeat round: every facility sends one signed heartbeat (8 concurrent senders); throughput
  against the required 1,000 / 60 s = 16.7 messages/s (the ratio is the headroom), p50/p99;
- burst: 200 facilities send 10 breach messages each at once; time to store all 2,000;
- staff read: ``GET /v1/facilities`` (1,000 rows with status), p50 over 20 reads.

    python bench/hub_scale.py [--facilities 1000] [--burst-facilities 200] [--per-facility 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minewatch.hub.register import Licence, LicenceTerms
from minewatch.hub.service import Hub
from minewatch.ledger import Head
from minewatch.notifier import regulator as reg
from minewatch.notifier.signing import KeyStore, public_pem
from tests.support.notify import UvicornThread, facility_config, sample_breach
from tests.support.postgres import PostgresCluster

REQUIRED_PER_S = 1000 / 60.0
TOKEN = "bench-analyst"


class Facility:
    """One licensed facility: its key, its next sequence number and previous body hash."""

    def __init__(self, i: int, key_root: Path) -> None:
        self.id = f"fac-{i:04d}"
        self.keys = KeyStore(key_root / self.id)
        self.keys.generate()
        self.signer = self.keys.signer()
        self.seq = 0
        self.prev = reg.NO_PREVIOUS

    def body(self, template: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        import hashlib

        self.seq += 1
        doc = {
            **template,
            "facility": {**template["facility"], "id": self.id},
            "message_id": str(uuid.uuid4()),
            "idempotency_key": f"ik-{uuid.uuid4().hex}",
            "sequence": self.seq,
            "prev_sha256": self.prev,
        }
        body = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
        self.prev = hashlib.sha256(body).hexdigest()
        return body, self.signer.headers(body)


def templates(tmp: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    cfg = facility_config(tmp)
    hb = reg.Heartbeat(
        interval_s=60,
        outbox_pending=0,
        dead_messages=0,
        firing_alerts=0,
        software_version="bench",
        analyzer_last_cycle_at=reg.rfc3339(time.time_ns()),
    )
    beat = reg.heartbeat_message(cfg, hb, now_ns=time.time_ns(), head=Head(1, "a" * 64))
    return orjson.loads(reg.encode(beat)), orjson.loads(reg.encode(sample_breach(tmp)))


def send_all(url: str, jobs: list[tuple[bytes, dict[str, str]]]) -> list[float]:
    """POST every job with 8 concurrent clients; per-message latency in ms."""

    def one(job: tuple[bytes, dict[str, str]], client: httpx.Client) -> float:
        t0 = time.perf_counter()
        r = client.post(url, content=job[0], headers=job[1])
        if r.status_code != 200:
            raise RuntimeError(f"{r.status_code}: {r.text[:200]}")
        return (time.perf_counter() - t0) * 1000

    clients = [httpx.Client(timeout=30) for _ in range(8)]
    try:
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda ij: one(ij[1], clients[ij[0] % 8]), enumerate(jobs)))
    finally:
        for c in clients:
            c.close()


def run(engine: str, url: str, facs: list[Facility], args: argparse.Namespace, tmp: Path) -> None:
    hub = Hub(url, sweep_s=3600)
    for f in facs:
        hub.register.register(
            Licence(
                facility_id=f.id,
                licence_number=f"L-{f.id}",
                holder=f.id,
                capacity_kw=5000,
                terms=LicenceTerms(heartbeat_interval_s=60),
            )
        )
        kid = f.keys.current_id()
        assert kid is not None
        hub.register.add_key(f.id, public_pem(f.keys.public_keys()[kid]), valid_from_ns=0)
    for f in facs:
        f.seq, f.prev = 0, reg.NO_PREVIOUS
    server = UvicornThread(hub.app)
    server.start()
    post = f"http://127.0.0.1:{server.port}/v1/messages"
    beat, breach = templates(tmp)
    try:
        jobs = [f.body(beat) for f in facs]
        t0 = time.perf_counter()
        lat = send_all(post, jobs)
        wall = time.perf_counter() - t0
        rate = len(jobs) / wall
        q = statistics.quantiles(lat, n=100)
        print(
            f"{engine:10s} heartbeat round: {len(jobs)} in {wall:.2f} s = {rate:.0f}/s "
            f"({rate / REQUIRED_PER_S:.0f}x the required {REQUIRED_PER_S:.1f}/s); "
            f"p50 {q[49]:.1f} ms, p99 {q[98]:.1f} ms"
        )
        burst = [
            f.body(breach) for f in facs[: args.burst_facilities] for _ in range(args.per_facility)
        ]
        t0 = time.perf_counter()
        send_all(post, burst)
        wall = time.perf_counter() - t0
        print(
            f"{engine:10s} burst: {len(burst)} breach messages stored in {wall:.2f} s "
            f"({len(burst) / wall:.0f}/s)"
        )
        reads = []
        for _ in range(20):
            t0 = time.perf_counter()
            r = httpx.get(
                f"http://127.0.0.1:{server.port}/v1/facilities",
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=30,
            )
            assert r.status_code == 200 and len(r.json()) == len(facs)
            reads.append((time.perf_counter() - t0) * 1000)
        print(
            f"{engine:10s} GET /v1/facilities ({len(facs)} rows): p50 "
            f"{statistics.median(reads):.1f} ms"
        )
    finally:
        server.stop()
        hub.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--facilities", type=int, default=1000)
    ap.add_argument("--burst-facilities", type=int, default=200)
    ap.add_argument("--per-facility", type=int, default=10)
    args = ap.parse_args()
    os.environ["MINEWATCH_HUB_ANALYST_TOKEN"] = TOKEN
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        facs = [Facility(i, tmp / "keys") for i in range(args.facilities)]
        run("sqlite", str(tmp / "hub.db"), facs, args, tmp)
        cluster = PostgresCluster()
        cluster.start()
        try:
            run("postgresql", cluster.create_database(), facs, args, tmp)
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
