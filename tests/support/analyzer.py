"""Helpers for analyzer tests: a facility config in a temp folder, a real SqliteStore filled from
CSV, and golden-case folders (``tests/cases/<rule>/<case>/``) turned into stores and profiles."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from minewatch.alerting import AlertTransition
from minewatch.analyzer.profile import ComplianceProfile
from minewatch.analyzer.profile_loader import validate_profile
from minewatch.config.facility import FacilityConfig
from minewatch.configfile import validate
from minewatch.profiles import DeviceProfile
from minewatch.sample import DeviceMeta, Sample
from minewatch.store import SqliteStore

CASES = Path(__file__).resolve().parents[1] / "cases"
T0 = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z, the day Turkmenistan's law took effect
S = 10**9


def facility_data(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """A small facility's settings, storing under ``tmp_path / "data"``; ``extra`` sections are
    merged into the defaults."""
    data: dict[str, Any] = {
        "facility": {"id": "test-site", "name": "Test site"},
        "licence": {"number": "CBT-0001", "capacity_kw": 100.0, "region": "Mary"},
        "storage": {"data_dir": str(tmp_path / "data")},
        "analysis": {"interval_s": 10},
    }
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k] = {**data[k], **v}
        else:
            data[k] = v
    return data


def facility_cfg(tmp_path: Path, **extra: Any) -> FacilityConfig:
    cfg = validate(FacilityConfig, facility_data(tmp_path, **extra), "test facility")
    return cfg.model_copy(update={"base_dir": tmp_path})


def facility_yaml(tmp_path: Path, **extra: Any) -> Path:
    """The same facility as a file, for the command line (``--config``)."""
    path = tmp_path / "facility.yaml"
    path.write_text(yaml.safe_dump(facility_data(tmp_path, **extra)))
    return path


def device_profiles(specs: dict[str, dict[str, Any]]) -> dict[str, DeviceProfile]:
    out = {}
    for pid, spec in specs.items():
        spec = {
            "id": pid,
            "vendor": "test",
            "model": pid,
            "mqtt": {"fields": {"power_w": {"path": "p"}}},
            **spec,
        }
        out[pid] = DeviceProfile.model_validate(spec)
    return out


def fill_store(
    store: SqliteStore, rows: list[dict[str, Any]], devices: list[dict[str, Any]], t0: int = T0
) -> None:
    """``rows``: dicts with ts (seconds after t0), device, metric, value (blank/NaN rows are
    skipped: a gap)."""
    store.upsert_devices(
        DeviceMeta(
            d["device"],
            d.get("kind", ""),
            d.get("model", ""),
            d.get("zone", ""),
            d.get("rack", ""),
            d.get("role", ""),
        )
        for d in devices
    )
    samples = []
    for r in rows:
        v = r["value"]
        if v in ("", None) or (isinstance(v, float) and np.isnan(v)) or str(v).lower() == "nan":
            continue
        samples.append(Sample(t0 + round(float(r["ts"]) * S), r["device"], r["metric"], float(v)))
    store.write(samples)


@dataclass
class Case:
    path: Path
    meta: dict[str, Any]
    profile: ComplianceProfile
    expected: list[dict[str, Any]]

    @property
    def id(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"

    def rows(self) -> list[dict[str, Any]]:
        with (self.path / "input.csv").open(newline="") as fh:
            return list(csv.DictReader(fh))

    def setup(self, tmp_path: Path) -> tuple[FacilityConfig, SqliteStore, dict[str, DeviceProfile]]:
        cfg = facility_cfg(tmp_path, **self.meta.get("facility", {}))
        if (self.path / "registry.csv").exists():
            cfg = cfg.model_copy(update={"registry": str(self.path / "registry.csv")})
        store = SqliteStore(cfg.telemetry_db)
        fill_store(store, self.rows(), self.meta.get("devices", []))
        return cfg, store, device_profiles(self.meta.get("device_profiles", {}))

    def alert_store(self, cfg: FacilityConfig, bus: Any = None) -> Any:
        """state.db with the case's curtailment orders (``orders:``) and silences or maintenance
        windows (``silences:``) from case.yaml."""
        from minewatch.analyzer.curtailment import add_order
        from minewatch.analyzer.state import AlertStore

        alerts = AlertStore(cfg.state_db, bus)
        for o in self.meta.get("orders", []):
            add_order(
                alerts,
                target_kw=o["target_kw"],
                starts_at_ns=T0 + o["from_s"] * S,
                ends_at_ns=T0 + o["to_s"] * S,
                response_s=o["response_s"],
                issued_by="grid operator",
            )
        for sil in self.meta.get("silences", []):
            alerts.add_silence(
                sil["matchers"],
                T0 + sil["from_s"] * S,
                T0 + sil["to_s"] * S,
                "night shift",
                "golden case",
                kind=sil.get("kind", "silence"),
            )
        return alerts

    def instants(self, cfg: FacilityConfig) -> range:
        step = int(self.meta.get("step_s", cfg.analysis.interval_s))
        return range(int(self.meta["from_s"]), int(self.meta["to_s"]) + 1, step)


def load_cases() -> list[Case]:
    out = []
    for d in sorted(p for p in CASES.glob("*/*") if (p / "profile.yaml").exists()):
        meta = yaml.safe_load((d / "case.yaml").read_text())
        prof = validate_profile(
            yaml.safe_load((d / "profile.yaml").read_text()), str(d / "profile.yaml")
        )
        expected = json.loads((d / "expected_alerts.json").read_text())
        out.append(Case(d, meta, prof, expected))
    return out


def simple(transitions: list[AlertTransition] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Transitions (typed, or replayed as dicts) reduced to what golden files state: rule, subject,
    seconds after T0, from, to."""
    rows = [t.to_json() if isinstance(t, AlertTransition) else t for t in transitions]
    return [
        {
            "rule": t["rule_id"],
            "subject": t["subject"],
            "at": (t["at_ns"] - T0) / S,
            "from": t["from_state"],
            "to": t["to_state"],
        }
        for t in rows
    ]


