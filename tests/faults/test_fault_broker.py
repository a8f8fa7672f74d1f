"""Faults of the broker: a restart with persistence (clean stop, and SIGKILL after a snapshot), a
restart that loses the session, and a broker that downgrades QoS.

Guarantees: with persistence, messages queued for the collector's session while it was stopped
survive the broker restart and are stored exactly once; a lost session is a WARNING saying what it
means (not an INFO "session new"), counted; a QoS downgrade is a WARNING at subscribe time."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from minewatch.sample import NS_PER_S, now_ns
from minewatch.store import SqliteStore
from tests.support.faults import stream
from tests.support.mosquitto import Broker, start_mosquitto
from tests.support.mqtt import (
    S21_METRICS,
    Publisher,
    facility_file,
    start_collect_process,
    wait_for,
)

ROUNDS = 300  # x 10 rigs = 3,000 messages queued in the broker for the stopped collector


def _rows(path: Path) -> int:
    store = SqliteStore(path)
    try:
        return int(store._conn().execute("SELECT COUNT(*) FROM samples").fetchone()[0])
    finally:
        store.close()


def _restart(broker: Broker, sig: signal.Signals, **kw: object) -> Broker:
    broker.proc.send_signal(sig)
    broker.proc.wait(10)
    return start_mosquitto(broker.workdir, broker.port, **kw)  # type: ignore[arg-type]


def _stop(proc: object) -> int:
    proc.send_signal(signal.SIGTERM)  # type: ignore[attr-defined]
    return int(proc.wait(30))  # type: ignore[attr-defined]


def _queued_then_restarted(tmp_path: Path, sig: signal.Signals) -> tuple[int, int, str]:
    """Collector subscribes and stops; 3,000 messages are queued for it; the broker restarts with
    ``sig``; the collector starts again. Returns (stored, expected, collector log)."""
    broker = start_mosquitto(tmp_path / "mosquitto", autosave_interval_s=1)
    config = facility_file(tmp_path, broker.port)
    log = tmp_path / "collector.log"
    try:
        assert _stop(start_collect_process(config, log)) == 0  # the session now exists
        pub = Publisher(broker.port)
        pub.publish_all(stream((now_ns() // NS_PER_S - 3600) * NS_PER_S, 0, ROUNDS))
        pub.close()
        time.sleep(2.5)  # past the 1 s autosave: the queued messages are in the snapshot
        broker = _restart(broker, sig, autosave_interval_s=1)
        proc = start_collect_process(config, log)
        expected = ROUNDS * 10 * S21_METRICS
        db = tmp_path / "data" / "telemetry.db"
        wait_for(lambda: _rows(db) >= expected, timeout_s=60, what="the queued messages")
        time.sleep(1.0)  # a late duplicate would show as an extra row
        assert _stop(proc) == 0
        return _rows(db), expected, log.read_text()
    finally:
        broker.stop()


def test_broker_clean_restart_with_persistence_loses_nothing(tmp_path: Path) -> None:
    stored, expected, log = _queued_then_restarted(tmp_path, signal.SIGTERM)
    assert stored == expected == 36_000
    assert "session resumed" in log and "did not keep the session" not in log


def test_broker_sigkill_after_a_snapshot_loses_nothing(tmp_path: Path) -> None:
    stored, expected, log = _queued_then_restarted(tmp_path, signal.SIGKILL)
    assert stored == expected == 36_000
    assert "session resumed" in log and "did not keep the session" not in log


def test_session_lost_on_reconnect_is_a_warning(tmp_path: Path) -> None:
    broker = start_mosquitto(tmp_path / "mosquitto", persistence=False)
    config = facility_file(tmp_path, broker.port)
    log = tmp_path / "collector.log"
    proc = start_collect_process(config, log)
    try:
        broker = _restart(broker, signal.SIGTERM, persistence=False)
        wait_for(lambda: log.read_text().count("subscriptions confirmed") == 2, what="reconnect")
        pub = Publisher(broker.port)
        pub.publish_all(stream((now_ns() // NS_PER_S - 3600) * NS_PER_S, 0, 10))
        pub.close()
        wait_for(lambda: _rows(tmp_path / "data" / "telemetry.db") == 100 * S21_METRICS)
    finally:
        assert _stop(proc) == 0
        broker.stop()
    lost = [line for line in log.read_text().splitlines() if "did not keep the session" in line]
    assert len(lost) == 1 and " WARNING " in lost[0] and "lost unless" in lost[0], lost


def test_qos_downgrade_by_the_broker_is_a_warning(tmp_path: Path) -> None:
    broker = start_mosquitto(tmp_path / "mosquitto", extra="max_qos 0\n")
    config = facility_file(tmp_path, broker.port)
    log = tmp_path / "collector.log"
    try:
        assert _stop(start_collect_process(config, log)) == 0
    finally:
        broker.stop()
    assert log.read_text().count("granted QoS 0 for a subscription asked at QoS 1") == 1
