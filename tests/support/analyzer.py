"""Helpers for analyzer tests: a facility config in a temp folder, a real SqliteStore filled from CSV, and
golden-case folders (``tests/cases/<rule>/<case>/``) turned into stores and profiles."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from analyzer.profile import ComplianceProfile, validate_profile
from minewatch.config.facility import FacilityConfig
from minewatch.configfile import validate
from minewatch.profiles import DeviceProfile
from minewatch.sample import DeviceMeta, Sample
from minewatch.store import SqliteStore

CASES = Path(__file__).resolve().parents[1] / "cases"
T0 = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z, the day Turkmenistan's law took effect
S = 10**9


def facility_cfg(tmp_path: Path, **extra: Any) -> FacilityConfig:
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
    cfg = validate(FacilityConfig, data, "test facility")
    return cfg.model_copy(update={"base_dir": tmp_path})


def device_profiles(specs: dict[str, dict[str, Any]]) -> dict[str, DeviceProfile]:
    out = {}
    for pid, spec in specs.items():
        spec = {"id": pid, "vendor": "test", "model": pid, "mqtt": {"fields": {"power_w": {"path": "p"}}}, **spec}
        out[pid] = DeviceProfile.model_validate(spec)
    return out


def fill_store(store: SqliteStore, rows: list[dict[str, Any]], devices: list[dict[str, Any]], t0: int = T0) -> None:
    """``rows``: dicts with ts (seconds after t0), device, metric, value (blank/NaN rows are skipped: a gap)."""
    store.upsert_devices(DeviceMeta(d["device"], d.get("kind", ""), d.get("model", ""), d.get("zone", ""),
                                    d.get("rack", ""), d.get("role", "")) for d in devices)
    samples = []
    for r in rows:
        v = r["value"]
        if v in ("", None) or (isinstance(v, float) and np.isnan(v)) or str(v).lower() == "nan":
            continue
        samples.append(Sample(t0 + int(round(float(r["ts"]) * S)), r["device"], r["metric"], float(v)))
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
        store = SqliteStore(cfg.data_dir / "telemetry.db")
        fill_store(store, self.rows(), self.meta.get("devices", []))
        return cfg, store, device_profiles(self.meta.get("device_profiles", {}))

    def instants(self, cfg: FacilityConfig) -> range:
        step = int(self.meta.get("step_s", cfg.analysis.interval_s))
        return range(int(self.meta["from_s"]), int(self.meta["to_s"]) + 1, step)


def load_cases() -> list[Case]:
    out = []
    for d in sorted(p for p in CASES.glob("*/*") if (p / "profile.yaml").exists()):
        meta = yaml.safe_load((d / "case.yaml").read_text())
        prof = validate_profile(yaml.safe_load((d / "profile.yaml").read_text()), str(d / "profile.yaml"))
        expected = json.loads((d / "expected_alerts.json").read_text())
        out.append(Case(d, meta, prof, expected))
    return out


def simple(transitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Transition payloads reduced to what golden files state: rule, subject, seconds after T0, from, to."""
    return [{"rule": t["rule_id"], "subject": t["subject"], "at": (t["at_ns"] - T0) / S,
             "from": t["from_state"], "to": t["to_state"]} for t in transitions]
