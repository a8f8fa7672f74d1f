"""A number in a rule's params that may point at a device profile's limit or rating, or at
facility.yaml, so a profile states where a threshold comes from instead of copying it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ValueRef(BaseModel):
    """A number in a rule: a literal, or a reference to the device profile (``limit:
    chip_temp_c.max_above``, ``rated: current_a``) or to facility.yaml (``facility:
    licence.capacity_kw``), times ``factor``.
    """

    model_config = ConfigDict(extra="forbid")

    value: float | None = None
    limit: str | None = Field(
        None, pattern=r"^[a-z][a-z0-9_]*\.(warn_above|max_above|warn_below|min_below)$"
    )
    rated: str | None = None
    facility: str | None = Field(
        None, pattern=r"^(licence\.capacity_kw|grid\.(voltage_ln_v|voltage_ll_v|frequency_hz))$"
    )
    factor: float = 1.0
    source: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        return {"value": v} if isinstance(v, (int, float)) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _one(self) -> ValueRef:
        given = [k for k in ("value", "limit", "rated", "facility") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of value, limit, rated, facility")
        return self

    def describe(self, rule_source: str) -> str:
        what = (
            f"{self.value:g}"
            if self.value is not None
            else f"device profile limit {self.limit}"
            if self.limit
            else f"device profile rated {self.rated}"
            if self.rated
            else f"facility {self.facility}"
        )
        if self.factor != 1.0:
            what += f" x {self.factor:g}"
        return f"{what} ({self.source or rule_source})"
