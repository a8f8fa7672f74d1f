"""How a miner's cgminer-style API replies (TCP 4028 JSON) map onto metrics.

The poller sends each command in ``commands`` as ``{"command": "<name>"}`` and keeps the parsed
replies by command name. A field names the command and one or more *paths* into its reply:

- segments are separated by ``.``; a key may contain spaces (``SUMMARY[0].GHS 5s``);
- ``[n]`` indexes a list, ``[*]`` takes every element, and ``*`` inside a key matches keys by
  pattern (``STATS[1].temp2_*``);
- values found on every path are gathered (strings split on ``split`` first, ``"56-60-62"``),
  zeros dropped if ``ignore_zero`` (a missing sensor reads 0 on Antminers), then ``reduce``d.

So both Antminer stock forms (legacy flat ``STATS[1]`` and ``new_api`` chain arrays) are two paths
of
the same field: whichever the firmware answers resolves.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from minewatch.units import check_metric_name

#: One path segment: a key (may contain spaces and ``*``) followed by any number of ``[n]`` /
#: ``[*]``.
SEGMENT_RE = re.compile(r"^(?P<key>[^\[\]]*)(?P<idx>(\[(\d+|\*)\])*)$")
INDEX_RE = re.compile(r"\[(\d+|\*)\]")


def path_segments(path: str) -> list[tuple[str, list[str]]]:
    """``"STATS[0].chain[*].temp_chip"`` → ``[("STATS", ["0"]), ("chain", ["*"]), ("temp_chip",
    [])]``."""
    out = []
    for part in path.split("."):
        m = SEGMENT_RE.match(part)
        if not m or (not m.group("key") and not m.group("idx")):
            raise ValueError(
                f"bad path segment {part!r} in {path!r}: expected key, key[n] or key[*]"
            )
        out.append((m.group("key"), INDEX_RE.findall(m.group("idx"))))
    return out


Reduce = Literal["first", "max", "min", "mean", "sum"]
IdentityKey = Literal["model", "serial", "mac", "firmware"]


class ApiField(BaseModel):
    """One metric from one command's reply."""

    model_config = ConfigDict(extra="forbid")

    command: str = Field(min_length=1)
    paths: list[str] = Field(min_length=1)
    reduce: Reduce = "first"
    split: str | None = Field(
        None, description="Split string values on this separator ('56-60-62-58')"
    )
    ignore_zero: bool = Field(
        False, description="Drop zeros before reducing (absent sensors read 0)"
    )
    values: dict[str, float] | None = Field(
        None,
        description=(
            "Text values mapped to numbers (pool 'Status': {Alive: 1, Dead: 0}); "
            "a text not listed is rejected, never guessed"
        ),
    )
    scale: float = 1.0
    offset: float = 0.0
    estimate: bool = Field(
        False, description="Firmware estimate, not a measurement (e.g. firmware power)"
    )

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @field_validator("paths")
    @classmethod
    def _syntax(cls, v: list[str]) -> list[str]:
        for path in v:
            path_segments(path)
        return v


class IdentityPath(BaseModel):
    """Where the reply says what the miner is; discovery reads these."""

    model_config = ConfigDict(extra="forbid")

    command: str = Field(min_length=1)
    path: str = Field(min_length=1)

    @field_validator("path")
    @classmethod
    def _syntax(cls, v: str) -> str:
        path_segments(v)
        return v


class MinerApiMap(BaseModel):
    """Commands to send and reply paths → metrics, for one firmware family and model."""

    model_config = ConfigDict(extra="forbid")

    dialect: Literal["antminer", "whatsminer", "luxos", "braiins", "cgminer"] = Field(
        description="Firmware family; documentation and discovery labels (replies are parsed the same way)"
    )
    source: str = Field(
        min_length=3, description="Where the field names come from (fixtures, docs, repos)"
    )
    port: int = Field(4028, ge=1, le=65535)
    commands: list[str] = Field(min_length=1, description="Read-only commands sent every poll")
    identity: dict[IdentityKey, IdentityPath] = Field(default_factory=dict)
    match: dict[IdentityKey, str] = Field(
        min_length=1,
        description="Regular expressions the identity values must match (search) for this profile to apply",
    )
    fields: dict[str, ApiField] = Field(min_length=1)

    @field_validator("fields")
    @classmethod
    def _metric_names(cls, v: dict[str, ApiField]) -> dict[str, ApiField]:
        for name in v:
            check_metric_name(name)
        return v

    @field_validator("commands")
    @classmethod
    def _read_only(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if c not in READ_ONLY_COMMANDS]
        if bad:
            raise ValueError(
                f"command(s) {', '.join(bad)} are not known read-only commands "
                f"(allowed: {', '.join(sorted(READ_ONLY_COMMANDS))})"
            )
        return v

    @model_validator(mode="after")
    def _commands_cover_fields(self) -> MinerApiMap:
        missing = sorted(
            {
                f"{name} uses {f.command!r}"
                for name, f in self.fields.items()
                if f.command not in self.commands
            }
        )
        if missing:
            raise ValueError(f"fields name commands not in commands: {'; '.join(missing)}")
        if "model" not in self.identity:
            raise ValueError("identity.model is required: discovery reports it")
        unmatched = [k for k in self.match if k not in self.identity]
        if unmatched:
            raise ValueError(
                f"match names identity keys with no identity path: {', '.join(unmatched)}"
            )
        for key, pattern in self.match.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"match.{key}: invalid regular expression: {exc}") from exc
        return self

    def identity_commands(self) -> list[str]:
        return sorted({p.command for p in self.identity.values()})


#: Commands that only read (cgminer API-README, Whatsminer v2, LuxOS docs). Control commands
#: (restart, ascset, curtail, switchpool, ...) can never be configured.
READ_ONLY_COMMANDS = frozenset(
    {
        "version",
        "config",
        "summary",
        "pools",
        "devs",
        "edevs",
        "devdetails",
        "stats",
        "estats",
        "fans",
        "temps",
        "power",
        "tunerstatus",
        "get_version",
        "get_miner_info",
        "get_psu",
        "get_error_code",
        "status",
    }
)
