"""The demo facility's Modbus equipment, fed by the same facility model as the simulated rigs.

- revenue meter (Eastron SDM630 map): power = rigs' power + cooling overhead, three phases, V, I,
  PF, Hz and an energy counter that integrates the power;
- one metered PDU per rack (generic PDU map) and a sub-meter on the cooling plant's feeder, all
behind one
  serial gateway (one port, unit id per meter), so the sub-meters add up to the revenue meter;
- one temperature/humidity sensor per hall, the cooling controller, the fire/safety input module.

Faults (``inject``/``clear``): ``over_voltage``, ``phase_imbalance``, ``smoke_alarm``,
``coolant_pump_failure`` and ``modbus_silent`` (target = device name: that unit stops answering).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Protocol

from minewatch.config.polling import ModbusTarget
from minewatch.errors import InvalidInput
from minewatch.profiles import DeviceProfile
from minewatch.simulator.modbus_server import SimModbusServer, SimUnit

FAULTS = ("over_voltage", "phase_imbalance", "smoke_alarm", "coolant_pump_failure", "modbus_silent")


class FacilityView(Protocol):
    """What these servers read from ``minewatch.simulator.facility.SimFacility``, the interface both
    simulators share: rigs with ``serial``, ``zone``, ``rack``, ``power_w``; optionally ``halls``
    with per-hall climate."""

    rigs: Sequence[Any]

    def total_rig_power_w(self) -> float: ...

    def cooling_overhead_w(self) -> float: ...


def _zone_value(facility: Any, attr: str, zone: str, default: float) -> float:
    """Hall climate: the hall's own value when the model has halls (``SimFacility.halls``), else the
    site's."""
    hall = getattr(facility, "halls", {}).get(zone)
    return float(getattr(hall, attr) if hall is not None else getattr(facility, attr, default))


class _EnergyCounter:
    """kWh integrated from the power seen at each read (monotonic clock), as a meter's register
    does."""

    def __init__(self, start_kwh: float = 0.0) -> None:
        self.kwh = start_kwh
        self._last: float | None = None

    def add(self, power_w: float) -> float:
        now = time.monotonic()
        if self._last is not None:
            self.kwh += power_w * (now - self._last) / 3_600_000
        self._last = now
        return self.kwh


class _Measured:
    """A meter's register image, re-measured at most every ``period_s`` (real meters refresh their
    registers a few times a second): the several requests of one poll read one consistent
    measurement."""

    def __init__(self, measure: Callable[[], dict[str, float]], period_s: float = 0.2) -> None:
        self.measure = measure
        self.period_s = period_s
        self._at = -math.inf
        self._values: dict[str, float] = {}

    def __call__(self) -> dict[str, float]:
        now = time.monotonic()
        if now - self._at >= self.period_s:
            self._values, self._at = self.measure(), now
        return self._values

    def invalidate(self) -> None:
        """A fault changes what the meter measures: the next read measures again."""
        self._at = -math.inf


