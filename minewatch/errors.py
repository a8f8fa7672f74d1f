"""The one root of minewatch's own errors, so a caller can tell "minewatch refused this" from a bug.

Each subclass names a kind of refusal that callers handle differently: the CLI prints a
``ConfigError``'s problems, an HTTP front end can answer ``NotFound``/``Conflict``/``InvalidInput``/
``PermissionDenied`` with 404/409/422/403, and loops retry on ``StoreUnavailable``. ``NotFound`` and
``InvalidInput`` also derive from the built-in they refine (``LookupError``, ``ValueError``) so code
that caught the built-in before keeps working.
"""

from __future__ import annotations


class MinewatchError(Exception):
    """Something minewatch refused or could not do, with a message that names the thing and why."""


class ConfigError(MinewatchError):
    """One or more problems in one or more config files; ``problems`` lists them all."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class StoreUnavailable(MinewatchError):
    """The store cannot be reached or refused the operation for a reason worth retrying."""


class DataUnavailable(StoreUnavailable):
    """A data file or its folder cannot be opened or written (read-only, full, no permission); the
    message names the path and the filesystem's state, and the CLI prints it as one line."""


class NotFound(MinewatchError, LookupError):
    """The named thing (device, alert, rig, message, ...) does not exist."""


class Conflict(MinewatchError):
    """The request contradicts the current state (already exists, already acknowledged, ...)."""


class InvalidInput(MinewatchError, ValueError):
    """A value given by a user, a device or a peer is malformed or out of range."""


class PermissionDenied(MinewatchError):
    """The caller is not allowed to do this (missing or wrong token, read-only mode, ...)."""
