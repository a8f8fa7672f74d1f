"""Whether a facility's collection settings fit the device profiles they name.

Kept beside the profiles (not in the command-line checks) because both ``check-config`` and the
polling collector refuse a device whose profile cannot be read the way the facility asks.
"""

from __future__ import annotations

from minewatch.config.facility import FacilityConfig
from minewatch.profiles.schema import DeviceProfile


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
