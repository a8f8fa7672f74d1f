"""Rule kinds, one module each, registered by name. Adding a kind = adding one module here."""

from __future__ import annotations

import importlib
import pkgutil

from minewatch.analyzer.rules.base import RuleKind

KINDS: dict[str, RuleKind] = {}


def register(cls: type[RuleKind]) -> type[RuleKind]:
    if cls.name in KINDS:
        raise RuntimeError(f"rule kind {cls.name!r} registered twice")
    KINDS[cls.name] = cls()
    return cls


for _m in pkgutil.iter_modules(__path__):
    if _m.name != "base":
        importlib.import_module(f"{__name__}.{_m.name}")
