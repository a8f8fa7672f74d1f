"""Loading every profile of a folder at once, reporting every broken file rather than the first."""

from __future__ import annotations

from pathlib import Path

from minewatch.configfile import ConfigError, read_yaml, validate
from minewatch.profiles.schema import DeviceProfile


def default_profiles_dir() -> Path:
    """device_profiles/ at the top of the source tree (shipped profiles)."""
    return Path(__file__).resolve().parents[2] / "device_profiles"


def load_profiles(*dirs: Path) -> dict[str, DeviceProfile]:
    """Load ``*.yaml`` from each folder (later folders override earlier ids); raise one ConfigError
    listing every problem in every file."""
    profiles: dict[str, DeviceProfile] = {}
    problems: list[str] = []
    for d in dirs or (default_profiles_dir(),):
        for path in sorted(Path(d).glob("*.yaml")):
            try:
                data = read_yaml(path)
                if isinstance(data, dict):
                    data.setdefault("id", path.stem)
                    if data["id"] != path.stem:
                        problems.append(f"{path}: id: must equal the file name stem {path.stem!r} (got {data['id']!r})")
                        continue
                profiles[path.stem] = validate(DeviceProfile, data, str(path))
            except ConfigError as exc:
                problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return profiles
