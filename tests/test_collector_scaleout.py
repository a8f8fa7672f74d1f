"""Scaling out: two ``minewatch collect`` processes on one shared subscription split the stream and
store every sample once."""

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
    S21_SERIALS,
    Publisher,
    facility_file,
    s21_payload,
    start_collect_process,
    wait_for,
)


def test_two_collect_processes_share_the_stream(tmp_path: Path, mosquitto: Broker) -> None:
    config = facility_file(tmp_path, mosquitto.port, shared_group="site")
    procs = [
        start_collect_process(
            config, tmp_path / f"c{i}.log", "--client-id", f"collector-{i}", "--mqtt-only"
        )
        for i in range(2)
    ]
    t0 = (now_ns() // NS_PER_S - 3600) * NS_PER_S
    stream = [
        (RIG_TOPIC.format(s), orjson.dumps(s21_payload(s, t0 + seq * NS_PER_S, seq)))
        for seq in range(100)
        for s in S21_SERIALS
    ]
    pub = Publisher(mosquitto.port)
    pub.publish_all(stream)
    pub.close()
    store = SqliteStore(tmp_path / "data" / "telemetry.db")
    rows = lambda: store._conn().execute("SELECT COUNT(*) FROM samples").fetchone()[0]  # noqa: E731
    wait_for(lambda: rows() == len(stream) * S21_METRICS, timeout_s=60, what="every sample stored")
    for p in procs:
        p.send_signal(signal.SIGTERM)
    assert [p.wait(30) for p in procs] == [0, 0]
    status = [
        orjson.loads(
            (tmp_path / "data" / "status" / f"collector-mqtt-collector-{i}.json").read_bytes()
        )
        for i in range(2)
    ]
    assert all(s["acked"] > 0 for s in status), "both processes must take part"
    assert sum(s["acked"] for s in status) == len(stream)
    assert not (tmp_path / "data" / "status" / "collector-polling.json").exists()
