"""The store's aggregate reads for the live page: SQLite's in-database versions give the same rows
as the generic defaults every other backend uses, on a facility with every case the page cares about
(unassigned ASICs, a meter, a discovery record, a stale rig, a rig reported down, a device that was
registered but never sent anything, a non-rig with a chip temperature)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from minewatch.errors import InvalidInput
from minewatch.sample import NS_PER_S, DeviceMeta, Sample
from minewatch.store import SqliteStore, TelemetryStore

NOW = 1_767_225_600 * NS_PER_S  # 2026-01-01T00:00:00Z
CUTOFF = NOW - 60 * NS_PER_S


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "t.db")
    s.upsert_devices(
        [
            *(
                DeviceMeta(f"rig-{i}", "asic_miner", "m1", f"hall{i % 2}", "A1", "rig")
                for i in range(6)
            ),
            DeviceMeta("asic-x", "asic_miner", "m2", "hall0", "A2", ""),
            DeviceMeta("meter", "power_meter", "pm", "", "", "revenue_meter"),
            DeviceMeta("scan", "discovery", "", "", "", ""),
            DeviceMeta("never", "asic_miner", "m1", "hall1", "A3", "rig"),
            DeviceMeta("pdu", "pdu", "p", "hall0", "", "pdu"),
        ]
    )
    fresh, stale = NOW - 5 * NS_PER_S, NOW - 600 * NS_PER_S
    samples = []
    for i in range(6):
        ts = stale if i == 5 else fresh
        samples += [
            Sample(ts, f"rig-{i}", "power_w", 3000.0 + i),
            Sample(ts, f"rig-{i}", "chip_temp_c", 70.0 + (i % 3)),  # ties: 70, 71, 72, 70, 71
        ]
    samples += [
        Sample(fresh, "rig-4", "up", 0.0),  # answers nothing: fresh samples, yet down
        Sample(fresh, "rig-1", "up", 1.0),
        Sample(fresh, "asic-x", "power_w", 2500.5),
        Sample(fresh, "asic-x", "chip_temp_c", 71.0),
        Sample(fresh, "meter", "power_w", 20_000.0),
        Sample(stale, "scan", "found", 7.0),
        Sample(fresh, "pdu", "power_w", 900.0),
        Sample(fresh, "pdu", "chip_temp_c", 95.0),  # not a rig, yet the hottest
    ]
    # two 30 s buckets of power for the trend: rig-0 twice per bucket, the meter once
    for k, value in enumerate((1000.0, 2000.0, 3000.0, 5000.0)):
        samples.append(Sample(NOW - 120 * NS_PER_S + k * 15 * NS_PER_S, "rig-0", "power_w", value))
    samples.append(Sample(NOW - 120 * NS_PER_S, "meter", "power_w", 10_000.0))
    s.write(samples)
    yield s
    s.close()


def _same(ours: pd.DataFrame, generic: pd.DataFrame, check_dtype: bool = True) -> None:
    pd.testing.assert_frame_equal(
        ours.reset_index(drop=True),
        generic.reset_index(drop=True),
        check_exact=False,
        rtol=1e-12,
        check_dtype=check_dtype,
    )


def test_device_counts_match_the_generic_default(store: SqliteStore) -> None:
    ours = store.device_counts(CUTOFF)
    _same(ours, TelemetryStore.device_counts(store, CUTOFF))
    rigs = ours[(ours["role"] == "rig") & (ours["kind"] == "asic_miner")].iloc[0]
    # 7 rigs: rig-5 stale, rig-4 reported down, "never" never seen
    assert (rigs["devices"], rigs["online"]) == (7, 4)
    assert list(ours.columns) == ["role", "kind", "devices", "online"]


def test_latest_totals_count_only_fresh_values(store: SqliteStore) -> None:
    ours = store.latest_totals("power_w", CUTOFF)
    _same(ours, TelemetryStore.latest_totals(store, "power_w", CUTOFF))
    rigs = ours[ours["role"] == "rig"].iloc[0]
    # rig-5 is stale; rig-4 is reported down but its reading is fresh, so it counts (as before)
    assert (rigs["count"], rigs["sum"]) == (5, 3000.0 + 3001.0 + 3002.0 + 3003.0 + 3004.0)
    assert rigs["oldest_ts"] == NOW - 5 * NS_PER_S
    assert store.latest_totals("no_such_metric", CUTOFF).empty


def test_latest_top_ranks_online_devices_with_ties_by_device(store: SqliteStore) -> None:
    ours = store.latest_top("chip_temp_c", 4, CUTOFF)
    _same(ours, TelemetryStore.latest_top(store, "chip_temp_c", 4, CUTOFF))
    # pdu first (not a rig: the caller filters); rig-4 (down) and rig-5 (stale) are left out
    assert ours["device"].tolist() == ["pdu", "rig-2", "asic-x", "rig-1"]
    assert ours.loc[0, ["role", "kind", "model", "zone"]].tolist() == ["pdu", "pdu", "p", "hall0"]


def test_latest_top_widens_past_offline_devices_and_boundary_ties(tmp_path: Path) -> None:
    """SQLite ranks the highest values first and checks the devices after: with the 400 hottest of
    1,000 rigs offline (stale or down) and ties across its first batch of candidates, it falls
    back to ranking with the online test, and the answer is the generic default's."""
    s = SqliteStore(tmp_path / "many.db")
    s.upsert_devices(
        [DeviceMeta(f"r{i:04d}", "asic_miner", "m1", "h", "A", "rig") for i in range(1000)]
    )
    samples = []
    for i in range(1000):
        hot = i < 400
        ts = NOW - (600 if hot and i % 2 else 5) * NS_PER_S  # odd hot ones stale, even ones down
        samples.append(
            Sample(ts, f"r{i:04d}", "chip_temp_c", 90 + i / 1000 if hot else 60.0 + i // 100)
        )
        if hot and i % 2 == 0:
            samples.append(Sample(NOW - 5 * NS_PER_S, f"r{i:04d}", "up", 0.0))
    s.write(samples)
    try:
        for n in (1, 3, 12, 100, 2000):
            ours = s.latest_top("chip_temp_c", n, CUTOFF)
            _same(ours, TelemetryStore.latest_top(s, "chip_temp_c", n, CUTOFF))
            # the stale hot rigs count as online with a longer cut-off: found among the candidates
            wide = s.latest_top("chip_temp_c", n, NOW - 1000 * NS_PER_S)
            _same(wide, TelemetryStore.latest_top(s, "chip_temp_c", n, NOW - 1000 * NS_PER_S))
        top = s.latest_top("chip_temp_c", 12, CUTOFF)
        assert top["device"].tolist() == [f"r{i:04d}" for i in range(900, 912)]
        wide = s.latest_top("chip_temp_c", 3, NOW - 1000 * NS_PER_S)
        assert wide["device"].tolist() == ["r0399", "r0397", "r0395"]
    finally:
        s.close()


def test_bucket_totals_sum_each_devices_bucket_mean(store: SqliteStore) -> None:
    step = 30 * NS_PER_S
    ours = store.bucket_totals("power_w", NOW - 120 * NS_PER_S, NOW - 60 * NS_PER_S, step)
    _same(
        ours,
        TelemetryStore.bucket_totals(
            store, "power_w", NOW - 120 * NS_PER_S, NOW - 60 * NS_PER_S, step
        ),
    )
    by = {(int(r.ts), r.role): r.value for r in ours.itertuples()}
    first = (NOW - 120 * NS_PER_S) // step * step
    assert by[(first, "rig")] == 1500.0 and by[(first + step, "rig")] == 4000.0
    assert by[(first, "revenue_meter")] == 10_000.0
    for start in (NOW - 3600 * NS_PER_S, NOW - 120 * NS_PER_S + 7):  # more buckets, a ragged start
        _same(
            store.bucket_totals("power_w", start, NOW, step),
            TelemetryStore.bucket_totals(store, "power_w", start, NOW, step),
        )
    with pytest.raises(InvalidInput, match="step must be positive"):
        store.bucket_totals("power_w", 0, NOW, 0)


def test_devices_with_roles(store: SqliteStore) -> None:
    ours = store.devices_with_roles(["revenue_meter", "pdu"])
    # devices() turns first/last seen to float when any device was never seen ("never")
    _same(ours, TelemetryStore.devices_with_roles(store, ["revenue_meter", "pdu"]), False)
    assert ours["device"].tolist() == ["meter", "pdu"]
