"""Loading every profile of a folder at once, reporting every broken file rather than the first."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from minewatch.configfile import ConfigError, read_yaml, validate
from minewatch.profiles.miner_models import MODEL_TABLE_SUFFIX, expand_model_table
from minewatch.profiles.schema import DeviceProfile
from minewatch.resources import device_profiles_dir

if TYPE_CHECKING:
    from minewatch.config.facility import FacilityConfig


def load_profiles(*dirs: Path) -> dict[str, DeviceProfile]:
    """Load ``*.yaml`` from each folder (later folders override earlier ids); raise one ConfigError
    listing every problem in every file."""
    profiles: dict[str, DeviceProfile] = {}
    problems: list[str] = []
    for d in dirs or (device_profiles_dir(),):
        tables = sorted(Path(d).glob(f"*{MODEL_TABLE_SUFFIX}"))
        for path in sorted(set(Path(d).glob("*.yaml")) - set(tables)):
            try:
                data = read_yaml(path)
                if isinstance(data, dict):
                    data.setdefault("id", path.stem)
                    if data["id"] != path.stem:
                        problems.append(
                            f"{path}: id: must equal the file name stem {path.stem!r} (got "
                            f"{data['id']!r})"
                        )
                        continue
                profiles[path.stem] = validate(DeviceProfile, data, str(path))
            except ConfigError as exc:
                problems.extend(exc.problems)
        for path in tables:  # rows build on the family profiles loaded so far
            try:
                profiles.update(expand_model_table(path, profiles))
            except ConfigError as exc:
                problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return profiles


def load_facility_profiles(cfg: FacilityConfig) -> dict[str, DeviceProfile]:
    """The profiles a facility uses: shipped ones, overridden by its own ``device_profiles_dir``."""
    return load_profiles(*cfg.device_profile_dirs())
