"""When the facility was in operation: from the later of its commissioning date
(``facility.commissioned``, midnight in the facility's time zone) and its first telemetry. Time
before that is "not in operation": never judged, never counted as missing data, never substituted.
"""

from __future__ import annotations

import pandas as pd

from minewatch.config.facility import FacilityConfig


def operation_start_ns(cfg: FacilityConfig, devices: pd.DataFrame) -> int | None:
    """Start of operation in ns, or None when neither a commissioning date nor telemetry exists."""
    known: list[int] = []
    if cfg.facility.commissioned is not None:
        day = pd.Timestamp(cfg.facility.commissioned).tz_localize(cfg.timezone)
        known.append(int(day.value))
    if len(devices):
        first = pd.to_numeric(devices["first_seen"], errors="coerce").min()
        if first == first:
            known.append(int(first))
    return max(known) if known else None
