"""Loading a compliance profile: the YAML schema of ``profile`` plus each rule's params checked
against its rule kind, every problem at once.

Kept apart from ``profile`` because the rule kinds themselves are built on the profile's models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from minewatch.analyzer.profile import ComplianceProfile, resolve_profile_path
from minewatch.analyzer.rules.kinds import KINDS
from minewatch.configfile import ConfigError, format_validation_error, read_yaml, validate
from minewatch.resources import compliance_profiles_dir


def validate_profile(data: Any, source: str) -> ComplianceProfile:
    """Validate a parsed profile including each rule's params against its kind; all problems at
    once."""
    prof = validate(ComplianceProfile, data, source)
    problems: list[str] = []
    seen: set[str] = set()
    for i, rule in enumerate(prof.rules):
        where = f"{source}: rules[{i}] ({rule.id})"
        if rule.id in seen:
            problems.append(f"{where}.id: duplicate rule id")
        seen.add(rule.id)
        kind = KINDS.get(rule.kind)
        if kind is None:
            problems.append(
                f"{where}.kind: unknown rule kind {rule.kind!r}; known: {', '.join(sorted(KINDS))}"
            )
            continue
        try:
            rule._params = kind.Params.model_validate(rule.params)
        except ValidationError as exc:
            problems.extend(
                line.replace(f"{where}.params: ", f"{where}.params.", 1)
                for line in format_validation_error(f"{where}.params", exc)
            )
            continue
        if rule.selector.facility != kind.facility_level:
            want = (
                "facility: true"
                if kind.facility_level
                else "a device selector (kind/role/zone/model)"
            )
            problems.append(f"{where}.selector: a {rule.kind} rule needs {want}")
        for msg in kind.check(rule):
            problems.append(f"{where}.{msg}")
    for j, inh in enumerate(prof.inhibit):
        if inh.source not in seen:
            problems.append(f"{source}: inhibit[{j}].source: unknown rule id {inh.source!r}")
    if problems:
        raise ConfigError(problems)
    return prof


def load_compliance_profile(ref: str, base_dir: Path | None = None) -> ComplianceProfile:
    path = resolve_profile_path(ref, base_dir)
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in compliance_profiles_dir().glob("*.yaml")))
        raise ConfigError([f"{path}: compliance profile not found (shipped profiles: {known})"])
    return validate_profile(read_yaml(path), str(path))
