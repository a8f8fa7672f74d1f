"""Every source in the repository can be followed (issue #9).

1. Every ``source`` of every shipped device and compliance profile, loaded through the project's own
   loaders, is non-empty and cites no file this repository lacks.
2. No tracked text file refers to the unshipped research notes, the design document, the contracts
   file or the shared folder outside the repository.

The patterns are built so that they do not match their own source text (each contains a regex escape
or character class where the text it finds has a plain character), so this file passes its own
check.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from minewatch.analyzer.profile_loader import load_compliance_profile
from minewatch.profiles import load_profiles
from minewatch.resources import compliance_profiles_dir

ROOT = Path(__file__).resolve().parents[1]

#: References to files the repository does not contain: the research notes (with their folder, or by
#: their bare names, which no tracked file has), the design document, the contracts file and the
#: shared folder next to the checkout.
FORBIDDEN = [
    ("research note", re.compile(r"research/[\w.-]+\.md")),
    ("research note", re.compile(r"(?<![\w/.-])(?:miners|collectors|style-and-perf)\.md\b")),
    ("design document", re.compile(r"\bDESIGN\.md\b")),
    ("contracts file", re.compile(r"(?<![\w/.-])contracts\.md\b")),
    ("shared folder", re.compile(r"\.\./shared/")),
]

#: A path-like token: segments joined by "/", or a bare file name with a known extension.
PATH_TOKEN = re.compile(r"(?<![\w.:/-])([\w.-]+(?:/[\w.-]+)+/?|[\w.-]+\.(?:md|ya?ml|py|csv|json))")


#: Not the project's own files (skipped where git cannot say what is tracked: an unpacked sdist).
NOT_SOURCE = {".git", ".venv", "__pycache__", "build", "dist", "data", ".mypy_cache", ".ruff_cache"}


def _tracked() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        files = []
        for folder, dirs, names in os.walk(ROOT):  # links into minewatch/ are not followed
            dirs[:] = [d for d in dirs if d not in NOT_SOURCE and not d.endswith(".egg-info")]
            files += [(Path(folder) / n).relative_to(ROOT).as_posix() for n in names]
        return sorted(files)
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return [p for p in out.decode().split("\0") if p]


def _top_level() -> set[str]:
    return {p.split("/", 1)[0] for p in _tracked()}


def _sources(obj: Any, where: str) -> Iterator[tuple[str, Any]]:
    """Every value of a ``source`` key in a dumped profile, with where it is."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "source":
                # optional sources of value references are None: the rule's source covers them
                if v is not None:
                    yield f"{where}.source", v
            else:
                yield from _sources(v, f"{where}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _sources(v, f"{where}[{i}]")


def _all_sources() -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for pid, prof in sorted(load_profiles().items()):
        found += _sources(prof.model_dump(), f"device_profiles/{pid}")
    for path in sorted(compliance_profiles_dir().glob("*.yaml")):
        prof = load_compliance_profile(path.stem)
        # inhibit[].source is a rule id, not a citation
        found += _sources(prof.model_dump(exclude={"inhibit"}), f"compliance_profiles/{path.stem}")
        for rule in prof.rules:
            found += _sources(rule.p.model_dump(), f"compliance_profiles/{path.stem}:{rule.id}.p")
    return found


def _missing_local_files(text: str, top: set[str], names: set[str]) -> list[str]:
    """Paths of this repository that a source cites but the repository lacks.

    A path whose first segment is a top-level folder of this repository must exist, unless the same
    clause names another repository (``owner/name``): then it is a file of that repository. A bare
    file name must be the name of some tracked file, with the same exception.
    """
    missing = []
    for clause in re.split(r"[;()\[\]]", text):
        tokens = PATH_TOKEN.findall(clause)
        other_repo = any(
            "/" in t and t.split("/", 1)[0] not in top and "." not in t.split("/", 1)[0]
            for t in tokens
        )
        if other_repo:
            continue
        for t in tokens:
            if "/" in t:
                absent = t.split("/", 1)[0] in top and not (ROOT / t).exists()
            else:
                absent = t not in names
            if absent:
                missing.append(t)
    return missing


def test_profiles_are_found():
    sources = _all_sources()
    assert any(w.startswith("device_profiles/") for w, _ in sources)
    assert any(w.startswith("compliance_profiles/tm-2026") for w, _ in sources)


def test_every_profile_source_is_followable():
    tracked = _tracked()
    top = {p.split("/", 1)[0] for p in tracked}
    names = {Path(p).name for p in tracked}
    problems = []
    for where, src in _all_sources():
        if not isinstance(src, str) or len(src.strip()) < 3:
            problems.append(f"{where}: empty source {src!r}")
            continue
        for what, pattern in FORBIDDEN:
            if m := pattern.search(src):
                problems.append(f"{where}: cites the {what} {m.group(0)!r}, which is not shipped")
        for path in _missing_local_files(src, top, names):
            problems.append(f"{where}: cites {path!r}, which this repository does not contain")
    assert not problems, "\n".join(problems)


def test_no_tracked_file_refers_to_absent_documents():
    offenders = []
    for rel in _tracked():
        path = ROOT / rel
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            for what, pattern in FORBIDDEN:
                if m := pattern.search(line):
                    offenders.append(f"{rel}:{lineno}: {what} {m.group(0)!r}")
    assert not offenders, f"{len(offenders)} reference(s) to files the repository lacks:\n" + (
        "\n".join(offenders)
    )
