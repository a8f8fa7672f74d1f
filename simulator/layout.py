"""The demo facility's floor plan: which rig model sits in which hall and rack, with its serial.

Rig ``i`` depends only on ``i``, so the first N rigs of a 200-rig layout are the N-rig layout: a
simulator started with ``--rigs 50`` publishes serials that the 200-rig demo registry knows.
"""

from __future__ import annotations

from minewatch.registry import RegistryEntry

RIGS_PER_RACK = 10
#: Per hall, the model of each group of 5 racks (3 of the first model, 2 of the second).
HALL_MODELS = {
    "hall1": ("antminer-s21", "antminer-s21", "antminer-s21", "whatsminer-m60", "whatsminer-m60"),
    "hall2": (
        "antminer-s21-hydro",
        "antminer-s21-hydro",
        "antminer-s21-hydro",
        "antminer-s19-xp",
        "antminer-s19-xp",
    ),
}
HALL_RACK_PREFIX = {"hall1": "A", "hall2": "B"}
SERIAL_PREFIX = {
    "antminer-s21": "BMS21",
    "whatsminer-m60": "WM60",
    "antminer-s21-hydro": "BMS21H",
    "antminer-s19-xp": "BMS19XP",
}
#: Hall sensors: one per hall, device id = ``env-<zone>``.
HALL_SENSOR_PROFILE = "hall-sensor-mqtt"


def rig_layout(n_rigs: int) -> list[RegistryEntry]:
    """Racks alternate between the two halls; each rack holds one model."""
    halls = list(HALL_MODELS)
    rows = []
    for i in range(n_rigs):
        rack_no = i // RIGS_PER_RACK
        zone = halls[rack_no % len(halls)]
        rack_in_hall = rack_no // len(halls)
        model = HALL_MODELS[zone][rack_in_hall % len(HALL_MODELS[zone])]
        rows.append(
            RegistryEntry(
                serial=f"{SERIAL_PREFIX[model]}-{i + 1:06d}",
                model=model,
                zone=zone,
                rack=f"{HALL_RACK_PREFIX[zone]}{rack_in_hall + 1:02d}",
            )
        )
    return rows


def hall_sensors() -> list[RegistryEntry]:
    return [RegistryEntry(f"env-{zone}", HALL_SENSOR_PROFILE, zone, "") for zone in HALL_MODELS]


def registry_csv(n_rigs: int) -> str:
    """The registry file (serial,model,zone,rack) for a layout of ``n_rigs`` plus the hall
    sensors."""
    lines = ["serial,model,zone,rack"]
    lines += [
        f"{e.serial},{e.model},{e.zone},{e.rack}" for e in [*rig_layout(n_rigs), *hall_sensors()]
    ]
    return "\n".join(lines) + "\n"
