"""Polling for a condition with a deadline: the one way tests wait for real servers and
processes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(
    cond: Callable[[], Any], timeout_s: float = 30.0, what: str = "condition", poll_s: float = 0.05
) -> Any:
    """Return ``cond()``'s first truthy value; fail the test, naming ``what``, after
    ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
