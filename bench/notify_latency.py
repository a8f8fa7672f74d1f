"""Breach -> signed message stored by the reference receiver: latency p50/p99 and burst throughput.

Three measurements in one run, against one reference receiver:
- baseline: a bare unsigned POST of the same body to an endpoint that does nothing (no outbox, no
  ledger, no signature, no verification, no storage);
- event: an ``alert.transition`` published on the bus -> ledger -> outbox -> signed POST ->
verified,
  de-duplicated and stored by the receiver;
- pipeline: a fire-alarm sample in the telemetry store, from the start of the real analyzer's
  ``evaluate_once`` that detects it -> the same path (the analyzer's live loop adds up to its
  interval, 5 s by default, in front of this).

    python bench/notify_latency.py [--events 300] [--burst 1000] [--pipeline 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minewatch.alerting import AlertTransition
from minewatch.events import EventBus
from minewatch.ledger import Head
from minewatch.notifier import regulator as reg
from minewatch.notifier.receiver import ReceiverStore, create_app
from minewatch.notifier.service import Notifier
from minewatch.notifier.signing import KeyStore
from tests.support.notify import UvicornThread, facility_config, fire_alarm_profile, transition


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=300, help="events sent one at a time (latency)")
    ap.add_argument("--gap-ms", type=float, default=50.0, help="pause between latency events")
    ap.add_argument("--burst", type=int, default=1000, help="events published at once (throughput)")
    ap.add_argument(
        "--pipeline", type=int, default=100, help="alarm on/off cycles through the real analyzer"
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mw-bench-notify-"))
    keys = KeyStore(tmp / "keys")
    keys.generate()
    store = ReceiverStore(tmp / "receiver.db")
    app = create_app(store, keys.public_keys())

    @app.post("/bare")
    async def bare(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"status": "ok"})

    srv = UvicornThread(app)
    srv.start()
    base_url = f"http://127.0.0.1:{srv.port}"

    # baseline: one unsigned POST per message, same body size, same server, same client library
    body = reg.encode(
        reg.breach_message(
            facility_config(tmp),
            "breach_opened",
            AlertTransition.parse(transition().payload),
            occurred_ns=time.time_ns(),
            now_ns=time.time_ns(),
            head=Head(1, "0" * 64),
            annotation=reg.OperatorAnnotation(),
        )
    )
    base: list[float] = []
    with httpx.Client() as c:
        for _ in range(args.events):
            t0 = time.perf_counter()
            c.post(f"{base_url}/bare", content=body, headers={"Content-Type": "application/json"})
            base.append((time.perf_counter() - t0) * 1000)
            time.sleep(args.gap_ms / 1000)

    cfg = facility_config(
        tmp,
        notify={
            "central_bank": {
                "enabled": True,
                "url": f"{base_url}/v1/messages",
                "key_dir": str(keys.dir),
                "heartbeat_interval_s": 3600,
                "daily_report_at": None,
            }
        },
    )
    bus = EventBus()
    n = Notifier(cfg, bus)
    n.start()
    sent: dict[str, int] = {}
    try:
        time.sleep(0.5)  # let the start-up heartbeat go first
        for i in range(args.events):
            ev = transition(f"EL-{i:04d}", "firing", alert_id=1000 + i)
            sent[f"EL-{i:04d}"] = time.time_ns()
            bus.publish(ev)
            time.sleep(args.gap_ms / 1000)
        _wait(store, args.events + 1)
        lat = []
        for m in store.messages(kind="breach_opened", limit=100_000):
            lat.append((m["received_ns"] - sent[m["body"]["breach"]["rule"]["id"]]) / 1e6)

        t0 = time.perf_counter()
        for i in range(args.burst):
            bus.publish(transition(f"BU-{i:05d}", "firing", alert_id=100_000 + i))
        publish_s = time.perf_counter() - t0
        _wait(store, args.events + 1 + args.burst)
        burst_s = time.perf_counter() - t0
    finally:
        n.stop()
    try:
        pipe = pipeline(tmp, keys, base_url, store, args.pipeline, args.gap_ms)
    finally:
        srv.stop()
    in_order = [
        m["body"]["breach"]["rule"]["id"]
        for m in store.messages(kind="breach_opened", limit=100_000)
    ]
    assert in_order == sorted(in_order, key=lambda r: (r[:2] != "EL", r)), "messages out of order"

    print(f"events={args.events} gap={args.gap_ms} ms  burst={args.burst}")
    print(
        f"baseline bare unsigned POST   p50 {pct(base, 50):7.2f} ms   p99 {pct(base, 99):7.2f} ms"
    )
    print(
        f"event -> signed, stored       p50 {pct(lat, 50):7.2f} ms   p99 {pct(lat, 99):7.2f} ms   "
        f"max {max(lat):7.2f} ms   (goal p99 <= 2000 ms: "
        f"{'met' if pct(lat, 99) <= 2000 else 'MISSED'})"
    )
    print(
        f"ratio p50 {pct(lat, 50) / pct(base, 50):.1f}x   p99 {pct(lat, 99) / pct(base, 99):.1f}x  "
        f" mean {statistics.mean(lat):.2f} ms"
    )
    print(
        f"telemetry -> analyzer -> signed, stored  p50 {pct(pipe, 50):7.2f} ms   p99 "
        f"{pct(pipe, 99):7.2f} ms   "
        f"({len(pipe)} breach messages; ratio p50 {pct(pipe, 50) / pct(base, 50):.1f}x)"
    )
    print(
        f"burst: {args.burst} events ledgered in {publish_s * 1000:.0f} ms "
        f"({args.burst / publish_s:.0f}/s), all delivered in {burst_s:.2f} s "
        f"({args.burst / burst_s:.0f} msg/s, "
        f"head-of-line, one at a time)"
    )


def pipeline(
    tmp: Path, keys: KeyStore, base_url: str, store: ReceiverStore, cycles: int, gap_ms: float
) -> list[float]:
    """Alarm on / alarm off ``cycles`` times: sample write -> analyzer -> notifier -> receiver, in
    ms."""
    from minewatch.analyzer.engine import Analyzer
    from minewatch.analyzer.state import AlertStore
    from minewatch.sample import DeviceMeta, Sample
    from minewatch.store import SqliteStore

    profile = fire_alarm_profile("bench")
    cfg = facility_config(
        tmp / "pipeline",
        notify={
            "central_bank": {
                "enabled": True,
                "url": f"{base_url}/v1/messages",
                "key_dir": str(keys.dir),
                "heartbeat_interval_s": 3600,
                "daily_report_at": None,
            }
        },
    )
    # evaluate at every written instant (the live loop's grid is interval_s)
    cfg = cfg.model_copy(update={"analysis": cfg.analysis.model_copy(update={"interval_s": 0.01})})
    tele = SqliteStore(cfg.telemetry_db)
    tele.upsert_devices([DeviceMeta("panel-1", "fire_panel", role="fire_panel")])
    bus = EventBus()
    n = Notifier(cfg, bus)
    alerts = AlertStore(cfg.state_db, bus)
    analyzer = Analyzer(cfg, tele, alerts, bus, {}, compliance=profile)
    before = len(store.messages(limit=1_000_000))
    detected: list[int] = []  # start of the evaluate_once call that produced each transition
    n.start()
    try:
        time.sleep(0.5)
        for i in range(2 * cycles + 1):  # the analyzer sees a sample at its next evaluation
            now = time.time_ns()
            tele.write([Sample(now, "panel-1", "fire_alarm_bool", float(i % 2 == 0))])
            detected += [now] * len(analyzer.evaluate_once(now))
            time.sleep(gap_ms / 1000)
        _wait(store, before + 1 + len(detected))
    finally:
        n.stop()
    got = [m for m in store.messages(limit=1_000_000)[before:] if m["kind"].startswith("breach_")]
    assert [m["kind"] for m in got] == ["breach_opened", "breach_resolved"] * cycles, (
        "pipeline order"
    )
    return [(m["received_ns"] - t) / 1e6 for m, t in zip(got, detected, strict=True)]


def _wait(store: ReceiverStore, n: int, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while len(store.messages(limit=1_000_000)) < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(store.messages(limit=1_000_000))} of {n} messages arrived")
        time.sleep(0.05)


if __name__ == "__main__":
    main()
