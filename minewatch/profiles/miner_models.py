"""Miner model tables: one row per model, on top of a family profile.

Thousands of second-hand miners of dozens of models read the same way within a firmware family; what
differs per model is what compliance compares against — rated power, hashrate and efficiency — and
the string the firmware reports. A table (``*.models.yaml`` beside the profiles) holds exactly that,
each number with its public source, and every row becomes a full ``DeviceProfile``: the family's
mapping and limits, the row's identity and rating. One schema validates every row; there are no
near-identical YAML files to drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from minewatch.configfile import ConfigError, read_yaml, validate
from minewatch.profiles.schema import DeviceProfile, Rated

#: A file whose name ends so is a model table, not a profile.
MODEL_TABLE_SUFFIX = ".models.yaml"


class ModelRating(BaseModel):
    """The maker's rated hashrate and power for one model (the efficiency follows from them)."""

    model_config = ConfigDict(extra="forbid")

    hashrate_ths: float = Field(gt=0)
    power_w: float = Field(gt=0)
    source: str = Field(min_length=10, description="Public source of both numbers")


class ModelRow(BaseModel):
    """One miner model."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    family: str = Field(description="Family profile id whose mapping and limits the model takes")
    model: str = Field(min_length=2, description="Model name as people write it")
    match: str = Field(description="Regular expression the firmware's model string must match")
    rated: ModelRating

    @field_validator("match")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
        return v


class ModelTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[ModelRow] = Field(min_length=1)


def expand_model_table(path: Path, profiles: dict[str, DeviceProfile]) -> dict[str, DeviceProfile]:
    """Every row of the table at ``path`` as a profile; ConfigError naming each bad row."""
    table = validate(ModelTable, read_yaml(path), str(path))
    out: dict[str, DeviceProfile] = {}
    problems: list[str] = []
    for i, row in enumerate(table.models):
        where = f"{path}: models[{i}] ({row.id})"
        family = profiles.get(row.family)
        if family is None or family.miner_api is None:
            problems.append(f"{where}: family {row.family!r} is not a profile with a miner_api")
            continue
        if row.id in out:
            problems.append(f"{where}: id {row.id!r} appears twice")
            continue
        out[row.id] = _profile(row, family)
    if problems:
        raise ConfigError(problems)
    return out


def _profile(row: ModelRow, family: DeviceProfile) -> DeviceProfile:
    assert family.miner_api is not None  # checked by the caller
    r = row.rated
    api = family.miner_api.model_copy(update={"match": {"model": row.match}})
    return family.model_copy(
        update={
            "id": row.id,
            "model": row.model,
            "description": (
                f"{row.model}: rated values from the model table; mapping and limits of "
                f"{family.id}. {family.description}"
            ),
            "rated": {
                "hashrate_ths": Rated(value=r.hashrate_ths, source=r.source),
                "power_w": Rated(value=r.power_w, source=r.source),
                "efficiency_j_th": Rated(
                    value=round(r.power_w / r.hashrate_ths, 2),
                    source=f"power_w / hashrate_ths from {r.source}",
                ),
            },
            "miner_api": api,
        }
    )
