"""The equipment registry: what the operator filed with the central bank (CSV: serial, model, zone,
rack)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from minewatch.errors import ConfigError

if TYPE_CHECKING:
    from minewatch.config.facility import FacilityConfig

REQUIRED_COLUMNS = ("serial", "model", "zone", "rack")


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    serial: str
    model: str
    zone: str
    rack: str


def load_registry(path: Path, known_models: set[str] | None = None) -> dict[str, RegistryEntry]:
    """Read the registry, reporting every bad row (missing column, duplicate serial, unknown
    model)."""
    problems: list[str] = []
    entries: dict[str, RegistryEntry] = {}
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
            if not serial:
                problems.append(f"{path}: line {lineno}: serial: must not be empty")
                continue
            if serial in entries:
                problems.append(f"{path}: line {lineno}: serial: duplicate {serial!r}")
                continue
            if known_models is not None and row["model"] not in known_models:
                problems.append(
                    f"{path}: line {lineno}: model: unknown device profile {row['model']!r}"
                )
                continue
            entries[serial] = RegistryEntry(serial, row["model"], row["zone"], row["rack"])
    if problems:
        raise ConfigError(problems)
    return entries


def facility_registry(cfg: FacilityConfig, known_models: set[str]) -> dict[str, RegistryEntry]:
    """The facility's equipment registry by serial; empty when the facility files none."""
    return load_registry(cfg.path(cfg.registry), known_models) if cfg.registry else {}
