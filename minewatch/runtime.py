"""Wiring of the parts into processes: ``demo``, ``run`` (everything, one process).

Filled in by the spine work (#2): start broker (demo), simulator (demo), collector, analyzer and API.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds ``demo`` and ``run``."""
