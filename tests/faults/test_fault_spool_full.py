"""Fault: InfluxDB down long enough to fill the outage spool (1 MB) under ``minewatch collect``.

Guarantee: a full spool refuses writes loudly (one ERROR per episode, ``spool_full_total``), the
collector acknowledges nothing it could not store, the broker keeps the rest; once InfluxDB is back
the spool drains, the broker redelivers, and every message is stored exactly once."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from minewatch.config.storage import InfluxSettings
from minewatch.sample import NS_PER_S, now_ns
from minewatch.store.influx import InfluxStore
from tests.support.faults import influx_facility, stop_collector
from tests.support.influx import Server
from tests.support.mosquitto import Broker
from tests.support.mqtt import (
    RIG_TOPIC,
    S21_METRICS,
    S21_SERIALS,
    Publisher,
    s21_payload,
    start_collect_process,
    wait_for,
)

# x 10 rigs = 30,000 messages, 360,000 samples: ~1.8 MB spooled (~5 B a sample with noisy values)
ROUNDS = 3000


def noisy_stream(t0: int, rounds: int) -> list[tuple[str, bytes]]:
    """The ten S21 rigs one second apart, with values that vary like real readings: the spool
    stores columns, which compress a repetitive test stream to ~0.5 B a sample and would never
    fill 1 MB."""
    rng = random.Random(14)

    def payload(serial: str, seq: int) -> bytes:
        temp = {k: rng.uniform(40.0, 80.0) for k in ("chip_max", "board_max", "inlet", "outlet")}
        return orjson.dumps(
            s21_payload(
                serial,
                t0 + seq * NS_PER_S,
                seq,
                power_w=rng.uniform(3000.0, 3600.0),
                hashrate_ths=rng.uniform(180.0, 210.0),
                temp=temp,
                fans=[rng.randint(4000, 6000) for _ in range(4)],
            )
        )

    return [
        (RIG_TOPIC.format(serial), payload(serial, seq))
        for seq in range(rounds)
        for serial in S21_SERIALS
    ]


def test_full_spool_acks_nothing_it_cannot_keep_and_loses_nothing(
    tmp_path: Path,
    mosquitto: Broker,
    influxd_private: Server,
    v1_settings: Callable[..., InfluxSettings],
) -> None:
    settings = v1_settings(influxd_private)
    config = influx_facility(
        tmp_path, mosquitto.port, settings, spool_max_mb=1, spool_retry_max_s=1
    )
    log = tmp_path / "collector.log"
    proc = start_collect_process(config, log)
    status_dir = tmp_path / "data" / "status"
    mqtt_status = status_dir / f"collector-mqtt-test-collector-{mosquitto.port}.json"
    t0 = (now_ns() // NS_PER_S - 3600) * NS_PER_S
    try:
        influxd_private.stop()
        pub = Publisher(mosquitto.port)
        pub.publish_all(noisy_stream(t0, ROUNDS))
        pub.close()
        wait_for(lambda: "is full" in log.read_text(), timeout_s=60, what="the spool full")
        time.sleep(6)  # a status round while full
        full = orjson.loads((status_dir / "store.json").read_bytes())
        acked_while_full = orjson.loads(mqtt_status.read_bytes())["acked"]
        assert full["status"] == "spool_full" and full["spool_full_total"] >= 1
        assert acked_while_full < ROUNDS * 10  # the rest stays with the broker
        assert acked_while_full * S21_METRICS == full["spool_samples"]  # acked = safely spooled
        influxd_private.start()
        back_at = time.monotonic()
        reader = InfluxStore(settings, facility="demo")
        total = ROUNDS * 10 * S21_METRICS

        def stored() -> int:
            return len(reader.query(t0, t0 + 10**6 * NS_PER_S, metrics=["power_w"])) * S21_METRICS

        wait_for(lambda: stored() >= total, timeout_s=90, what="everything in InfluxDB")
        recovered_s = time.monotonic() - back_at
        time.sleep(1.0)
        df = reader.query(t0, t0 + 10**6 * NS_PER_S)
        assert len(df) == total == 360_000  # 0 lost
        assert not df.duplicated(["device", "metric", "ts"]).any()  # 0 duplicated
        reader.close()
    finally:
        text = stop_collector(proc, log)
    # loud once per episode, not per retry: the spool's ERROR and the collector's
    lines = text.splitlines()
    assert sum("spooling: spool" in line and "is full" in line for line in lines) == 1
    assert sum("stay unacknowledged" in line for line in lines) == 1
    print(
        f"spool full: {acked_while_full} of {ROUNDS * 10} messages acked while full, "
        f"{full['spool_samples']} samples spooled, all stored {recovered_s:.1f} s after restart"
    )
