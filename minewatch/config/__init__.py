"""facility.yaml: loading and validation. See ``FacilityConfig`` for the format."""

from __future__ import annotations

from pathlib import Path

from minewatch.config.facility import FacilityConfig
from minewatch.configfile import ConfigError, read_yaml, validate

__all__ = ["ConfigError", "FacilityConfig", "load_facility"]


def load_facility(path: Path) -> FacilityConfig:
    """Load and validate a facility file; relative paths in it resolve against its folder."""
    data = read_yaml(path)
    if isinstance(data, dict):
        data.pop("base_dir", None)
    cfg = validate(FacilityConfig, data, str(path))
    return cfg.model_copy(update={"base_dir": path.resolve().parent})
