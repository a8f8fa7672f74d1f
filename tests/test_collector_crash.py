"""SIGKILL the collector process mid-stream, restart it: every published sample is stored exactly
once."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import orjson

from minewatch.sample import NS_PER_S, now_ns
from minewatch.store import SqliteStore
from tests.support.mosquitto import Broker
from tests.support.mqtt import (
    RIG_TOPIC,
    S21_METRICS,
    S21_SERIALS,
    Publisher,
    facility_file,
    s21_payload,
    start_collect_process,
    wait_for,
)

PER_RIG = 800  # 10 rigs x 800 = 8000 messages, 96,000 samples


def test_sigkill_mid_stream_loses_and_duplicates_nothing(tmp_path: Path, mosquitto: Broker) -> None:
    config = facility_file(tmp_path, mosquitto.port)
    log = tmp_path / "collector.log"
    store = SqliteStore(tmp_path / "data" / "telemetry.db")

    def rows() -> int:
        return store._conn().execute("SELECT COUNT(*) FROM samples").fetchone()[0]

    first = start_collect_process(config, log)
    t0 = (now_ns() // NS_PER_S - 3 * 86400) * NS_PER_S
    stream = [
        (RIG_TOPIC.format(serial), orjson.dumps(s21_payload(serial, t0 + seq * NS_PER_S, seq)))
        for seq in range(PER_RIG)
        for serial in S21_SERIALS
    ]
    pub = Publisher(mosquitto.port)

    def publish_paced() -> None:
        for i in range(0, len(stream), 400):
            pub.publish_all(stream[i : i + 400])
            time.sleep(0.15)

    publishing = threading.Thread(target=publish_paced)
    publishing.start()
    total = len(stream) * S21_METRICS
    wait_for(lambda: rows() >= total // 8, what="collector storing part of the stream")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    killed_at = rows()
    assert publishing.is_alive() and 0 < killed_at < total, "the kill must land mid-stream"

    publishing.join(120)
    pub.close()
    second = start_collect_process(config, log)
    try:
        wait_for(lambda: rows() >= total, timeout_s=90, what="every sample stored after restart")
        time.sleep(0.5)  # anything redelivered late would show up as extra rows (it must not)
        assert rows() == total
        df = store.query(0, 2**62, metrics=["power_w"])
        assert len(df) == len(stream)
        expected = {
            (serial, t0 + seq * NS_PER_S) for seq in range(PER_RIG) for serial in S21_SERIALS
        }
        assert set(zip(df["device"], df["ts"], strict=True)) == expected
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    assert "collector stopped" in log.read_text()
    status_dir = tmp_path / "data" / "status"
    assert (status_dir / "store.json").exists()
    status = orjson.loads(
        (status_dir / f"collector-mqtt-test-collector-{mosquitto.port}.json").read_bytes()
    )
    assert (
        status["stopped"] is True and status["pid"] == second.pid and status["rejected_total"] == {}
    )
    assert status["acked"] > 0 and status["stored_samples"] == status["acked"] * S21_METRICS
