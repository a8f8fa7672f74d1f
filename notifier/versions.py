"""What configuration is in force: hashes of the validated facility config and of every file the
facility's behaviour depends on (compliance profile, device profiles, equipment registry), so the
ledger shows which versions applied when: the list of monitoring-plan versions the EU Monitoring and
Reporting Regulation asks operators to keep (Commission Implementing Regulation (EU) 2018/2066;
https://eur-lex.europa.eu/eli/reg_impl/2018/2066/oj)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from minewatch.config.facility import FacilityConfig
from minewatch.ledger import canonical_json


def _file_sha(p: Path) -> str | None:
    try:
        return hashlib.sha256(p.read_bytes()).hexdigest()
    except OSError:
        return None


def _compliance_profile_path(cfg: FacilityConfig) -> Path | None:
    try:
        from minewatch.analyzer.profile import resolve_profile_path
    except ImportError:
        return None
    return resolve_profile_path(cfg.analysis.compliance_profile, cfg.base_dir)


def versions_in_force(cfg: FacilityConfig) -> dict[str, Any]:
    """``config_sha256`` of the validated config (secrets are never in it, only env var names) and
    ``files``: path -> SHA-256 (None when unreadable) of the profiles and the registry."""
    files: dict[str, str | None] = {}
    prof = _compliance_profile_path(cfg)
    if prof is not None:
        files[str(prof)] = _file_sha(prof)
    for d in cfg.device_profile_dirs():
        for f in sorted(d.glob("*.yaml")) if d.is_dir() else []:
            files[str(f)] = _file_sha(f)
    if cfg.registry:
        reg = cfg.path(cfg.registry)
        files[str(reg)] = _file_sha(reg)
    return {
        "profile_sha256": files.get(str(prof)) if prof is not None else None,
        "config_sha256": hashlib.sha256(
            canonical_json(cfg.model_dump(mode="json", by_alias=True))
        ).hexdigest(),
        "compliance_profile": cfg.analysis.compliance_profile,
        "files": files,
    }


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What differs between two ``versions_in_force`` results (empty when nothing did)."""
    out: dict[str, Any] = {}
    if before.get("config_sha256") != after.get("config_sha256"):
        out["config_sha256"] = after.get("config_sha256")
    fb, fa = before.get("files", {}), after.get("files", {})
    changed = {k: fa.get(k) for k in sorted(set(fb) | set(fa)) if fb.get(k) != fa.get(k)}
    if changed:
        out["files"] = changed
    if before.get("compliance_profile") != after.get("compliance_profile"):
        out["compliance_profile"] = after.get("compliance_profile")
    return out


def change_record(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The ``config.changed`` payload: what differs, what is in force now and what was before."""
    diff = changes(before, after)
    if not diff:
        return {}
    keys = ("compliance_profile", "profile_sha256", "config_sha256")
    return {
        **diff,
        **{k: after.get(k) for k in keys},
        "previous": {k: before.get(k) for k in keys},
    }
