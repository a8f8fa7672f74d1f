"""``minewatch discover`` (scan a subnet, compare with the registry) and ``minewatch poll`` (run the
polling collector from a facility file)."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from minewatch.configfile import ConfigError
from minewatch.logs import setup_logging

if TYPE_CHECKING:  # the CLI imports its heavy parts only when a command runs
    from minewatch.collector.minerapi.probe import ProbeResult
    from minewatch.config.facility import FacilityConfig
    from minewatch.profiles import DeviceProfile


def _profiles(config: Path | None) -> tuple[FacilityConfig | None, dict[str, DeviceProfile]]:
    from minewatch.config import load_facility
    from minewatch.profiles import load_facility_profiles, load_profiles

    cfg = load_facility(config) if config else None
    return cfg, (load_facility_profiles(cfg) if cfg is not None else load_profiles())


def discover(
    subnet: Annotated[
        list[str],
        typer.Option("--subnet", help="CIDR range to scan (repeatable), e.g. 10.1.0.0/24"),
    ],
    port: Annotated[
        list[int] | None, typer.Option("--port", help="Miner API port(s) to probe")
    ] = None,
    modbus: Annotated[bool, typer.Option("--modbus", help="Also probe Modbus TCP")] = False,
    modbus_port: Annotated[int, typer.Option("--modbus-port")] = 502,
    registry: Annotated[
        Path | None,
        typer.Option("--registry", help="Equipment registry CSV (serial,model,zone,rack)"),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="facility.yaml: extra profiles, registry, host→serial map"),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.05, help="Per-probe timeout, seconds")
    ] = 1.0,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1)] = 256,
    max_hosts: Annotated[int, typer.Option("--max-hosts", min=1)] = 65536,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON")] = False,
) -> None:
    """Find miners (and Modbus devices) on a network and compare them with the registry: registered
    and seen, registered but missing, seen but NOT registered, seen but unidentified."""
    from minewatch.collector.discovery import compare, hosts_of, known_hosts, miner_registry, scan
    from minewatch.registry import load_registry

    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    port = port or [4028]
    cfg, profiles = _profiles(config)
    reg_path = registry or (cfg.path(cfg.registry) if cfg is not None and cfg.registry else None)
    reg = load_registry(reg_path, set(profiles)) if reg_path else {}
    try:
        hosts = hosts_of(subnet, max_hosts)
    except ValueError as exc:
        raise ConfigError([f"--subnet: {exc}"]) from exc
    known = known_hosts(cfg.polling.miners, profiles) if cfg is not None else {}
    started = time.monotonic()
    found = asyncio.run(
        scan(
            hosts,
            profiles,
            miner_ports=port,
            timeout_s=timeout,
            concurrency=concurrency,
            modbus=modbus,
            modbus_port=modbus_port,
        )
    )
    result = compare(found, miner_registry(reg, profiles), known)
    if as_json:
        typer.echo(json.dumps(vars(result), indent=2))
        return
    typer.echo(
        f"scanned {len(hosts)} host(s) x {len(port)} port(s) in {time.monotonic() - started:.1f} s"
    )
    sections = (
        ("SEEN BUT NOT REGISTERED", result.unregistered),
        ("registered but missing", result.registered_missing),
        ("registered and seen", result.registered_seen),
        ("seen, no serial (unidentified)", result.unidentified),
        ("Modbus devices", result.modbus),
    )
    for title, rows in sections:
        typer.echo(f"\n{title}: {len(rows)}")
        for r in rows:
            where = (
                f"{r['host']}:{r['port']}"
                if "host" in r
                else f"zone {r.get('zone', '')} rack {r.get('rack', '')}"
            )
            generic = " (generic limits)" if r.get("generic_limits") else ""
            typer.echo(
                f"  {r.get('serial') or '-':24} {r.get('model') or '-':24} "
                f"{(r.get('profile') or '') + generic:26} {where}"
            )


def poll(
    config: Annotated[Path, typer.Option("--config", help="facility.yaml with a polling: section")],
    duration: Annotated[
        float,
        typer.Option("--duration", min=0, help="Stop after this many seconds (0 = until Ctrl-C)"),
    ] = 0.0,
) -> None:
    """Run the polling collector (Modbus devices, miner APIs, periodic discovery) into the
    configured store."""
    from minewatch.collector.polling import PollingCollector
    from minewatch.config import load_facility
    from minewatch.profiles import load_facility_profiles
    from minewatch.store import open_store

    setup_logging()
    cfg = load_facility(config)
    profiles = load_facility_profiles(cfg)
    store = open_store(cfg)
    collector = PollingCollector(cfg, store, profiles)
    done = threading.Event()
    if threading.current_thread() is threading.main_thread():  # signals can only be caught there
        signal.signal(signal.SIGINT, lambda *_: done.set())
        signal.signal(signal.SIGTERM, lambda *_: done.set())
    collector.start()
    typer.echo(
        f"polling {len(cfg.polling.modbus)} Modbus device(s) and {len(cfg.polling.miners)} "
        "miner(s); Ctrl-C stops"
    )
    deadline = time.monotonic() + duration if duration else None
    while not done.wait(1.0 if deadline else 30.0):
        if deadline and time.monotonic() >= deadline:
            break
    collector.stop()
    store.close()
    typer.echo(json.dumps(collector.stats(), sort_keys=True))


def miner_probe(
    address: Annotated[
        str, typer.Argument(help="HOST or HOST:PORT of the miner's API (port 4028)")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.05, help="Per-command timeout, seconds")
    ] = 5.0,
    config: Annotated[
        Path | None, typer.Option("--config", help="facility.yaml whose extra profiles to try")
    ] = None,
) -> None:
    """Identify one miner and print every metric minewatch decodes from it, with units; no facility
    configuration needed. Exit 0 when the miner was read, 1 with the reason when it was not."""
    from minewatch.collector.minerapi.probe import probe

    host, port = _host_port(address)
    _, profiles = _profiles(config)
    result = asyncio.run(probe(host, port, profiles, timeout_s=timeout))
    if as_json:
        typer.echo(json.dumps({**vars(result), "read": result.read}, indent=2, ensure_ascii=False))
    else:
        _print_probe(result)
    if not result.read:
        raise typer.Exit(1)


def _host_port(address: str) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT`` or ``[IPv6]:PORT``."""
    host, sep, port = address.rpartition(":")
    if not sep or (host.count(":") and not host.endswith("]")):  # bare host or bare IPv6
        return address.strip("[]"), 4028
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError([f"{address}: the port must be a number from 1 to 65535"])
    return host.strip("[]"), int(port)


def _print_probe(result: ProbeResult) -> None:
    typer.echo(f"{result.host}:{result.port}  state: {result.state}")
    typer.echo(f"model: {result.model or '-'}   firmware: {result.firmware or '-'}")
    generic = "  (generic limits: no profile for this exact model)" if result.generic_limits else ""
    typer.echo(f"profile: {result.profile or '-'}{generic}")
    for name, m in sorted(result.metrics.items()):
        typer.echo(f"  {name:28} {m['value']:>14g} {m['unit']}")
    for name, text in sorted(result.labels.items()):
        typer.echo(f"  {name:28} {text}")
    for line in result.problems:
        typer.echo(f"problem: {line}", err=True)


def register(app: typer.Typer) -> None:
    app.command("discover")(discover)
    app.command("poll")(poll)
    miner = typer.Typer(
        rich_markup_mode="markdown",
        help="One miner, on site: identify and read it.",
        no_args_is_help=True,
    )
    miner.command("probe")(miner_probe)
    app.add_typer(miner, name="miner")
