"""``minewatch miner probe``: identify one miner and read everything minewatch decodes from it,
without a facility configuration — what a field engineer runs on site.

It goes through the production path (``MinerPoller``): a probe that reads a miner proves the
collector will.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from minewatch.collector.minerapi.miner import (
    DOWN,
    Fetched,
    MinerPoller,
    fetch,
    identify,
    identity_commands,
)
from minewatch.collector.minerapi.paths import resolve
from minewatch.config.polling import MinerTarget
from minewatch.counters import Counters
from minewatch.profiles import DeviceProfile
from minewatch.sample import now_ns
from minewatch.units import UNIT_SUFFIXES

#: A metric name's unit suffix, before an optional index (``fan_rpm_2``).
_UNIT = re.compile(r"_(" + "|".join(UNIT_SUFFIXES) + r")(?:_[a-z0-9]+)?$")
_SHOWN = {"c": "°C", "ths": "TH/s", "ghs": "GH/s", "pct": "%", "j_th": "J/TH"}


def unit_of(metric: str) -> str:
    """The unit a metric name carries, as people write it (``chip_temp_c`` → °C)."""
    m = _UNIT.search(metric)
    return _SHOWN.get(m.group(1), m.group(1)) if m else ""


@dataclass
class ProbeResult:
    """What one miner said, decoded."""

    host: str
    port: int
    state: str = DOWN
    model: str = ""
    firmware: str = ""
    profile: str = ""
    generic_limits: bool = False
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def read(self) -> bool:
        return self.state != DOWN and bool(self.profile) and bool(self.metrics)


async def probe(
    host: str, port: int, profiles: dict[str, DeviceProfile], timeout_s: float = 5.0
) -> ProbeResult:
    """Identify the miner at ``host:port`` against ``profiles`` and poll it once."""
    counters = Counters()
    result = ProbeResult(host, port)
    got = await fetch(
        host,
        port,
        identity_commands(profiles),
        timeout_s,
        f"{host}:{port}",
        None,
        counters,
        probing=True,
    )
    ident = identify(host, port, got.replies, profiles)
    result.model = ident.values.get("model", "")
    result.firmware = ident.values.get("firmware", "")
    if not got.answered:
        result.problems.append(f"{host}:{port} does not answer the miner API")
        return result
    if ident.profile is None:
        seen = ", ".join(f"{k}={v!r}" for k, v in ident.values.items()) or "nothing"
        result.state = "unidentified"
        result.problems.append(f"no profile matches what the miner says ({seen})")
        return result
    profile = profiles[ident.profile]
    api = profile.miner_api
    assert api is not None  # identify only matches profiles with a miner_api section
    result.profile, result.generic_limits = profile.id, api.generic
    target = MinerTarget(
        host=host, port=port, profile=profile.id, serial=f"{host}:{port}", timeout_s=timeout_s
    )
    poller = MinerPoller(target, profiles, counters, None)
    samples = await poller.poll(now_ns())
    result.state = poller.state or DOWN
    for s in samples:
        result.metrics[s.metric] = {"value": s.value, "unit": unit_of(s.metric)}
    label_cmds = sorted({w.command for w in api.labels.values()})
    labelled: Fetched = await fetch(
        host, port, label_cmds, timeout_s, f"{host}:{port}", None, counters
    )
    for name, where in api.labels.items():
        found = resolve(labelled.replies.get(where.command, {}), where.path)
        if found and found[0] not in (None, ""):
            result.labels[name] = str(found[0])
    result.problems.extend(_problems(counters))
    return result


def _problems(counters: Counters) -> list[str]:
    """Counted rejections, as lines a field engineer can act on."""
    out: list[str] = []
    for counter in ("rejected_total", "miner_errors_total"):
        by_reason = counters.snapshot().get(counter)
        if isinstance(by_reason, dict):
            out.extend(f"{counter}{{reason={r}}} = {n}" for r, n in sorted(by_reason.items()) if n)
    return out