class FacilityModbus:
    """Builds and runs the Modbus servers; ``targets()`` is the matching polling config."""

    def __init__(
        self,
        facility: FacilityView,
        profiles: dict[str, DeviceProfile],
        port_factory: Callable[[], int],
        *,
        host: str = "127.0.0.1",
        grid_v: float = 220.0,
        grid_hz: float = 50.0,
    ) -> None:
        self.facility = facility
        self.profiles = profiles
        self.host = host
        self.grid_v, self.grid_hz = grid_v, grid_hz
        self.faults: set[tuple[str, str | None]] = set()
        #: Measurement noise of the meters, seeded from the facility model so runs repeat.
        self._noise = random.Random(f"modbus:{getattr(facility, 'seed', 1)}")
        self.servers: list[SimModbusServer] = []
        self._targets: list[ModbusTarget] = []
        self._units: dict[str, tuple[SimModbusServer, SimUnit]] = {}
        self._meters: list[_Measured] = []
        self._build(port_factory)

    # -- faults -------------------------------------------------------------------------------
    def inject(self, fault: str, target: str | None = None) -> None:
        if fault not in FAULTS:
            raise InvalidInput(f"unknown Modbus fault {fault!r}; known: {', '.join(FAULTS)}")
        self.faults.add((fault, target))
        for m in self._meters:
            m.invalidate()
        if fault == "modbus_silent":
            server, unit = self._unit(target)
            server.set_silent(unit.unit_id, True)

    def clear(self, fault: str, target: str | None = None) -> None:
        """End ``fault`` on ``target``, or wherever it is active when ``target`` is None."""
        if fault not in FAULTS:
            raise InvalidInput(f"unknown Modbus fault {fault!r}; known: {', '.join(FAULTS)}")
        ended = {(f, t) for f, t in self.faults if f == fault and (target is None or t == target)}
        self.faults -= ended
        for m in self._meters:
            m.invalidate()
        if fault == "modbus_silent":
            for _, name in ended:
                server, unit = self._unit(name)
                server.set_silent(unit.unit_id, False)

    def _unit(self, name: str | None) -> tuple[SimModbusServer, SimUnit]:
        if name not in self._units:
            raise InvalidInput(
                f"no simulated Modbus device {name!r}; known: {', '.join(sorted(self._units))}"
            )
        return self._units[name]

    def _active(self, fault: str) -> bool:
        return any(f == fault for f, _ in self.faults)

    # -- value models -------------------------------------------------------------------------
    def _three_phase(
        self, power_w: float, energy: _EnergyCounter, pf: float = 0.98
    ) -> dict[str, float]:
        """One read of a three-phase meter. The facility model moves once per publishing interval,
        but a real meter measures continuously: every read carries its own small noise (load ripple
        ~0.2 %, grid voltage ~0.3 %, frequency ~0.02 Hz), so consecutive polls never repeat a value
        exactly and a frozen-register rule (DQ-04) stays quiet unless the meter really freezes."""
        noise = self._noise
        power_w *= 1 + noise.gauss(0, 0.002)
        pf = min(1.0, pf + noise.gauss(0, 0.002))
        v = self.grid_v * (1.12 if self._active("over_voltage") else 1.0)
        shares = (1.3, 1.0, 0.7) if self._active("phase_imbalance") else (1.0, 1.0, 1.0)
        out: dict[str, float] = {
            "power_w": power_w,
            "power_factor": pf,
            "frequency_hz": self.grid_hz + noise.gauss(0, 0.02),
            "energy_kwh": energy.add(power_w),
            "apparent_power_va": power_w / pf,
            "reactive_power_var": power_w * math.tan(math.acos(pf)),
        }
        volts = [v * (1 + noise.gauss(0, 0.003)) for _ in shares]
        for i, (share, vi) in enumerate(zip(shares, volts, strict=True), start=1):
            p = power_w / 3 * share
            out[f"voltage_v_l{i}"] = vi
            out[f"power_w_l{i}"] = p
            out[f"current_a_l{i}"] = p / (vi * pf)
            out[f"power_factor_l{i}"] = pf
        for a, b in ((1, 2), (2, 3), (3, 1)):
            # line-to-line from the two phase voltages at 120 degrees
            out[f"voltage_v_l{a}_l{b}"] = math.sqrt(
                volts[a - 1] ** 2 + volts[b - 1] ** 2 + volts[a - 1] * volts[b - 1]
            )
        return out

    def _measured(self, measure: Callable[[], dict[str, float]]) -> _Measured:
        self._meters.append(_Measured(measure))
        return self._meters[-1]

    def _pdu_reading(self, rack: str, energy: _EnergyCounter) -> dict[str, float]:
        return self._three_phase(self._rack_power(rack), energy, 0.99)

    def _climate_reading(self, zone: str) -> dict[str, float]:
        return {
            "ambient_temp_c": _zone_value(self.facility, "ambient_temp_c", zone, 25.0),
            "humidity_pct": _zone_value(self.facility, "humidity_pct", zone, 40.0),
        }

    def _rack_power(self, rack: str) -> float:
        # every rig in the rack draws power, including one whose network link is down ("silent")
        return sum(float(r.power_w) for r in self.facility.rigs if r.rack == rack)

    def _cooling(self) -> dict[str, float]:
        load = self.facility.total_rig_power_w()
        failed = self._active("coolant_pump_failure")
        coolant_in = 30.0 + min(load / 1e6, 1.0) * 5
        return {
            "coolant_in_temp_c": coolant_in,
            "coolant_out_temp_c": coolant_in + (22.0 if failed else 10.0),
            "coolant_pressure_kpa": 60.0 if failed else 220.0,
            "coolant_return_pressure_kpa": 50.0 if failed else 150.0,
            "coolant_flow_lpm": 0.0 if failed else 400.0,
            "pump_speed_pct": 0.0 if failed else 75.0,
            "pump_state": 0.0 if failed else 1.0,
            "pump_fault_bool": 1.0 if failed else 0.0,
            "leak_bool": 0.0,
            "water_ingress_bool": 0.0,
            "dry_cooler_fault_bool": 0.0,
        }

    def _fire(self) -> dict[str, float]:
        smoke = 1.0 if self._active("smoke_alarm") else 0.0
        return {
            "smoke_bool": smoke,
            "fire_alarm_bool": 0.0,
            "fire_fault_bool": 0.0,
            "suppression_disabled_bool": 0.0,
            "epo_bool": 0.0,
        }

    # -- layout -------------------------------------------------------------------------------
    def _add(
        self,
        server: SimModbusServer,
        unit: SimUnit,
        role: str,
        zone: str = "",
        rack: str = "",
        transport: str = "tcp",
    ) -> None:
        self._units[unit.name] = (server, unit)
        self._targets.append(
            ModbusTarget(
                name=unit.name,
                profile=unit.profile.id,
                role=role,
                zone=zone,
                rack=rack,
                transport=transport,
                host=server.host,
                port=server.port,
                unit_id=unit.unit_id,
                interval_s=1.0,
                timeout_s=1.0,
            )
        )

    def _build(self, port: Callable[[], int]) -> None:
        p = self.profiles
        # the SDM630 keeps kWh in a float32: at 1.25 GWh its resolution is 0.125 kWh and a 1 s poll
        # would often read the same total; a counter in the tens of MWh resolves ~4 Wh
        meter_energy = _EnergyCounter(48_000.0)
        meter = SimUnit(
            "revenue-meter",
            p["eastron-sdm630"],
            1,
            self._measured(
                lambda: self._three_phase(
                    self.facility.total_rig_power_w() + self.facility.cooling_overhead_w(),
                    meter_energy,
                )
            ),
        )
        # the revenue meter is an RS-485 meter behind an RTU-over-TCP gateway, as on most sites
        meter_server = SimModbusServer([meter], port(), self.host, framer="rtu")
        self.servers.append(meter_server)
        self._add(meter_server, meter, "revenue_meter", transport="rtu_over_tcp")

        racks = sorted({(r.zone, r.rack) for r in self.facility.rigs})
        pdu_units = []
        for i, (zone, rack) in enumerate(racks, start=1):
            energy = _EnergyCounter()
            pdu_units.append(
                (
                    SimUnit(
                        f"pdu-{rack}",
                        p["generic-rack-pdu"],
                        i,
                        self._measured(partial(self._pdu_reading, rack, energy)),
                    ),
                    zone,
                    rack,
                )
            )
        if pdu_units:
            # the cooling plant's feeder has its own sub-meter: the sub-meters add up to the revenue
            # meter, so the unmetered-load rule (EN-04) sees no gap on a healthy site
            cooling_energy = _EnergyCounter()
            pdu_units.append(
                (
                    SimUnit(
                        "pdu-cooling",
                        p["generic-rack-pdu"],
                        len(pdu_units) + 1,
                        self._measured(
                            lambda: self._three_phase(
                                self.facility.cooling_overhead_w(), cooling_energy, 0.95
                            )
                        ),
                    ),
                    "",
                    "cooling",
                )
            )
            gateway = SimModbusServer([u for u, _, _ in pdu_units], port(), self.host)
            self.servers.append(gateway)
            for unit, zone, rack in pdu_units:
                role = "cooling_feed" if unit.name == "pdu-cooling" else "rack_pdu"
                self._add(gateway, unit, role, zone, rack)

        for zone in sorted({r.zone for r in self.facility.rigs}):
            sensor = SimUnit(
                f"env-{zone}-modbus",
                p["generic-th-sensor"],
                1,
                partial(self._climate_reading, zone),
            )
            server = SimModbusServer([sensor], port(), self.host)
            self.servers.append(server)
            self._add(server, sensor, "hall_sensor", zone)

        for name, profile, role, values in (
            ("cooling-cdu", "generic-cooling-cdu", "cooling", self._cooling),
            ("fire-panel", "generic-fire-di-module", "fire_panel", self._fire),
        ):
            unit = SimUnit(name, p[profile], 1, values)
            server = SimModbusServer([unit], port(), self.host)
            self.servers.append(server)
            self._add(server, unit, role)

    def targets(self) -> list[ModbusTarget]:
        return list(self._targets)

    def requests(self) -> list:
        """Recent requests of every server (see ``function_codes()`` for all-time counts)."""
        return [r for s in self.servers for r in s.requests]

    def function_codes(self) -> dict[int, int]:
        """Requests received per function code since start, all servers."""
        total: dict[int, int] = {}
        for s in self.servers:
            for fc, n in s.function_codes.items():
                total[fc] = total.get(fc, 0) + n
        return total

    async def start(self) -> None:
        for s in self.servers:
            await s.start()

    async def stop(self) -> None:
        for s in self.servers:
            await s.stop()
