"""Fault: the data disk fills up under a running ``minewatch collect``, then space returns.

Guarantee: the collector keeps running (no crash, so no crash loop under a restart policy), stops
acknowledging, says so once with the path and the free space, and catches up by itself once space
returns; every message published during the outage is stored exactly once."""

from __future__ import annotations

import time
from pathlib import Path

from minewatch.sample import NS_PER_S, now_ns
from minewatch.store import SqliteStore
from tests.support.faults import SmallDisk, stop_collector, stream
from tests.support.mosquitto import Broker
from tests.support.mqtt import (
    S21_METRICS,
    Publisher,
    facility_file,
    start_collect_process,
    wait_for,
)

BEFORE, DURING = 100, 600  # rounds of the 10 rigs published before and during the full disk


def test_full_disk_keeps_collecting_and_loses_nothing(
    tmp_path: Path, mosquitto: Broker, small_disk: SmallDisk
) -> None:
    config = facility_file(tmp_path, mosquitto.port)
    log = tmp_path / "collector.log"
    proc = start_collect_process(config, log)
    store = SqliteStore(small_disk.path / "telemetry.db")

    def rows() -> int:
        return int(store._conn().execute("SELECT COUNT(*) FROM samples").fetchone()[0])

    t0 = (now_ns() // NS_PER_S - 86400) * NS_PER_S
    pub = Publisher(mosquitto.port)
    try:
        pub.publish_all(stream(t0, 0, BEFORE))
        wait_for(lambda: rows() == BEFORE * 10 * S21_METRICS, what="the first part stored")

        small_disk.fill()
        pub.publish_all(stream(t0, BEFORE, DURING))
        wait_for(lambda: "stay unacknowledged" in log.read_text(), what="the full disk reported")
        time.sleep(12)  # two status-file rounds and several write retries on the full disk
        assert proc.poll() is None, "the collector exited on a full disk:\n" + log.read_text()
        stuck = rows()
        assert stuck < (BEFORE + DURING) * 10 * S21_METRICS

        freed_at = time.monotonic()
        small_disk.free()
        total = (BEFORE + DURING) * 10 * S21_METRICS
        wait_for(lambda: rows() >= total, timeout_s=60, what="catching up once space returned")
        recovered_s = time.monotonic() - freed_at
        time.sleep(1.0)  # a late redelivery would show as extra rows (it must not)
        assert rows() == total  # 0 lost, 0 duplicated
        assert recovered_s < 10  # the writer retries at least every 5 s
    finally:
        pub.close()
        text = stop_collector(proc, log)
    # said once, with the path and the free space; and once when it ended
    down = [line for line in text.splitlines() if "stay unacknowledged" in line]
    assert len(down) == 1, down
    assert str(small_disk.path) in down[0] and "MB free of" in down[0]
    assert text.count("store writable again") == 1
    assert "Traceback" not in text
    print(f"full disk: stuck at {stuck} samples, recovered in {recovered_s:.1f} s, {total} stored")
