"""``minewatch --version`` names the installed version, which the PDF report states too."""

from __future__ import annotations

import subprocess
import sys

from minewatch import __version__


def test_version_is_printed() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "minewatch.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == f"minewatch {__version__}"
