"""A deterministic model of a mining facility: rigs, halls and the faults the monitor must catch.

Given the same seed and the same sequence of ``step(now_s)`` calls, every value is the same:
noise comes from a generator seeded by (seed, step time), and each rig's individual spread from
(seed, serial). Temperatures follow first-order lags towards targets set by ambient air or
coolant and by load, so an injected overheat takes tens of seconds to climb, like a real one.

The MQTT publisher, and the Modbus and miner-API simulators, all read this one object so that the
demo is coherent: the meter sees what the rigs draw.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from minewatch.errors import InvalidInput
from minewatch.profiles import DeviceKind, DeviceProfile
from minewatch.registry import RegistryEntry

#: Faults a run can inject. Rig faults take a serial (or pick the first rig); the others do not.
FAULTS = ("overheat", "fan_fail", "silent", "unregistered", "overload")
RIG_FAULTS = ("overheat", "fan_fail", "silent")
#: Vendor-style error codes the simulated agent reports (Whatsminer families: 1xx fan, 36x board
#: temp).
ERROR_CODE = {"fan_fail": 110, "overheat": 361}
#: Overload drives facility load to this share of the licensed capacity.
OVERLOAD_SHARE = 1.12

# Thermal time constants (s): chips react fast, boards and coolant slower.
TAU_CHIP_S, TAU_BOARD_S, TAU_AIR_S = 20.0, 60.0, 30.0
FAN_MIN_RPM, FAN_MAX_RPM = 3000.0, 6800.0


@dataclass
class SimRig:
    serial: str
    profile_id: str
    zone: str
    rack: str
    cooling: str  # "air" | "hydro"
    rated_power_w: float
    rated_hashrate_ths: float
    n_fans: int
    chip_limit_c: float
    registered: bool = True
    #: Individual spread of this unit (power and hashrate bins differ by a few %).
    power_factor: float = 1.0
    hash_factor: float = 1.0
    online: bool = True  # publishing; a silent rig keeps drawing power (its link died, not its PSU)
    status: str = "mining"
    error_code: int = 0
    power_w: float = 0.0
    hashrate_ths: float = 0.0
    chip_temp_c: float = 0.0
    board_temp_c: float = 0.0
    inlet_temp_c: float = 0.0
    outlet_temp_c: float = 0.0
    coolant_in_temp_c: float = 0.0
    coolant_out_temp_c: float = 0.0
    fan_rpm: list[float] = field(default_factory=list)
    faults: set[str] = field(default_factory=set)


@dataclass
class SimHall:
    zone: str
    sensor_id: str
    base_temp_c: float
    ambient_temp_c: float = 0.0
    humidity_pct: float = 0.0
    coolant_supply_c: float = 0.0


def _rig_from(
    entry: RegistryEntry, profile: DeviceProfile, seed: int, registered: bool = True
) -> SimRig:
    mapping = profile.mqtt.fields if profile.mqtt else {}
    limit = profile.limits.get("chip_temp_c")
    chip_limit = (limit.max_above or limit.warn_above) if limit else None
    spread = random.Random(f"{seed}:{entry.serial}")
    return SimRig(
        serial=entry.serial,
        profile_id=profile.id,
        zone=entry.zone,
        rack=entry.rack,
        cooling="hydro" if "coolant_in_temp_c" in mapping else "air",
        rated_power_w=profile.rated["power_w"].value,
        rated_hashrate_ths=profile.rated["hashrate_ths"].value,
        n_fans=sum(1 for m in mapping if m.startswith("fan_rpm")),
        chip_limit_c=chip_limit or 95.0,
        registered=registered,
        power_factor=spread.uniform(0.98, 1.02),
        hash_factor=spread.uniform(0.97, 1.02),
    )


def _lag(value: float, target: float, dt: float, tau: float) -> float:
    return target + (value - target) * math.exp(-dt / tau)


class SimFacility:
    """Rigs and halls; ``step(now_s)`` advances them; ``inject``/``clear`` change faults at run
    time."""

    def __init__(
        self,
        rigs: Iterable[RegistryEntry],
        profiles: dict[str, DeviceProfile],
        *,
        seed: int = 1,
        licensed_kw: float | None = None,
        timezone_name: str = "Asia/Ashgabat",
        hall_sensors: dict[str, str] | None = None,
    ) -> None:
        self.seed = seed
        self.profiles = profiles
        self.licensed_kw = licensed_kw
        self.tz = ZoneInfo(timezone_name)
        self.rigs: list[SimRig] = [_rig_from(e, profiles[e.model], seed) for e in rigs]
        self._by_serial = {r.serial: r for r in self.rigs}
        zones = sorted({r.zone for r in self.rigs if r.zone})
        sensors = hall_sensors or {}
        self.halls: dict[str, SimHall] = {
            z: SimHall(z, sensors.get(z, f"env-{z}"), base_temp_c=27.0 - 1.0 * i)
            for i, z in enumerate(zones)
        }
        self.overload_factor = 1.0
        self.now_s: float | None = None
        self._lock = threading.RLock()
        self._unregistered = 0

    # -- queries ---------------------------------------------------------------------------------
    @property
    def ambient_temp_c(self) -> float:
        return sum(h.ambient_temp_c for h in self.halls.values()) / max(1, len(self.halls))

    @property
    def humidity_pct(self) -> float:
        return sum(h.humidity_pct for h in self.halls.values()) / max(1, len(self.halls))

    def rig(self, serial: str) -> SimRig:
        try:
            return self._by_serial[serial]
        except KeyError:
            raise KeyError(f"no simulated rig {serial!r}") from None

    def total_rig_power_w(self) -> float:
        return sum(r.power_w for r in self.rigs)

    def cooling_overhead_w(self) -> float:
        """Hall ventilation for air-cooled rigs (~3 %), pumps and dry coolers for hydro (~6 %),
        more when hot."""
        total = 0.0
        for r in self.rigs:
            hall = self.halls.get(r.zone)
            heat = 1.0 + 0.02 * max(0.0, (hall.ambient_temp_c if hall else 27.0) - 25.0)
            total += r.power_w * (0.06 if r.cooling == "hydro" else 0.03) * heat
        return total

    def facility_power_w(self) -> float:
        """What the revenue meter sees: rigs plus cooling."""
        return self.total_rig_power_w() + self.cooling_overhead_w()

    def active_faults(self) -> list[dict[str, str | None]]:
        with self._lock:
            out: list[dict[str, str | None]] = [
                {"fault": f, "target": r.serial} for r in self.rigs for f in sorted(r.faults)
            ]
            out += [
                {"fault": "unregistered", "target": r.serial} for r in self.rigs if not r.registered
            ]
            if self.overload_factor != 1.0:
                out.append({"fault": "overload", "target": None})
            return out

    # -- faults ----------------------------------------------------------------------------------
    def inject(self, fault: str, target: str | None = None) -> str | None:
        """Start a fault; returns the rig it applies to (None for facility-wide faults)."""
        with self._lock:
            if fault in RIG_FAULTS:
                rig = self.rig(target) if target else self.rigs[0]
                if fault == "fan_fail" and rig.n_fans == 0:
                    raise InvalidInput(f"rig {rig.serial} ({rig.profile_id}) has no fans to fail")
                rig.faults.add(fault)
                rig.online = "silent" not in rig.faults
                return rig.serial
            if fault == "unregistered":
                self._unregistered += 1
                serial = target or f"UNREG-{self._unregistered:04d}"
                if serial in self._by_serial:
                    raise InvalidInput(f"rig {serial!r} already exists")
                template = self.rigs[0]
                entry = RegistryEntry(serial, template.profile_id, template.zone, "")
                rig = _rig_from(
                    entry, self.profiles[template.profile_id], self.seed, registered=False
                )
                self.rigs.append(rig)
                self._by_serial[serial] = rig
                if self.now_s is not None:
                    self._step_rig(
                        rig, self.now_s, None, random.Random(f"{self.seed}:{serial}:{self.now_s}")
                    )
                return serial
            if fault == "overload":
                normal = (
                    self.facility_power_w() / self.overload_factor
                    if self.now_s is not None
                    else None
                )
                if self.licensed_kw and normal:
                    self.overload_factor = min(
                        1.6, max(1.05, OVERLOAD_SHARE * self.licensed_kw * 1000 / normal)
                    )
                else:
                    self.overload_factor = 1.25
                return None
            raise InvalidInput(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")

    def clear(self, fault: str, target: str | None = None) -> None:
        """End a fault (on ``target``, or everywhere when None)."""
        with self._lock:
            if fault in RIG_FAULTS:
                for rig in [self.rig(target)] if target else self.rigs:
                    rig.faults.discard(fault)
                    rig.online = "silent" not in rig.faults
            elif fault == "unregistered":
                gone = [
                    r
                    for r in self.rigs
                    if not r.registered and (target is None or r.serial == target)
                ]
                for r in gone:
                    self.rigs.remove(r)
                    del self._by_serial[r.serial]
            elif fault == "overload":
                self.overload_factor = 1.0
            else:
                raise InvalidInput(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")

    # -- time ------------------------------------------------------------------------------------
    def step(self, now_s: float) -> None:
        """Advance to ``now_s`` (epoch seconds). The first step starts every value at
        equilibrium."""
        with self._lock:
            dt = None if self.now_s is None else max(0.0, now_s - self.now_s)
            rng = random.Random(f"{self.seed}:{round(now_s * 1000)}")
            local = datetime.fromtimestamp(now_s, UTC).astimezone(self.tz)
            hour = local.hour + local.minute / 60 + local.second / 3600
            daily = math.cos(2 * math.pi * (hour - 15.0) / 24.0)  # warmest mid-afternoon
            for hall in self.halls.values():
                hall.ambient_temp_c = hall.base_temp_c + 5.0 * daily + rng.gauss(0, 0.15)
                hall.humidity_pct = min(95.0, max(5.0, 38.0 - 10.0 * daily + rng.gauss(0, 0.5)))
                hall.coolant_supply_c = (
                    30.0 + 0.4 * (hall.ambient_temp_c - hall.base_temp_c) + rng.gauss(0, 0.1)
                )
            for rig in self.rigs:
                self._step_rig(rig, now_s, dt, rng)
            self.now_s = now_s

    def _step_rig(self, rig: SimRig, now_s: float, dt: float | None, rng: random.Random) -> None:
        hall = self.halls.get(rig.zone) or next(iter(self.halls.values()), None)
        ambient = hall.ambient_temp_c if hall else 27.0
        rack_offset = (sum(map(ord, rig.rack)) % 5) * 0.4  # hot-aisle recirculation differs by rack
        load = self.overload_factor
        power = (
            rig.rated_power_w
            * rig.power_factor
            * load
            * (1 + 0.003 * (ambient - 25))
            * (1 + rng.gauss(0, 0.004))
        )
        rel = power / rig.rated_power_w

        if rig.cooling == "hydro":
            coolant_in = (hall.coolant_supply_c if hall else 30.0) + rng.gauss(0, 0.1)
            chip_t, board_t = coolant_in + 33.0 * rel, coolant_in + 24.0 * rel
            coolant_out_t = coolant_in + 9.0 * rel
            inlet_t = outlet_t = 0.0
        else:
            inlet_t = ambient + rack_offset + rng.gauss(0, 0.1)
            chip_t, board_t, outlet_t = (
                inlet_t + 40.0 * rel,
                inlet_t + 30.0 * rel,
                inlet_t + 18.0 * rel,
            )
            coolant_in = coolant_out_t = 0.0
        if "fan_fail" in rig.faults:
            chip_t, board_t, outlet_t = chip_t + 12.0, board_t + 8.0, outlet_t + 6.0
        if "overheat" in rig.faults:
            chip_t, board_t = rig.chip_limit_c + 15.0, board_t + 15.0

        if dt is None:  # first step: at equilibrium
            rig.chip_temp_c, rig.board_temp_c, rig.outlet_temp_c = chip_t, board_t, outlet_t
            rig.coolant_out_temp_c = coolant_out_t
        else:
            rig.chip_temp_c = _lag(rig.chip_temp_c, chip_t, dt, TAU_CHIP_S)
            rig.board_temp_c = _lag(rig.board_temp_c, board_t, dt, TAU_BOARD_S)
            rig.outlet_temp_c = _lag(rig.outlet_temp_c, outlet_t, dt, TAU_AIR_S)
            rig.coolant_out_temp_c = _lag(rig.coolant_out_temp_c, coolant_out_t, dt, TAU_AIR_S)
        rig.chip_temp_c += rng.gauss(0, 0.2)
        rig.inlet_temp_c, rig.coolant_in_temp_c = inlet_t, coolant_in

        throttled = (
            rig.chip_temp_c > rig.chip_limit_c
        )  # firmware protects the chips by down-clocking
        rig.hashrate_ths = (
            rig.rated_hashrate_ths
            * rig.hash_factor
            * load**0.85
            * (0.7 if throttled else 1.0)
            * (1 + rng.gauss(0, 0.008))
        )
        rig.power_w = power * (0.8 if throttled else 1.0)

        fan = min(FAN_MAX_RPM, max(FAN_MIN_RPM, 4000.0 + 60.0 * (rig.chip_temp_c - 60.0)))
        rig.fan_rpm = [fan + rng.gauss(0, 25) for _ in range(rig.n_fans)]
        if "fan_fail" in rig.faults:
            rig.fan_rpm = [0.0] + [FAN_MAX_RPM + rng.gauss(0, 25) for _ in range(rig.n_fans - 1)]
        rig.error_code = next(
            (ERROR_CODE[f] for f in ("overheat", "fan_fail") if f in rig.faults), 0
        )
        rig.status = "mining"


def asic_entries(
    registry: dict[str, RegistryEntry], profiles: dict[str, DeviceProfile]
) -> list[RegistryEntry]:
    """Registry rows that are rigs (ASIC miner profiles), in file order."""
    return [
        e
        for e in registry.values()
        if e.model in profiles and profiles[e.model].kind == DeviceKind.asic_miner
    ]


def hall_sensor_ids(
    registry: dict[str, RegistryEntry], profiles: dict[str, DeviceProfile]
) -> dict[str, str]:
    """Zone → id of the registry's environment sensor in it."""
    return {
        e.zone: e.serial
        for e in registry.values()
        if e.model in profiles and profiles[e.model].kind == DeviceKind.env_sensor and e.zone
    }
