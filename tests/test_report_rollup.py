"""A report evaluated on store-side roll-ups gives the breaches and verdicts of the raw path (issue
#11: long reports read aggregates, raw samples only around breaches)."""

from __future__ import annotations

import pytest

from minewatch.analyzer.report import build_report
from tests.support.analyzer import T0, S, site_with_history

END = T0 + 7200 * S


def _comparable(rep):
    rules = rep["rules"]
    breaches = [{k: v for k, v in b.items() if k != "evidence"} for b in rep["breaches"]]
    return rules, breaches, rep["summary"], rep["hourly"], rep["curtailment"]


@pytest.mark.parametrize("step_s", [None, 60.0])
def test_rollup_and_raw_give_the_same_report(tmp_path, step_s):
    cfg, store, alerts, profiles = site_with_history(tmp_path)
    raw_rows = {"raw": 0, "rollup": 0}
    query = store.query

    def counting(*args, **kwargs):
        df = query(*args, **kwargs)
        if kwargs.get("step_ns") is None and (len(args) < 5 or args[4] is None):
            raw_rows[mode] += len(df)
        return df

    store.query = counting
    reps = {}
    for mode in ("raw", "rollup"):
        reps[mode] = build_report(
            cfg,
            store,
            alerts,
            "tm-2026",
            T0,
            END,
            device_profiles=profiles,
            report_step_s=step_s,
            read=mode,
        )
    assert raw_rows["rollup"] < raw_rows["raw"] / 3, raw_rows
    assert reps["raw"]["breaches"], "the golden site has breaches to compare"
    assert _comparable(reps["rollup"]) == _comparable(reps["raw"])
    # evidence is still raw around each breach
    assert [b["evidence"] for b in reps["rollup"]["breaches"]] == [
        b["evidence"] for b in reps["raw"]["breaches"]
    ]
    ev = reps["rollup"]["evaluation"]
    assert ev["read"] == "rollup" and ev["resolution_s"] > 0
    assert reps["raw"]["evaluation"]["read"] == "raw"
