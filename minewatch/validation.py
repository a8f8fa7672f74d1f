"""Whole-configuration checks: the facility file and all it points at, every problem at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minewatch.analyzer.profile_loader import load_compliance_profile
from minewatch.config import FacilityConfig, load_facility
from minewatch.errors import ConfigError
from minewatch.profiles import DeviceProfile, load_facility_profiles
from minewatch.profiles.fit import mqtt_problems, polling_problems
from minewatch.registry import load_registry


def check_facility(path: Path) -> list[str]:
    """Every problem found in ``path`` and the files it references; empty when all is well."""
    try:
        cfg = load_facility(path)
    except ConfigError as exc:
        return exc.problems
    problems: list[str] = []
    try:
        profiles = load_facility_profiles(cfg)
    except ConfigError as exc:
        problems.extend(exc.problems)
        profiles = {}
    if profiles:
        problems.extend(
            f"{path}: {p}" for p in mqtt_problems(cfg, profiles) + polling_problems(cfg, profiles)
        )
    if cfg.registry:
        try:
            load_registry(cfg.path(cfg.registry), profiles or None)
        except ConfigError as exc:
            problems.extend(exc.problems)
    try:
        load_compliance_profile(cfg.analysis.compliance_profile, cfg.base_dir)
    except ConfigError as exc:
        problems.extend(exc.problems)
    return problems


def json_schemas() -> dict[str, dict[str, Any]]:
    return {
        "facility": FacilityConfig.model_json_schema(),
        "device-profile": DeviceProfile.model_json_schema(),
    }
