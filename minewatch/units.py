"""Metric naming: every metric name carries its unit, checked in one place."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

#: Unit suffixes a metric name may end with, so a name says its unit (``power_w``, ``temp_c``).
UNIT_SUFFIXES = (
    "w",
    "kw",
    "kwh",
    "wh",
    "kvarh",
    "var",
    "kvar",
    "va",
    "kva",
    "c",
    "ths",
    "ghs",
    "v",
    "a",
    "hz",
    "pct",
    "rpm",
    "s",
    "ms",
    "kpa",
    "bar",
    "lpm",
    "m3h",
    "ppm",
    "count",
    "bool",
    "state",
    "code",
    "j_th",
)
#: Dimensionless metrics that are named for what they are.
UNITLESS = {"power_factor", "up", "thd_v", "thd_i"}

_METRIC_RE = re.compile(
    r"^[a-z][a-z0-9_]*_(" + "|".join(UNIT_SUFFIXES) + r")(_l[123]|_l[123]_l[123]|_[a-z0-9]+)?$"
)


def is_valid_metric_name(name: str) -> bool:
    """True when ``name`` is snake_case and ends with a known unit (optionally a per-phase/index
    suffix)."""
    return name in UNITLESS or name.startswith("power_factor") or bool(_METRIC_RE.match(name))


def unit_of(name: str) -> str | None:
    """The unit suffix of a metric name (``chip_temp_c`` → ``c``); None for unitless names."""
    m = _METRIC_RE.match(name)
    return m.group(1) if m else None


def check_metric_name(name: str) -> str:
    """pydantic-friendly validator: return the name or raise ValueError saying what is expected."""
    if not is_valid_metric_name(name):
        raise ValueError(
            f"metric name {name!r} must be snake_case and end with its unit "
            f"(one of _{', _'.join(UNIT_SUFFIXES)}), optionally followed by _l1/_l2/_l3 or an index"
        )
    return name


#: A metric name as a pydantic type: every schema that names metrics (device profiles, compliance
#: rules) checks them with this one annotation.
MetricName = Annotated[str, AfterValidator(check_metric_name)]
