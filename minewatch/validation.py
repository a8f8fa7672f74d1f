"""Whole-configuration checks: the facility file plus everything it points at, all problems at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minewatch.config import FacilityConfig, load_facility
from minewatch.configfile import ConfigError
from minewatch.profiles import DeviceProfile, load_facility_profiles
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
            load_registry(cfg.path(cfg.registry), set(profiles) if profiles else None)
        except ConfigError as exc:
            problems.extend(exc.problems)
    try:
        from minewatch.analyzer.profile import load_compliance_profile
    except ModuleNotFoundError:
        return problems
    try:
        load_compliance_profile(cfg.analysis.compliance_profile, cfg.base_dir)
    except ConfigError as exc:
        problems.extend(exc.problems)
    return problems


def mqtt_problems(cfg: FacilityConfig, profiles: dict[str, DeviceProfile]) -> list[str]:
    """Every device group whose profile is unknown or has no ``mqtt:`` mapping to decode its
    payloads."""
    problems = []
    for i, group in enumerate(cfg.device_groups):
        p = profiles.get(group.profile) if group.profile else None
        if group.profile and (p is None or p.mqtt is None):
            why = (
                f"unknown device profile {group.profile!r}; known: {', '.join(sorted(profiles))}"
                if p is None
                else f"device profile {group.profile!r} has no mqtt: section"
            )
            problems.append(f"device_groups[{i}].profile: {why} (group {group.name!r})")
    return problems


def polling_problems(cfg: FacilityConfig, profiles: dict[str, DeviceProfile]) -> list[str]:
    """Every polled device whose profile is unknown or cannot be read that way (for check-config
    too)."""
    problems = []
    for i, t in enumerate(cfg.polling.modbus):
        p = profiles.get(t.profile)
        if p is None or p.modbus is None:
            why = "unknown device profile" if p is None else "device profile has no modbus: section"
            problems.append(f"polling.modbus[{i}].profile: {why} {t.profile!r} (device {t.name!r})")
    for i, m in enumerate(cfg.polling.miners):
        p = profiles.get(m.profile) if m.profile else None
        if m.profile and (p is None or p.miner_api is None):
            why = (
                "unknown device profile"
                if p is None
                else "device profile has no miner_api: section"
            )
            problems.append(f"polling.miners[{i}].profile: {why} {m.profile!r} (miner {m.host})")
    return problems


def json_schemas() -> dict[str, dict[str, Any]]:
    return {
        "facility": FacilityConfig.model_json_schema(),
        "device-profile": DeviceProfile.model_json_schema(),
    }
