"""Report coverage by each device's own rate (issue #11), written from the failure: a rule whose
``max_age`` is 30 s saw a meter every 60 s "present" only half the time (coverage ~50 % →
insufficient data) while a meter every 10 s was always present."""

from __future__ import annotations

import pytest

from minewatch.analyzer.profile_loader import validate_profile
from minewatch.analyzer.report import build_report
from minewatch.store import SqliteStore
from tests.support.analyzer import T0, S, facility_cfg, fill_store

H = 3600


def _profile():
    return validate_profile(
        {
            "id": "t",
            "title": "t",
            "jurisdiction": "t",
            "version": "1",
            "rules": [
                {
                    "id": "EL-T",
                    "title": "voltage high",
                    "family": "electrical",
                    "severity": "warning",
                    "source": "test",
                    "kind": "threshold",
                    "selector": {"role": "revenue_meter"},
                    "params": {"metric": "voltage_v", "above": 250, "max_age": "30s"},
                }
            ],
        },
        "t",
    )


def _report(tmp_path, every_s, keep):
    """A meter at ``every_s`` for two hours; ``keep(t)`` False drops the reading at t."""
    cfg = facility_cfg(tmp_path)
    store = SqliteStore(cfg.telemetry_db)
    rows = [
        {"ts": t, "device": "meter-1", "metric": "voltage_v", "value": 230}
        for t in range(0, 2 * H, every_s)
        if keep(t)
    ]
    fill_store(store, rows, [{"device": "meter-1", "kind": "power_meter", "role": "revenue_meter"}])
    rep = build_report(cfg, store, None, _profile(), T0, T0 + 2 * H * S, device_profiles={})
    (rule,) = rep["rules"]
    return rule


@pytest.mark.parametrize("every_s", [10, 60])
def test_full_data_is_full_coverage_at_any_rate(tmp_path, every_s):
    rule = _report(tmp_path, every_s, lambda t: True)
    assert rule["coverage_in_operation_pct"] == pytest.approx(100, abs=1)
    assert rule["verdict"] == "compliant"


@pytest.mark.parametrize("every_s", [10, 60])
def test_the_same_share_missing_gives_the_same_verdict_at_any_rate(tmp_path, every_s):
    """Every fourth minute-block of readings dropped from the second hour on: both rates lose the
    same share of time, so both fall under the 90 % required (and by the same amount)."""
    rule = _report(tmp_path, every_s, lambda t: t < H or (t // 60) % 4 != 0)
    assert rule["verdict"] == "insufficient_data"
    assert rule["coverage_in_operation_pct"] == pytest.approx(87.5, abs=2)
