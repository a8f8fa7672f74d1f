"""Hourly compliance records and Part 75-style substitution, against hand-computed values."""

from __future__ import annotations

import pytest

from minewatch.analyzer.hourly import hourly_records, monthly_availability
from minewatch.analyzer.profile_loader import validate_profile
from minewatch.store import SqliteStore
from tests.support.analyzer import T0, S, facility_cfg, fill_store

H = 3600


def _profile(lookback=24):
    return validate_profile(
        {
            "id": "t",
            "title": "t",
            "jurisdiction": "t",
            "version": "1",
            "rules": [],
            "records": {
                "lookback_hours": lookback,
                "availability": [{"selector": {"role": "revenue_meter"}, "metrics": ["power_w"]}],
            },
        },
        "t",
    )


def _store(tmp_path, kw_at):
    """Meter samples every 5 minutes (3 per quarter) from 24 h before T0 to T0 + 4 h; kw_at(t) None
    = gap."""
    cfg = facility_cfg(tmp_path)
    store = SqliteStore(cfg.telemetry_db)
    rows = []
    for t in range(-24 * H, 4 * H, 300):
        kw = kw_at(t)
        if kw is not None:
            rows.append({"ts": t, "device": "meter-1", "metric": "power_w", "value": kw * 1000})
    fill_store(store, rows, [{"device": "meter-1", "kind": "power_meter", "role": "revenue_meter"}])
    return cfg, store


def test_valid_hours_substitution_and_never_under_reporting(tmp_path):
    def kw(t):
        if t < 0:
            return 100  # look-back: 24 valid hours → PMA 100 %
        if t < H:
            return 120  # H0 valid
        if t < 2 * H:
            return None  # H1 missing
        if t < 3 * H:
            return 160 if 2 * H + 1800 <= t < 2 * H + 2700 else 80  # H2: quarters 80, 80, 160, 80
        return 200 if t < 3 * H + 1800 else None  # H3: two quarters only

    cfg, store = _store(tmp_path, kw)
    recs = hourly_records(cfg, store, _profile(), T0, T0 + 4 * H * S)
    assert [r["hour"] for r in recs] == [
        "2026-01-01T00:00:00Z",
        "2026-01-01T01:00:00Z",
        "2026-01-01T02:00:00Z",
        "2026-01-01T03:00:00Z",
    ]
    h0, h1, h2, h3 = recs
    assert (h0["valid"], h0["samples"], h0["quarters_valid"]) == (True, 12, 4)
    assert h0["energy_kwh"] == {
        "value": 120.0,
        "original": 120.0,
        "quality": "M",
        "method": "measured",
    }
    assert h0["capacity_utilisation_pct"] == {"value": 120.0, "quality": "M"}  # licence 100 kW
    # H1: PMA 100 %, 1-hour gap → mean of the valid hours either side (H0 120, H2 100 kWh; peaks
    # 120, 160 kW)
    assert (h1["valid"], h1["samples"], h1["pma_pct"], h1["metering_availability_pct"]) == (
        False,
        0,
        100.0,
        0.0,
    )
    assert h1["energy_kwh"] == {
        "value": 110.0,
        "original": None,
        "quality": "S",
        "method": "avg_before_after (PMA >= 95 %, gap <= 24 h)",
    }
    assert h1["peak_demand_kw"]["value"] == 140.0
    assert h2["energy_kwh"]["value"] == 100.0 and h2["peak_demand_kw"]["value"] == 160.0
    # H3: half the hour measured at 200 kW; substitute (100) would under-report, so the measured
    # value stands
    assert (h3["valid"], h3["quarters_valid"], h3["metering_availability_pct"]) == (False, 2, 50.0)
    assert h3["pma_pct"] == pytest.approx(100 * 23 / 24, abs=0.01)
    assert h3["energy_kwh"]["value"] == 200.0 and h3["energy_kwh"]["original"] == 200.0
    assert h3["energy_kwh"]["quality"] == "S"


