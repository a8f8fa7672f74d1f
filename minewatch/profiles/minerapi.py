"""How a miner's cgminer-style API replies (TCP 4028 JSON) map onto metrics.

The poller sends each command in ``commands`` as ``{"command": "<name>"}`` and keeps the parsed
replies by command name. A field names the command and one or more *paths* into its reply:

- segments are separated by ``.``; a key may contain spaces (``SUMMARY[0].GHS 5s``);
- ``[n]`` indexes a list, ``[*]`` takes every element, and ``*`` inside a key matches keys by
  pattern (``STATS[1].temp2_*``);
- values found on every path are gathered (strings split on ``split`` first, ``"56-60-62"``),
  zeros dropped if ``ignore_zero`` (a missing sensor reads 0 on Antminers), then ``reduce``d.

So both Antminer stock forms (legacy flat ``STATS[1]`` and ``new_api`` chain arrays) are two paths
of the same field: whichever the firmware answers resolves.
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


Family = Literal["antminer-bmminer", "whatsminer-v2"]
Reduce = Literal["first", "max", "min", "mean", "sum", "count"]
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
    bracket: str | None = Field(
        None,
        description=(
            "Read the key's values out of a 'Key[v1 v2]' string (Avalon packs its readings into "
            "'MM ID0': 'Temp[31] TMax[78] Fan1[4275] ...')"
        ),
        pattern=r"^[A-Za-z0-9_]+$",
    )
    values: dict[str, float] | None = Field(
        None,
        description=(
            "Text values mapped to numbers (pool 'Status': {Alive: 1, Dead: 0}); "
            "a text not listed is rejected, never guessed"
        ),
    )
    valid: tuple[float, float] | None = Field(
        None,
        description=(
            "Values outside [low, high] are sensor faults, dropped and counted (an S9 reports a "
            "dead chip sensor as -83)"
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
        description=(
            "Firmware family; documentation and discovery labels (replies are parsed the same way)"
        )
    )
    source: str = Field(
        min_length=3, description="Where the field names come from (fixtures, docs, repos)"
    )
    port: int = Field(4028, ge=1, le=65535)
    commands: list[str] = Field(min_length=1, description="Read-only commands sent every poll")
    identity: dict[IdentityKey, IdentityPath] = Field(default_factory=dict)
    labels: dict[str, IdentityPath] = Field(
        default_factory=dict,
        description=(
            "Text worth showing but not a number (pool URL, worker): printed by ``miner probe``"
        ),
    )
    family: Family | None = Field(
        None,
        description=(
            "Read the firmware family's standard fields (``FAMILY_FIELDS``); fields given here "
            "add to or replace them"
        ),
    )
    new_api: bool = Field(
        False,
        description=(
            "Ask ``stats`` for the new_api chain form (S19 2022+ and S21 firmware send it only "
            "when asked); older firmware ignores the parameter and answers the flat form"
        ),
    )
    pools: bool = Field(
        False,
        description=(
            "Also send ``pools`` and read the cgminer pool table (POOLS[*]: Status, Accepted, "
            "Rejected, Stratum Active, URL, User) into the standard pool metrics and labels"
        ),
    )
    generic: bool = Field(
        False,
        description=(
            "The limits are the vendor family's, not this exact model's: shown as 'generic limits'"
        ),
    )
    match: dict[IdentityKey, str] = Field(
        min_length=1,
        description=(
            "Regular expressions the identity values must match (search) for this profile to apply"
        ),
    )
    fields: dict[str, ApiField] = Field(
        default_factory=dict, description="Metric -> where; added to the family's own fields"
    )

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
    def _shared_fields(self) -> MinerApiMap:
        """A firmware family reads the same way on every model, and the pool table the same on every
        cgminer-style firmware: each is defined once, here, and profiles name it."""
        if self.family is not None:
            commands, fields = FAMILY_FIELDS[self.family]
            self.commands.extend(c for c in commands if c not in self.commands)
            for name, fld in fields.items():
                self.fields.setdefault(name, fld)
        if self.pools:
            if "pools" not in self.commands:
                self.commands.append("pools")
            for name, fld in POOL_FIELDS.items():
                self.fields.setdefault(name, fld)
            for name, where in POOL_LABELS.items():
                self.labels.setdefault(name, where)
        return self

    @model_validator(mode="after")
    def _commands_cover_fields(self) -> MinerApiMap:
        if not self.fields:
            raise ValueError("fields: map at least one metric (or name a family)")
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


#: cgminer pool states (kanoi/cgminer api.c ``pools``: Alive, Dead, Disabled, Rejecting, Unknown);
#: "Deed" is what a real S19 Pro sends for a dead pool (delawr0190/foreman-apps
#: AntminerStatsITest.java, "Antminer S19 (overheating)").
POOL_ALIVE = {
    "Alive": 1.0,
    "Dead": 0.0,
    "Deed": 0.0,
    "Disabled": 0.0,
    "Rejecting": 0.0,
    "Unknown": 0.0,
}

POOL_FIELDS: dict[str, ApiField] = {
    "pools_alive_count": ApiField(
        command="pools", paths=["POOLS[*].Status"], values=POOL_ALIVE, reduce="sum"
    ),
    "pools_active_count": ApiField(
        command="pools", paths=["POOLS[*].Stratum Active"], reduce="sum"
    ),
    "pool_accepted_count": ApiField(command="pools", paths=["POOLS[*].Accepted"], reduce="sum"),
    "pool_rejected_count": ApiField(command="pools", paths=["POOLS[*].Rejected"], reduce="sum"),
}
POOL_LABELS: dict[str, IdentityPath] = {
    "pool_url": IdentityPath(command="pools", path="POOLS[0].URL"),
    "pool_user": IdentityPath(command="pools", path="POOLS[0].User"),
    "pool_status": IdentityPath(command="pools", path="POOLS[0].Status"),
}


def _stats(paths: list[str], **kw: object) -> ApiField:
    return ApiField(command="stats", paths=paths, **kw)


def _summary(path: str, **kw: object) -> ApiField:
    return ApiField(command="summary", paths=[path], **kw)


#: Plausible temperatures (°C); outside is a sensor fault.
_TEMP_RANGE = (-40.0, 150.0)

#: Stock Antminer ``stats``, both forms: legacy flat ``STATS[1]`` (what a plain ``stats`` gets)
#: and ``new_api`` ``STATS[0].chain[]``. ``tempN`` / ``temp_pcbN`` are the board (PCB) sensors and
#: ``temp2_N`` / ``temp_chipN`` the chip sensors: a real S19 Pro reply has ``temp2_3`` = 97 = the
#: maximum of ``temp_chip3`` "80-66-97-87" and ``temp3`` = 92 = the maximum of ``temp_pcb3``
#: (delawr0190/foreman-apps foreman-antminer/src/test/java/mn/foreman/antminer/
#: AntminerStatsITest.java, "Antminer S19 (overheating)"). Hashrates are GH/s. Fans are per model
#: (S9 boards use fan5/fan6, S9k fan1/fan2, S17/S19 fan1-fan4), so profiles map them.
ANTMINER_BMMINER: dict[str, ApiField] = {
    "hashrate_ths": _stats(["STATS[1].GHS 5s", "STATS[0].rate_5s"], scale=0.001),
    "expected_hashrate_ths": _stats(
        ["STATS[1].total_rateideal", "STATS[0].rate_ideal"], scale=0.001
    ),
    "uptime_s": _stats(["STATS[1].Elapsed", "STATS[0].elapsed"]),
    "chip_temp_c": _stats(
        ["STATS[1].temp2_*", "STATS[1].temp_chip*", "STATS[0].chain[*].temp_chip[*]"],
        split="-",
        reduce="max",
        ignore_zero=True,
        valid=_TEMP_RANGE,
    ),
    "board_temp_c": _stats(
        [
            "STATS[1].temp?",
            "STATS[1].temp1?",
            "STATS[1].temp_pcb*",
            "STATS[0].chain[*].temp_pcb[*]",
        ],
        split="-",
        reduce="max",
        ignore_zero=True,
        valid=_TEMP_RANGE,
    ),
    "hw_errors_count": _stats(["STATS[1].chain_hw*", "STATS[0].chain[*].hw"], reduce="sum"),
    "hashboards_count": _stats(
        ["STATS[1].chain_acn*", "STATS[0].chain[*].asic_num"], reduce="count", ignore_zero=True
    ),
    "chips_count": _stats(["STATS[1].chain_acn*", "STATS[0].chain[*].asic_num"], reduce="sum"),
}

#: Whatsminer btminer API v2 ``summary`` (delawr0190/foreman-apps foreman-whatsminer/src/test/
#: java/mn/foreman/whatsminer/WhatsminerStatsITest.java: M20S, M30S, M31S replies). Hashrates are
#: MH/s; ``Power`` is the firmware's estimate, not a meter reading.
WHATSMINER_V2: dict[str, ApiField] = {
    "hashrate_ths": _summary("SUMMARY[0].MHS 5s", scale=1e-6),
    "expected_hashrate_ths": _summary("SUMMARY[0].Factory GHS", scale=0.001),
    "power_w": _summary("SUMMARY[0].Power", estimate=True),
    "power_limit_w": _summary("SUMMARY[0].Power Limit"),
    "chip_temp_c": _summary("SUMMARY[0].Chip Temp Max", valid=_TEMP_RANGE),
    "board_temp_c": _summary("SUMMARY[0].Temperature", valid=_TEMP_RANGE),
    "inlet_temp_c": _summary("SUMMARY[0].Env Temp", valid=_TEMP_RANGE),
    "fan_rpm_1": _summary("SUMMARY[0].Fan Speed In"),
    "fan_rpm_2": _summary("SUMMARY[0].Fan Speed Out"),
    "psu_fan_rpm": _summary("SUMMARY[0].Power Fanspeed"),
    "error_count": _summary("SUMMARY[0].Error Code Count"),
    "error_code": _summary("SUMMARY[0].Error Code 0"),
    "hw_errors_count": _summary("SUMMARY[0].Hardware Errors"),
    "uptime_s": _summary("SUMMARY[0].Elapsed"),
}

FAMILY_FIELDS: dict[str, tuple[list[str], dict[str, ApiField]]] = {
    "antminer-bmminer": (["stats"], ANTMINER_BMMINER),
    "whatsminer-v2": (["summary"], WHATSMINER_V2),
}
