"""Loading YAML files into pydantic models, with errors that name the file, the path and the reason.

Every config format (facility, device profile, compliance profile) goes through ``load_model`` so
that a mistake reads the same everywhere: ``facility.yaml: mqtt.port: expected an integer, got
'abc'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from minewatch.errors import ConfigError

__all__ = ["ConfigError", "format_validation_error", "load_model", "read_yaml", "validate"]

M = TypeVar("M", bound=BaseModel)


def _loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def format_validation_error(source: str, err: ValidationError) -> list[str]:
    """Turn a pydantic error into one line per problem: ``source: path: message (got X)``."""
    lines = []
    for e in err.errors(include_url=False):
        msg = e["msg"]
        got = e.get("input")
        got_txt = "" if isinstance(got, (dict, list)) or got is None else f" (got {got!r})"
        lines.append(f"{source}: {_loc(tuple(e['loc']))}: {msg}{got_txt}")
    return lines


def read_yaml(path: Path) -> Any:
    """Parse a YAML file, turning I/O and syntax errors into ConfigError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{path}:{where}: invalid YAML: {problem}"]) from exc


def validate(model: type[M], data: Any, source: str, context: dict[str, Any] | None = None) -> M:
    """Validate already-parsed data; ``source`` names it in errors."""
    if data is None:
        raise ConfigError([f"{source}: file is empty, expected a mapping"])
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from exc


def load_model(model: type[M], path: Path, context: dict[str, Any] | None = None) -> M:
    """Read and validate one YAML file as ``model``."""
    return validate(model, read_yaml(path), str(path), context)