@pytest.mark.parametrize(
    "invalid_hours, method, value",
    [
        (1, "avg_before_after (PMA >= 95 %, gap <= 24 h)", 50.0),  # 23/24 = 95.8 %
        (2, "avg_before_after (PMA 90-95 %, gap <= 8 h)", 50.0),  # 22/24 = 91.7 %
        (4, "max_lookback (PMA 80-90 %)", 70.0),  # 20/24 = 83.3 %: the 70 kWh hour
        (6, "max_potential (PMA < 80 %)", 100.0),  # 18/24 = 75 %: licensed 100 kW x 1 h
    ],
)
def test_substitution_gets_stricter_as_availability_falls(tmp_path, invalid_hours, method, value):
    def kw(t):
        if -invalid_hours * H - H <= t < -H:
            return None  # invalid hours in the look-back, ending an hour before T0
        if -H <= t < 0:
            return 50  # the valid hour just before the gap
        if t < -20 * H:
            return 70 if t >= -21 * H else 50
        if 0 <= t < H:
            return None  # H0: the hour to substitute
        return 50

    cfg, store = _store(tmp_path, kw)
    (h0,) = hourly_records(cfg, store, _profile(), T0, T0 + H * S)
    assert h0["energy_kwh"]["method"] == method and h0["energy_kwh"]["value"] == value


def test_monthly_availability_per_device_and_metric(tmp_path):
    cfg, store = _store(tmp_path, lambda t: None if H <= t < 2 * H else 100)
    (row,) = monthly_availability(cfg, store, _profile(), T0, T0 + 4 * H * S)
    assert row == {
        "month": "2026-01",
        "device": "meter-1",
        "metric": "power_w",
        "hours": 4,
        "valid_hours": 3,
        "availability_pct": 75.0,
    }


def _meter_every(tmp_path, every_s, share_in_h1):
    """A meter at ``every_s`` from 24 h before T0 to T0 + 3 h at 100 kW; in H1's second quarter it
    sends only the first ``share_in_h1`` of that quarter's readings."""
    cfg = facility_cfg(tmp_path)
    store = SqliteStore(cfg.telemetry_db)
    rows = [
        {"ts": t, "device": "meter-1", "metric": "power_w", "value": 100_000}
        for t in range(-24 * H, 3 * H, every_s)
        if not (H + 900 + share_in_h1 * 900 <= t < H + 1800)
    ]
    fill_store(store, rows, [{"device": "meter-1", "kind": "power_meter", "role": "revenue_meter"}])
    return cfg, store


@pytest.mark.parametrize("every_s", [10, 60])
@pytest.mark.parametrize("share, valid", [(0.4, False), (0.8, True)])
def test_an_hour_is_valid_by_the_meters_own_rate_not_a_fixed_count(tmp_path, every_s, share, valid):
    """Written from the failure: one sample per quarter made a quarter holding 40 % of the readings
    'valid'. A meter every 10 s and one every 60 s missing the same share of a quarter now get the
    same verdict (at least 50 % of the samples their rate gives), the invalid hour is substituted
    alike, and monthly availability counts the same hours."""
    cfg, store = _meter_every(tmp_path, every_s, share)
    h0, h1, h2 = hourly_records(cfg, store, _profile(), T0, T0 + 3 * H * S)
    assert h0["expected_samples"] == 3600 // every_s
    assert (h0["valid"], h1["valid"], h2["valid"]) == (True, valid, True)
    assert h1["quarters_valid"] == (4 if valid else 3)
    assert h1["energy_kwh"]["quality"] == ("M" if valid else "S")
    assert h1["energy_kwh"]["value"] == 100.0
    (row,) = monthly_availability(cfg, store, _profile(), T0, T0 + 3 * H * S)
    assert row["valid_hours"] == (3 if valid else 2)
