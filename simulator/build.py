"""Building the simulated facility from a facility file (the demo's, or any other)."""

from __future__ import annotations

from minewatch.config.facility import FacilityConfig
from minewatch.errors import InvalidInput
from minewatch.profiles import load_facility_profiles
from minewatch.registry import facility_registry
from minewatch.simulator.facility import SimFacility, asic_entries, hall_sensor_ids
from minewatch.simulator.layout import rig_layout


def build_facility(cfg: FacilityConfig, n_rigs: int | None = None, seed: int = 1) -> SimFacility:
    """The registry's rigs; with ``n_rigs``, the demo layout's first ``n_rigs`` instead (a load
    test with more rigs than registered then also exercises the unregistered-rig path)."""
    profiles = load_facility_profiles(cfg)
    registry = facility_registry(cfg, set(profiles))
    rigs = rig_layout(n_rigs) if n_rigs is not None else asic_entries(registry, profiles)
    if not rigs:
        raise InvalidInput(
            "no rigs to simulate: the registry lists no ASIC miners and --rigs was not given"
        )
    return SimFacility(
        rigs,
        profiles,
        seed=seed,
        licensed_kw=cfg.licence.capacity_kw,
        timezone_name=cfg.timezone,
        hall_sensors=hall_sensor_ids(registry, profiles),
    )


def parse_fault(spec: str) -> tuple[str, str | None]:
    """``overheat:BMS21-000001`` → ("overheat", "BMS21-000001"); ``overload`` → ("overload",
    None)."""
    fault, _, target = spec.partition(":")
    return fault.strip(), (target.strip() or None)
