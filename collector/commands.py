"""``minewatch collect``: the collectors of one facility as their own process."""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from minewatch.config.facility import FacilityConfig
    from minewatch.store import TelemetryStore

log = logging.getLogger(__name__)


def build_collectors(cfg: FacilityConfig, store: TelemetryStore) -> list[Any]:
    """The MQTT collector, plus the polling collector when the facility lists polled devices."""
    from collector.context import facility_profiles, facility_registry
    from collector.mqtt import MqttCollector

    profiles = facility_profiles(cfg)
    registry = facility_registry(cfg, profiles)
    parts: list[Any] = []
    if cfg.device_groups:
        parts.append(MqttCollector(cfg, store, profiles, registry))
    if cfg.polling.modbus or cfg.polling.miners:
        try:
            from collector.polling import PollingCollector
        except ModuleNotFoundError as exc:
            log.warning("facility lists polled devices but the polling collector is not installed (%s)", exc)
        else:
            parts.append(PollingCollector(cfg, store, profiles, registry=registry))
    return parts


def run_until_signalled(parts: list[Any], report_every_s: float = 60.0) -> None:
    """Start ``parts``, log their stats now and then, stop them all on SIGINT/SIGTERM."""
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    for p in parts:
        p.start()
    try:
        while not done.wait(report_every_s):
            for p in parts:
                st = p.stats()
                log.info("%s: %s", type(p).__name__,
                         {k: v for k, v in st.items() if not isinstance(v, (list, dict)) or k == "rejected_total"})
    finally:
        for p in reversed(parts):
            p.stop()


def register(app: typer.Typer) -> None:
    @app.command("collect")
    def collect(
        config: Path = typer.Option(..., "--config", "-c", help="facility.yaml"),
        log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING, ERROR"),
        report_every_s: float = typer.Option(60.0, help="How often to log the collectors' counters"),
    ) -> None:
        """Collect telemetry (MQTT, and Modbus/miner APIs when configured) into the store until stopped."""
        from minewatch.config import load_facility
        from minewatch.store import open_store

        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        cfg = load_facility(config)
        store = open_store(cfg)
        parts = build_collectors(cfg, store)
        if not parts:
            typer.echo(f"{config}: no device_groups and no polled devices: nothing to collect", err=True)
            raise typer.Exit(2)
        started = time.monotonic()
        run_until_signalled(parts, report_every_s)
        store.close()
        log.info("collector stopped after %.0f s", time.monotonic() - started)
