"""What every collector needs from a facility file besides the file itself: profiles and registry."""

from __future__ import annotations

from minewatch.config.facility import FacilityConfig
from minewatch.profiles import DeviceProfile, load_facility_profiles
from minewatch.registry import RegistryEntry, load_registry


def facility_profiles(cfg: FacilityConfig) -> dict[str, DeviceProfile]:
    """Shipped profiles, overridden by the facility's own ``device_profiles_dir``."""
    return load_facility_profiles(cfg)


def facility_registry(
    cfg: FacilityConfig, profiles: dict[str, DeviceProfile]
) -> dict[str, RegistryEntry]:
    """The equipment registry by serial (empty when the facility has none)."""
    return load_registry(cfg.path(cfg.registry), set(profiles)) if cfg.registry else {}
