"""Hot reload of the equipment registry: rigs added or moved are picked up without a restart.

A collector runs for months while the operator edits the registry; a broken edit is logged, counted
and the previous registry kept, because an operator's typo must not stop collection.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from minewatch.counters import Counters
from minewatch.errors import ConfigError
from minewatch.registry import RegistryEntry, load_registry

log = logging.getLogger(__name__)

#: How often the registry file's modification time is checked.
REGISTRY_CHECK_S = 10.0


class RegistryWatcher:
    def __init__(
        self,
        path: Path | None,
        known_models: set[str],
        registry: dict[str, RegistryEntry],
        counters: Counters,
    ) -> None:
        self.path = path
        self.registry = registry
        self._known_models = known_models
        self._counters = counters
        self._mtime = self._stat()
        self._checked = time.monotonic()

    def _stat(self) -> float | None:
        try:
            return self.path.stat().st_mtime if self.path else None
        except OSError:
            return None

    def reload_if_changed(self) -> set[str]:
        """The serials whose entry changed (empty when the file did not change or is invalid);
        ``registry`` then holds the new entries. Checks the file at most every REGISTRY_CHECK_S."""
        if self.path is None or time.monotonic() - self._checked < REGISTRY_CHECK_S:
            return set()
        self._checked = time.monotonic()
        mtime = self._stat()
        if mtime == self._mtime:
            return set()
        self._mtime = mtime
        try:
            fresh = load_registry(self.path, self._known_models)
        except ConfigError as exc:
            self._counters.inc("registry_reload_errors")
            log.error(
                "registry %s changed but is invalid; keeping the previous one:\n%s", self.path, exc
            )
            return set()
        old = self.registry
        changed = {s for s in fresh.keys() | old.keys() if fresh.get(s) != old.get(s)}
        self.registry = fresh
        self._counters.inc("registry_reloads")
        log.info(
            "registry %s reloaded: %d devices, %d changed", self.path, len(fresh), len(changed)
        )
        return changed
