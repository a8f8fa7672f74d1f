"""The device table's version (``TelemetryStore.devices_since``): the SQLite store moves it when a
device is added or its metadata changes — from any connection, through triggers in the file — and
not when a write only moves first/last seen; the analyzer's copy then reads only those two columns
and still sees them fresh."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd

from minewatch.analyzer.context import RawCache
from minewatch.analyzer.devices import DeviceTable
from minewatch.counters import Counters
from minewatch.sample import DeviceMeta, Sample
from minewatch.store import SqliteStore
from minewatch.store.base import SEEN_COLUMNS

S = 10**9
T0 = 1_767_225_600 * S


def _store(path: Path) -> SqliteStore:
    store = SqliteStore(path)
    store.upsert_devices([DeviceMeta("rig-1", "asic_miner", "s21", "hall1", "r1", "rig")])
    store.write([Sample(T0, "rig-1", "chip_temp_c", 70.0)])
    return store


def test_version_moves_with_devices_and_metadata_not_with_writes(tmp_path: Path) -> None:
    store = _store(tmp_path / "t.db")
    version, table = store.devices_since(None)
    assert list(table["device"]) == ["rig-1"]

    store.write([Sample(T0 + 10 * S, "rig-1", "chip_temp_c", 71.0)])  # last seen moves only
    store.upsert_devices([DeviceMeta("rig-1", "asic_miner", "s21", "hall1", "r1", "rig")])  # same
    same, times = store.devices_since(version)
    assert same == version
    assert list(times.columns) == SEEN_COLUMNS
    assert times["last_seen"].tolist() == [T0 + 10 * S]

    other = SqliteStore(store.path)  # another writer of the file
    other.write([Sample(T0 + 20 * S, "rig-2", "chip_temp_c", 70.0)])  # a new device
    added, table = store.devices_since(same)
    assert added != same and list(table["device"]) == ["rig-1", "rig-2"]

    other.upsert_devices([DeviceMeta("rig-1", "asic_miner", "s21", "hall2", "r1", "rig")])
    moved, table = store.devices_since(added)
    assert moved != added and table.set_index("device").loc["rig-1", "zone"] == "hall2"
    other.close()


def test_analyzer_copy_reads_fresh_seen_times_without_the_whole_table(tmp_path: Path) -> None:
    store = _store(tmp_path / "t.db")
    counters = Counters()
    table = DeviceTable(store, 5.0, RawCache(0), counters)
    first = table.get(T0)
    store.write([Sample(T0 + 10 * S, "rig-1", "chip_temp_c", 71.0)])
    again = table.get(T0 + 10 * S)
    assert again["last_seen"].tolist() == [T0 + 10 * S]
    assert again[["device", "kind", "zone"]].equals(first[["device", "kind", "zone"]])

    # what the full read would give, column for column
    store.upsert_devices([DeviceMeta("rig-1", "asic_miner", "s21", "hall3", "r1", "rig")])
    store.write([Sample(T0 + 20 * S, "rig-1", "chip_temp_c", 72.0)])
    fresh = table.get(T0 + 20 * S)
    assert fresh.equals(store.devices())
    assert fresh["zone"].tolist() == ["hall3"]


def test_a_store_file_from_before_the_version_gets_it_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _store(path).close()
    with sqlite3.connect(path) as conn:  # the file as the previous version left it
        for trigger in ("devices_added", "devices_removed", "devices_changed"):
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute("DROP TABLE devices_version")
    store = SqliteStore(path)
    version, table = store.devices_since(None)
    assert version == 0 and list(table["device"]) == ["rig-1"]
    store.write([Sample(T0, "rig-9", "chip_temp_c", 1.0)])
    assert store.devices_since(version)[0] == 1


def test_seen_times_of_a_device_never_seen_read_as_the_whole_table_does(tmp_path: Path) -> None:
    """A device with metadata but no sample yet has NULL first/last seen: the two columns alone
    come back as the whole table gives them."""
    store = _store(tmp_path / "t.db")
    store.upsert_devices([DeviceMeta("rig-0", "asic_miner", "s21", "hall1", "r1", "rig")])
    table = DeviceTable(store, 5.0, RawCache(0), Counters())
    table.get(T0)
    store.write([Sample(T0 + 10 * S, "rig-1", "chip_temp_c", 71.0)])
    again = table.get(T0 + 10 * S)
    pd.testing.assert_frame_equal(again, store.devices())
    assert again["first_seen"].isna().tolist() == [True, False]
