"""Every module imports on its own, in a fresh interpreter.

A module that only works after some other module was imported first (a cycle broken by luck, a name
set up as a side effect) passes the whole test suite and fails for the first user who imports it
directly.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import minewatch

BATCH = 12


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(minewatch.__path__, "minewatch.") if m.name)


def _import_each(names: list[str]) -> list[str]:
    """One interpreter per module (each imports from scratch); a batch per worker thread."""
    failures = []
    for name in names:
        done = subprocess.run(
            [sys.executable, "-c", f"import {name}"], capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            failures.append(f"{name}: {done.stderr.strip().splitlines()[-1:]}")
    return failures


def test_every_module_imports_alone() -> None:
    names = _modules()
    assert "minewatch.collector.mqtt" in names and "minewatch.api.app" in names
    batches = [names[i : i + BATCH] for i in range(0, len(names), BATCH)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = [f for batch in pool.map(_import_each, batches) for f in batch]
    assert not failures, "\n".join(failures)
