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

import typer

from minewatch.configfile import ConfigError


def _profiles(config: Path | None):  # type: ignore[no-untyped-def]
    from minewatch.config import load_facility
    from minewatch.profiles import load_facility_profiles, load_profiles

    cfg = load_facility(config) if config else None
    return cfg, (load_facility_profiles(cfg) if cfg is not None else load_profiles())


def discover(
    subnet: list[str] = typer.Option(
        ..., "--subnet", help="CIDR range to scan (repeatable), e.g. 10.1.0.0/24"
    ),
    port: list[int] = typer.Option([4028], "--port", help="Miner API port(s) to probe"),
    modbus: bool = typer.Option(False, "--modbus", help="Also probe Modbus TCP"),
    modbus_port: int = typer.Option(502, "--modbus-port"),
    registry: Path | None = typer.Option(
        None, "--registry", help="Equipment registry CSV (serial,model,zone,rack)"
    ),
    config: Path | None = typer.Option(
        None, "--config", help="facility.yaml: extra profiles, registry, host→serial map"
    ),
    timeout: float = typer.Option(1.0, "--timeout", min=0.05, help="Per-probe timeout, seconds"),
    concurrency: int = typer.Option(256, "--concurrency", min=1),
    max_hosts: int = typer.Option(65536, "--max-hosts", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON"),
) -> None:
    """Find miners (and Modbus devices) on a network and compare them with the registry:
    registered and seen, registered but missing, seen but NOT registered, seen but unidentified."""
    from minewatch.collector.discovery import compare, hosts_of, known_hosts, miner_registry, scan
    from minewatch.registry import load_registry

    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
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
            typer.echo(
                f"  {r.get('serial') or '-':24} {r.get('model') or '-':24} {r.get('profile') or '':26} {where}"
            )


def poll(
    config: Path = typer.Option(..., "--config", help="facility.yaml with a polling: section"),
    duration: float = typer.Option(
        0.0, "--duration", min=0, help="Stop after this many seconds (0 = until Ctrl-C)"
    ),
) -> None:
    """Run the polling collector (Modbus devices, miner APIs, periodic discovery) into the
    configured store."""
    from minewatch.collector.polling import PollingCollector
    from minewatch.store import open_store

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    cfg, profiles = _profiles(config)
    store = open_store(cfg)
    collector = PollingCollector(cfg, store, profiles)
    done = threading.Event()
    if threading.current_thread() is threading.main_thread():  # signals can only be caught there
        signal.signal(signal.SIGINT, lambda *_: done.set())
        signal.signal(signal.SIGTERM, lambda *_: done.set())
    collector.start()
    typer.echo(
        f"polling {len(cfg.polling.modbus)} Modbus device(s) and {len(cfg.polling.miners)} miner(s); Ctrl-C stops"
    )
    deadline = time.monotonic() + duration if duration else None
    while not done.wait(1.0 if deadline else 30.0):
        if deadline and time.monotonic() >= deadline:
            break
    collector.stop()
    store.close()
    typer.echo(json.dumps(collector.stats(), sort_keys=True))


def register(app: typer.Typer) -> None:
    app.command("discover")(discover)
    app.command("poll")(poll)
