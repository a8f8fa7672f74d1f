"""Network discovery: who answers the miner API (and optionally Modbus TCP), and how that
compares with the equipment registry filed with the regulator.

The comparison has four outcomes: registered and seen, registered but missing, seen but not
registered (the one the regulator cares about: unlicensed equipment drawing power), and seen but
unidentified (the API gives no serial, e.g. stock Antminer on 4028 — then the polling config's
host→serial list is used to identify it).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Awaitable, Iterable
from dataclasses import asdict, dataclass, field

from pymodbus.client import AsyncModbusTcpClient

from minewatch.collector.minerapi.miner import fetch, identify, identity_commands
from minewatch.config.polling import MinerTarget
from minewatch.counters import Counters
from minewatch.profiles import DeviceProfile
from minewatch.registry import RegistryEntry
from minewatch.sample import DeviceMeta, Sample


@dataclass(frozen=True)
class Found:
    """One endpoint that answered."""

    host: str
    port: int
    protocol: str  # "miner_api" | "modbus"
    model: str = ""
    serial: str = ""
    mac: str = ""
    firmware: str = ""
    profile: str = ""
    dialect: str = ""
    generic_limits: bool = False

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class Comparison:
    registered_seen: list[dict] = field(default_factory=list)
    registered_missing: list[dict] = field(default_factory=list)
    unregistered: list[dict] = field(default_factory=list)
    unidentified: list[dict] = field(default_factory=list)
    modbus: list[dict] = field(default_factory=list)


def hosts_of(subnets: Iterable[str], max_hosts: int) -> list[str]:
    """Addresses to probe (host addresses of each range; a /32 is its one address), refusing huge
    scans."""
    out: list[str] = []
    for s in subnets:
        net = ipaddress.ip_network(s, strict=False)
        if net.num_addresses > max_hosts:
            raise ValueError(
                f"subnet {s} has {net.num_addresses} addresses, more than max_hosts {max_hosts}"
            )
        hosts = list(net.hosts()) or [net.network_address]
        out.extend(str(h) for h in hosts)
        if len(out) > max_hosts:
            raise ValueError(f"the subnets hold more than max_hosts {max_hosts} addresses")
    return list(dict.fromkeys(out))


async def _port_open(host: str, port: int, timeout_s: float) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (TimeoutError, OSError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _probe_miner(
    host: str, port: int, profiles: dict[str, DeviceProfile], timeout_s: float, counters: Counters
) -> Found | None:
    if not await _port_open(host, port, timeout_s):
        return None
    try:
        got = await asyncio.wait_for(
            fetch(
                host,
                port,
                identity_commands(profiles),
                timeout_s,
                f"{host}:{port}",
                None,
                counters,
                probing=True,
            ),
            timeout_s * 2,
        )
    except TimeoutError:
        return None
    if not got.answered:
        return None
    ident = identify(host, port, got.replies, profiles)
    v = ident.values
    return Found(
        host,
        port,
        "miner_api",
        v.get("model", ""),
        v.get("serial", ""),
        v.get("mac", ""),
        v.get("firmware", ""),
        ident.profile or "",
        ident.dialect or "",
        bool(ident.profile and _generic(profiles[ident.profile])),
    )


def _generic(profile: DeviceProfile) -> bool:
    return profile.miner_api is not None and profile.miner_api.generic


async def _probe_modbus(host: str, port: int, timeout_s: float) -> Found | None:
    """A Modbus TCP server answers a read of holding register 0: data or an exception, either
    way."""
    if not await _port_open(host, port, timeout_s):
        return None
    client = AsyncModbusTcpClient(
        host, port=port, timeout=timeout_s, retries=0, reconnect_delay=3600
    )
    try:
        if not await asyncio.wait_for(client.connect(), timeout_s):
            return None
        await asyncio.wait_for(
            client.read_holding_registers(0, count=1, device_id=1), timeout_s * 1.5
        )
        return Found(host, port, "modbus")
    except Exception:
        return None
    finally:
        client.close()


async def scan(
    hosts: list[str],
    profiles: dict[str, DeviceProfile],
    *,
    miner_ports: list[int],
    timeout_s: float = 1.0,
    concurrency: int = 256,
    modbus: bool = False,
    modbus_port: int = 502,
    counters: Counters | None = None,
) -> list[Found]:
    """Probe every host x port with at most ``concurrency`` probes in flight."""
    counters = counters or Counters()
    sem = asyncio.Semaphore(concurrency)
    miner_profiles = {k: p for k, p in profiles.items() if p.miner_api is not None}

    async def bounded(coro: Awaitable[Found | None]) -> Found | None:
        async with sem:
            return await coro

    jobs = [
        bounded(_probe_miner(h, p, miner_profiles, timeout_s, counters))
        for h in hosts
        for p in miner_ports
    ]
    if modbus:
        jobs += [bounded(_probe_modbus(h, modbus_port, timeout_s)) for h in hosts]
    found = [f for f in await asyncio.gather(*jobs) if f is not None]
    return sorted(found, key=lambda f: (ipaddress.ip_address(f.host), f.port, f.protocol))


def miner_registry(
    registry: dict[str, RegistryEntry], profiles: dict[str, DeviceProfile]
) -> dict[str, RegistryEntry]:
    """The registry's miners: only they are expected to answer a miner API (not meters or
    sensors)."""
    return {
        s: e
        for s, e in registry.items()
        if e.model in profiles and profiles[e.model].kind.value == "asic_miner"
    }


def compare(
    found: list[Found],
    registry: dict[str, RegistryEntry],
    known_hosts: dict[str, str] | None = None,
    answering: Iterable[str] = (),
) -> Comparison:
    """Sort what was found against the registry's miners (see ``miner_registry``).
    ``known_hosts`` maps "host:port" → serial from config; ``answering`` are serials the poller
    heard from just now: a registered miner that answers its polls is not "missing" because one
    scan probe timed out."""
    known_hosts = known_hosts or {}
    out = Comparison()
    seen_serials: set[str] = set()
    for f in found:
        row = asdict(f)
        if f.protocol == "modbus":
            out.modbus.append(row)
            continue
        serial = f.serial or known_hosts.get(f.endpoint, "")
        if not serial:
            out.unidentified.append(row)
            continue
        row["serial"] = serial
        seen_serials.add(serial)
        if serial in registry:
            row["registered_model"] = registry[serial].model
            out.registered_seen.append(row)
        else:
            out.unregistered.append(row)
    for serial, entry in sorted(registry.items()):
        if serial in seen_serials:
            continue
        row = {"serial": serial, "model": entry.model, "zone": entry.zone, "rack": entry.rack}
        if serial in answering:
            out.registered_seen.append({**row, "seen_by": "polling"})
        else:
            out.registered_missing.append(row)
    return out


def known_hosts(
    miners: Iterable[MinerTarget], profiles: dict[str, DeviceProfile]
) -> dict[str, str]:
    """``host:port`` → serial for configured miners whose serial the config states (stock
    Antminers)."""
    out = {}
    for m in miners:
        if m.serial:
            p = profiles.get(m.profile) if m.profile else None
            out[f"{m.host}:{m.port or (p.miner_api.port if p and p.miner_api else 4028)}"] = (
                m.serial
            )
    return out


def as_samples(result: Comparison, ts: int) -> tuple[list[Sample], list[DeviceMeta]]:
    """Discovery results as telemetry, so the analyzer can flag unregistered equipment with a rule:

    - every identified miner seen: ``registered_bool`` (1 registered, 0 not) on its serial;
    - every registry serial: ``discovery_seen_bool`` (1 seen in the scan, 0 missing);
    - device ``discovery`` (kind ``discovery``): ``discovered_count``, ``unregistered_count``,
      ``registry_missing_count``, ``unidentified_count``.
    """
    samples: list[Sample] = []
    metas: list[DeviceMeta] = [DeviceMeta("discovery", "discovery", role="discovery")]
    for row in result.registered_seen:
        samples.append(Sample(ts, row["serial"], "registered_bool", 1.0))
        samples.append(Sample(ts, row["serial"], "discovery_seen_bool", 1.0))
    for row in result.unregistered:
        samples.append(Sample(ts, row["serial"], "registered_bool", 0.0))
        metas.append(DeviceMeta(row["serial"], "asic_miner", row["profile"], role="rig"))
    for row in result.registered_missing:
        samples.append(Sample(ts, row["serial"], "discovery_seen_bool", 0.0))
    n_miners = len(result.registered_seen) + len(result.unregistered) + len(result.unidentified)
    for metric, value in (
        ("discovered_count", n_miners),
        ("unregistered_count", len(result.unregistered)),
        ("registry_missing_count", len(result.registered_missing)),
        ("unidentified_count", len(result.unidentified)),
    ):
        samples.append(Sample(ts, "discovery", metric, float(value)))
    return samples, metas
