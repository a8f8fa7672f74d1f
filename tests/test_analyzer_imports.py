"""Every analyzer and notifier module imports on its own, in a fresh interpreter, first: no module
depends on another having been imported before it (the rule kinds once formed a cycle through
``context`` that only worked when ``engine`` was imported first)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import minewatch

PACKAGE = Path(minewatch.__file__).resolve().parent


def _modules(part: str) -> list[str]:
    root = PACKAGE / part
    return sorted(
        "minewatch."
        + ".".join(p.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
        for p in root.rglob("*.py")
    )


def test_every_analyzer_and_notifier_module_imports_first() -> None:
    mods = _modules("analyzer") + _modules("notifier")
    assert "minewatch.analyzer.context" in mods and "minewatch.analyzer.rules.aggregate" in mods
    # one interpreter, a clean slate per module: drop everything of minewatch between imports
    script = (
        "import importlib, sys\n"
        "failed = []\n"
        f"for m in {mods!r}:\n"
        "    for k in [k for k in sys.modules if k.startswith('minewatch')]:\n"
        "        del sys.modules[k]\n"
        "    try:\n"
        "        importlib.import_module(m)\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{m}: {type(exc).__name__}: {exc}')\n"
        "print('\\n'.join(failed))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == ""
