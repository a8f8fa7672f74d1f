"""Fault: InfluxDB down under a running ``minewatch collect`` (the issue's 2-minute outage, scaled
to 20 s: the guarantee does not depend on the length, only the spool's size does).

Guarantee: every message published before, during and after the outage is stored exactly once; the
spool holds the outage's samples and drains by itself once InfluxDB answers again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from minewatch.config.storage import InfluxSettings
from minewatch.sample import NS_PER_S, now_ns
from minewatch.store.influx import InfluxStore
from tests.support.faults import influx_facility, stop_collector, stream
from tests.support.influx import Server
from tests.support.mosquitto import Broker
from tests.support.mqtt import (
    S21_METRICS,
    Publisher,
    start_collect_process,
    wait_for,
)

OUTAGE_S = 20.0
ROUNDS = 400  # x 10 rigs = 4,000 messages, 48,000 samples, published over ~24 s


def test_influxdb_down_loses_and_duplicates_nothing(
    tmp_path: Path,
    mosquitto: Broker,
    influxd_private: Server,
    v1_settings: Callable[..., InfluxSettings],
) -> None:
    settings = v1_settings(influxd_private)
    config = influx_facility(tmp_path, mosquitto.port, settings, spool_retry_max_s=1)
    log = tmp_path / "collector.log"
    proc = start_collect_process(config, log)
    t0 = (now_ns() // NS_PER_S - 3600) * NS_PER_S
    messages = stream(t0, 0, ROUNDS)
    pub = Publisher(mosquitto.port)

    def paced() -> None:
        for i in range(0, len(messages), 100):
            pub.publish_all(messages[i : i + 100])
            time.sleep(0.6)

    publishing = threading.Thread(target=paced)
    store_status = tmp_path / "data" / "status" / "store.json"
    peak = 0
    try:
        publishing.start()
        time.sleep(2)
        influxd_private.stop()
        down_until = time.monotonic() + OUTAGE_S
        while time.monotonic() < down_until:
            if store_status.exists():
                peak = max(peak, orjson.loads(store_status.read_bytes())["spool_samples"])
            time.sleep(0.5)
        assert proc.poll() is None
        influxd_private.start()
        back_at = time.monotonic()
        publishing.join(60)
        reader = InfluxStore(settings, facility="demo")
        total = ROUNDS * 10 * S21_METRICS

        def stored() -> int:
            return len(reader.query(t0, t0 + 10**6 * NS_PER_S))

        wait_for(lambda: stored() >= total, timeout_s=60, what="everything in InfluxDB")
        drained_s = time.monotonic() - back_at
        time.sleep(1.0)
        df = reader.query(t0, t0 + 10**6 * NS_PER_S)
        assert len(df) == total == 48_000  # 0 lost
        assert not df.duplicated(["device", "metric", "ts"]).any()  # 0 duplicated
        assert peak > 0  # the outage really went through the spool
        reader.close()
    finally:
        pub.close()
        text = stop_collector(proc, log)
    assert text.count("telemetry store unavailable, spooling") == 1
    assert "httpx" not in text  # library chatter stays at WARNING
    print(f"influx down {OUTAGE_S:.0f} s: spool peak {peak} samples, caught up {drained_s:.1f} s")
