"""Fault: device clocks off by +10 and -10 minutes.

Guarantee (mqtt.max_future_s 300, mqtt.max_past_s 7 days): a device 10 minutes behind is stored at
its own timestamps; a device 10 minutes ahead is rejected, every message counted under
``rejected_total{ts_future}`` with the offset in the reason, never stored in the future where it
would shadow real readings; the correct device beside them loses nothing."""

from __future__ import annotations

import signal
from pathlib import Path

import orjson

from minewatch.sample import NS_PER_S, now_ns
from minewatch.store import SqliteStore
from tests.support.mosquitto import Broker
from tests.support.mqtt import (
    RIG_TOPIC,
    S21_METRICS,
    Publisher,
    facility_file,
    s21_payload,
    start_collect_process,
    wait_for,
)

N = 200  # messages per device
SKEW_S = {"BMS21-000001": 600, "BMS21-000002": -600, "BMS21-000003": 0}


def test_clock_skew_of_ten_minutes(tmp_path: Path, mosquitto: Broker) -> None:
    config = facility_file(tmp_path, mosquitto.port)
    log = tmp_path / "collector.log"
    proc = start_collect_process(config, log)
    base = (now_ns() // NS_PER_S - N) * NS_PER_S  # whole seconds: payloads carry ms
    pub = Publisher(mosquitto.port)
    pub.publish_all(
        (
            RIG_TOPIC.format(serial),
            orjson.dumps(s21_payload(serial, base + i * NS_PER_S + skew * NS_PER_S, i)),
        )
        for i in range(N)
        for serial, skew in SKEW_S.items()
    )
    pub.close()
    status = tmp_path / "data" / "status" / f"collector-mqtt-test-collector-{mosquitto.port}.json"
    try:
        wait_for(
            lambda: status.exists() and orjson.loads(status.read_bytes())["acked"] == 3 * N,
            what="every message acknowledged",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    st = orjson.loads(status.read_bytes())
    assert st["rejected_total"] == {"ts_future": N}
    store = SqliteStore(tmp_path / "data" / "telemetry.db")
    df = store.query(0, 2**62, metrics=["power_w"])
    per_device = df.groupby("device")["ts"].agg(["count", "min"]).to_dict("index")
    assert per_device == {
        "BMS21-000002": {"count": N, "min": base - 600 * NS_PER_S},
        "BMS21-000003": {"count": N, "min": base},
    }
    assert len(store.query(0, 2**62)) == 2 * N * S21_METRICS
    assert "s ahead of the collector's clock" in log.read_text()
