"""Whole-configuration checks: the facility file and all it points at, every problem at once.

A broken facility.yaml does not stop the check: the registry, the extra device profiles and the
compliance profile it names are still read (from the raw YAML, where their keys are usable), so one
run lists every mistake instead of revealing the next file's only once the first is fixed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from minewatch.analyzer.profile_loader import load_compliance_profile
from minewatch.collector.broker_probe import probe_broker
from minewatch.config import FacilityConfig, load_facility
from minewatch.config.facility import AnalysisSettings
from minewatch.configfile import read_yaml
from minewatch.errors import ConfigError
from minewatch.profiles import DeviceProfile, load_facility_profiles, load_profiles
from minewatch.profiles.fit import mqtt_problems, polling_problems
from minewatch.registry import load_registry
from minewatch.resources import device_profiles_dir


class _References:
    """What facility.yaml points at, read from the validated config or, when that failed, from the
    raw YAML (a reference of the wrong type is already reported by the facility's own check)."""

    def __init__(self, path: Path, cfg: FacilityConfig | None) -> None:
        if cfg is not None:
            self.base_dir = cfg.base_dir
            self.registry = cfg.path(cfg.registry) if cfg.registry else None
            self.profile_dirs = cfg.device_profile_dirs()
            self.compliance: str | None = cfg.analysis.compliance_profile
            return
        raw = read_yaml(path)
        raw = raw if isinstance(raw, dict) else {}
        self.base_dir = path.resolve().parent
        self.registry = self._path(raw.get("registry"))
        own = self._path(raw.get("device_profiles_dir"))
        self.profile_dirs = [device_profiles_dir(), *([own] if own else [])]
        analysis = raw.get("analysis")
        ref = (analysis if isinstance(analysis, dict) else {}).get(
            "compliance_profile", AnalysisSettings.model_fields["compliance_profile"].default
        )
        self.compliance = ref if isinstance(ref, str) else None

    def _path(self, value: Any) -> Path | None:
        if not isinstance(value, str) or not value:
            return None
        q = Path(os.path.expanduser(value))
        return q if q.is_absolute() else self.base_dir / q


def check_facility(path: Path) -> list[str]:
    """Every problem found in ``path`` and the files it references; empty when all is well."""
    problems: list[str] = []
    try:
        cfg: FacilityConfig | None = load_facility(path)
    except ConfigError as exc:
        problems.extend(exc.problems)
        cfg = None
        try:
            read_yaml(path)
        except ConfigError:  # unreadable or not YAML: nothing else can be found
            return problems
    refs = _References(path, cfg)
    profiles: dict[str, DeviceProfile] = {}
    try:
        profiles = load_facility_profiles(cfg) if cfg else load_profiles(*refs.profile_dirs)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if profiles and cfg is not None:
        problems.extend(
            f"{path}: {p}" for p in mqtt_problems(cfg, profiles) + polling_problems(cfg, profiles)
        )
    if refs.registry is not None:
        try:
            load_registry(refs.registry, profiles or None)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if refs.compliance is not None:
        try:
            load_compliance_profile(refs.compliance, refs.base_dir)
        except ConfigError as exc:
            problems.extend(exc.problems)
    return problems


def check_broker(path: Path) -> list[str]:
    """What the broker of a valid facility file would do with the collector's data (see
    ``minewatch.collector.broker_probe``); empty when it keeps sessions and queues messages."""
    return [f"{path}: mqtt broker: {w}" for w in probe_broker(load_facility(path))]


def json_schemas() -> dict[str, dict[str, Any]]:
    return {
        "facility": FacilityConfig.model_json_schema(),
        "device-profile": DeviceProfile.model_json_schema(),
    }