def site_with_history(tmp_path: Path):
    """A small facility with two hours of telemetry and one curtailment order, for report tests.

    meter-1 (revenue meter): 60 kW, 120 kW from 30 to 50 min (licence 100 kW), 15 kW from 63 min
    during a 20 kW curtailment order (60-90 min, 300 s to respond). rig-1 (registered) runs hot (100
    °C, limit 95) from 100 to 105 min; rig-2 runs but is not registered; rig-9 is registered and
    never seen.
    """
    from minewatch.analyzer.curtailment import add_order
    from minewatch.analyzer.state import AlertStore

    (tmp_path / "registry.csv").write_text(
        "serial,model,zone,rack\nrig-1,s21,hall1,r1\nrig-9,s21,hall1,r2\n"
    )
    cfg = facility_cfg(tmp_path).model_copy(update={"registry": "registry.csv"})
    store = SqliteStore(cfg.telemetry_db)
    rows = []
    for t in range(0, 7200, 10):
        m = t / 60
        kw = 120 if 30 <= m < 50 else 15 if 63 <= m < 90 else 60
        rows.append({"ts": t, "device": "meter-1", "metric": "power_w", "value": kw * 1000})
        for ph in ("l1", "l2", "l3"):
            rows.append({"ts": t, "device": "meter-1", "metric": f"voltage_v_{ph}", "value": 230})
        rows.append({"ts": t, "device": "meter-1", "metric": "frequency_hz", "value": 50.0})
        for rig in ("rig-1", "rig-2"):
            hot = rig == "rig-1" and 100 <= m < 105
            rows.append(
                {"ts": t, "device": rig, "metric": "chip_temp_c", "value": 100 if hot else 70}
            )
            rows.append({"ts": t, "device": rig, "metric": "fan_rpm_1", "value": 5000})
            rows.append({"ts": t, "device": rig, "metric": "fan_rpm_2", "value": 5000})
    fill_store(
        store,
        rows,
        [
            {"device": "meter-1", "kind": "power_meter", "model": "meter", "role": "revenue_meter"},
            {"device": "rig-1", "kind": "asic_miner", "model": "s21", "role": "rig"},
            {"device": "rig-2", "kind": "asic_miner", "model": "s21", "role": "rig"},
        ],
    )
    alerts = AlertStore(cfg.state_db)
    alerts.clock = lambda: T0
    add_order(
        alerts,
        target_kw=20,
        starts_at_ns=T0 + 3600 * S,
        ends_at_ns=T0 + 5400 * S,
        response_s=300,
        issued_by="Ministry of Energy dispatcher",
        reason="evening peak",
    )
    profiles = device_profiles(
        {
            "s21": {
                "kind": "asic_miner",
                "limits": {
                    "chip_temp_c": {"max_above": 95, "warn_above": 85, "source": "test limit"}
                },
            }
        }
    )
    return cfg, store, alerts, profiles
