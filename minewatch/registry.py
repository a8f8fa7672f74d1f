"""The equipment registry as operators keep it: what they filed with the central bank.

CSV columns ``serial`` (as registered with the regulator), ``model`` (as the vendor writes it,
"Antminer S21", or a device profile id, ``antminer-s21``), ``zone``, ``rack``, and optionally
``device_id`` (the id the device has in telemetry — an MQTT topic level, a Modbus target name — when
it is not the serial). Entries are keyed by the telemetry id, which is what every part matches
samples against; each keeps its registered serial and the model as written."""

from __future__ import annotations

import csv
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from minewatch.errors import ConfigError

if TYPE_CHECKING:
    from minewatch.config.facility import FacilityConfig
    from minewatch.profiles import DeviceProfile

REQUIRED_COLUMNS = ("serial", "model", "zone", "rack")
OPTIONAL_COLUMNS = ("device_id",)
#: Line numbers quoted for a problem that repeats; the rest are counted.
FIRST_LINES = 3


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    serial: str
    model: str  # the device profile id the model resolved to
    zone: str
    rack: str
    device: str = ""  # id in telemetry ("" = the serial)
    model_as_filed: str = ""  # the model as the operator wrote it

    @property
    def device_id(self) -> str:
        return self.device or self.serial


def model_names(profiles: Mapping[str, DeviceProfile]) -> dict[str, str]:
    """Profile id by every name an operator may write: the id, "Vendor Model" and the model alone
    ("Bitmain Antminer S21", "Antminer S21"), case- and space-insensitive."""
    names: dict[str, str] = {}
    for pid, prof in sorted(profiles.items()):
        for name in (f"{prof.vendor} {prof.model}", prof.model, pid):
            names[_norm(name)] = pid
    return names


def _norm(name: str) -> str:
    return " ".join(name.lower().split())


def load_registry(
    path: Path,
    known_models: Collection[str] | Mapping[str, DeviceProfile] | None = None,
    strict: bool = True,
) -> dict[str, RegistryEntry]:
    """Read the registry (keyed by telemetry id). ``known_models``: profile ids, or the profiles
    themselves so vendor model names resolve too; an unknown model is a problem, or with
    ``strict=False`` kept as written (the analyzer then flags the device, it does not refuse to
    start). Every bad row is reported; a problem that repeats is reported once with its count and
    first lines."""
    if isinstance(known_models, Mapping):
        names: dict[str, str] | None = model_names(known_models)
    elif known_models is not None:
        names = {_norm(m): m for m in known_models}
    else:
        names = None
    problems: dict[str, list[int]] = {}
    entries: dict[str, RegistryEntry] = {}
    serials: set[str] = set()
    try:
        fh = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    with fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ConfigError(
                [
                    f"{path}: header: missing column(s) {', '.join(missing)}; "
                    f"expected {', '.join(REQUIRED_COLUMNS)}"
                ]
            )
        for lineno, row in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            serial = row["serial"]
            device = row.get("device_id", "") or serial
            if not serial:
                problems.setdefault("serial: must not be empty", []).append(lineno)
                continue
            if serial in serials:
                problems.setdefault(f"serial: duplicate {serial!r}", []).append(lineno)
                continue
            if device in entries:
                problems.setdefault(f"device_id: duplicate {device!r}", []).append(lineno)
                continue
            model = row["model"]
            if names is not None:
                resolved = names.get(_norm(model), None if strict else model)
                if resolved is None:
                    problems.setdefault(f"model: unknown device profile {model!r}", []).append(
                        lineno
                    )
                    continue
                model = resolved
            serials.add(serial)
            entries[device] = RegistryEntry(
                serial,
                model,
                row["zone"],
                row["rack"],
                device if device != serial else "",
                row["model"],
            )
    if problems:
        raise ConfigError([_problem(path, what, lines) for what, lines in problems.items()])
    return entries


def _problem(path: Path, what: str, lines: list[int]) -> str:
    if len(lines) == 1:
        return f"{path}: line {lines[0]}: {what}"
    shown = ", ".join(str(n) for n in lines[:FIRST_LINES])
    more = f" and {len(lines) - FIRST_LINES} more" if len(lines) > FIRST_LINES else ""
    return f"{path}: lines {shown}{more}: {what} ({len(lines)} rows)"


def facility_registry(
    cfg: FacilityConfig, known_models: Collection[str] | Mapping[str, DeviceProfile]
) -> dict[str, RegistryEntry]:
    """The facility's equipment registry by telemetry id; empty when the facility files none."""
    return load_registry(cfg.path(cfg.registry), known_models) if cfg.registry else {}
