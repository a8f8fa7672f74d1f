"""Faults of the collector process itself: SIGKILL twice mid-stream, and SIGSTOP (a frozen process,
e.g. swapped out or a stuck disk) long enough for the broker to drop the connection.

Guarantee: every published message is stored exactly once across the kills and the freeze: what was
written but not acknowledged is redelivered and deduplicated by the store key, what was neither is
redelivered from the broker's session."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from minewatch.sample import NS_PER_S, now_ns
from minewatch.store import SqliteStore
from tests.support.faults import stream
from tests.support.mosquitto import Broker
from tests.support.mqtt import (
    S21_METRICS,
    Publisher,
    facility_file,
    start_collect_process,
    wait_for,
)

ROUNDS = 1500  # x 10 rigs = 15,000 messages, 180,000 samples


def test_sigkill_twice_and_sigstop_lose_and_duplicate_nothing(
    tmp_path: Path, mosquitto: Broker
) -> None:
    # keepalive 5 s: a process frozen for 10 s is dropped by the broker (1.5 x keepalive)
    config = facility_file(tmp_path, mosquitto.port, keepalive_s=5)
    log = tmp_path / "collector.log"
    store = SqliteStore(tmp_path / "data" / "telemetry.db")

    def rows() -> int:
        return int(store._conn().execute("SELECT COUNT(*) FROM samples").fetchone()[0])

    messages = stream((now_ns() // NS_PER_S - 86400) * NS_PER_S, 0, ROUNDS)
    total = len(messages) * S21_METRICS
    pub = Publisher(mosquitto.port)

    def paced() -> None:
        for i in range(0, len(messages), 500):
            pub.publish_all(messages[i : i + 500])
            time.sleep(0.2)

    publishing = threading.Thread(target=paced)
    proc = start_collect_process(config, log)
    publishing.start()
    kills = 0
    for share in (6, 3):  # SIGKILL once a sixth, then once a third is stored
        wait_for(lambda s=share: rows() >= total // s, timeout_s=60, what="part of the stream")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        kills += 1
        proc = start_collect_process(config, log)
    wait_for(lambda: rows() >= total // 2, timeout_s=60, what="half of the stream")
    os.kill(proc.pid, signal.SIGSTOP)
    time.sleep(15)
    os.kill(proc.pid, signal.SIGCONT)
    try:
        # the broker dropped the frozen client; it reconnects and resumes its session
        wait_for(
            lambda: log.read_text().count("subscriptions confirmed") == 4,
            timeout_s=30,
            what="reconnect after the freeze",
        )
        publishing.join(120)
        pub.close()
        wait_for(lambda: rows() >= total, timeout_s=90, what="every sample stored")
        time.sleep(1.0)  # a late redelivery would show as extra rows
        assert kills == 2 and rows() == total == 180_000  # 0 lost, 0 duplicated
        assert "did not keep the session" not in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        store.close()
