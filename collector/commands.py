"""``minewatch collect``: the collectors of one facility as their own process."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from minewatch.collector.import_run import run_import
from minewatch.collector.mqtt import MqttCollector
from minewatch.collector.polling import PollingCollector
from minewatch.config import load_facility
from minewatch.config.facility import FacilityConfig
from minewatch.config.polling import PollingSettings
from minewatch.db import disk_state
from minewatch.errors import ConfigError
from minewatch.logs import setup_logging
from minewatch.profiles import load_facility_profiles
from minewatch.registry import facility_registry
from minewatch.store import TelemetryStore, open_store

log = logging.getLogger(__name__)


def build_collectors(cfg: FacilityConfig, store: TelemetryStore) -> list[Any]:
    """The MQTT collector, plus the polling collector when the facility lists polled devices."""
    profiles = load_facility_profiles(cfg)
    registry = facility_registry(cfg, profiles)
    parts: list[Any] = []
    if cfg.device_groups:
        parts.append(MqttCollector(cfg, store, profiles, registry))
    if cfg.polling.modbus or cfg.polling.miners:
        parts.append(PollingCollector(cfg, store, profiles, registry=registry))
    return parts


STATUS_EVERY_S = 5.0


class StatusWriter:
    """Atomically replaces ``<status_dir>/<name>.json`` with a part's counters, so that an API
    running as another process can show collector health (``minewatch collect`` runs alone).

    A full or read-only disk must not end collection (a crash under a restart policy becomes a crash
    loop, and without one collection just stops), so a failed write is logged once, when the folder
    stops taking writes, and once when it takes them again."""

    def __init__(self, status_dir: Path) -> None:
        self.status_dir = status_dir
        self.failing = False

    def write(self, name: str, stats: dict[str, Any]) -> None:
        tmp = self.status_dir / f".{name}.json.tmp"
        try:
            self.status_dir.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(
                orjson.dumps({"at_ns": time.time_ns(), "pid": os.getpid(), **stats}, default=str)
            )
            os.replace(tmp, self.status_dir / f"{name}.json")
        except OSError as exc:
            if not self.failing:
                log.error(
                    "cannot write the status file %s: %s (%s); collecting goes on",
                    tmp.with_name(f"{name}.json"),
                    exc.strerror or exc,
                    disk_state(self.status_dir),
                )
            self.failing = True
            return
        if self.failing:
            log.warning("status files in %s are written again", self.status_dir)
        self.failing = False


def run_until_signalled(
    parts: list[Any], status_dir: Path | None = None, report_every_s: float = 60.0
) -> None:
    """Start ``parts`` in order; every few seconds write their stats to ``status_dir`` and now and
    then log them; on SIGINT/SIGTERM stop them in reverse order."""
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    for p in parts:
        p.start()
    status = StatusWriter(status_dir) if status_dir is not None else None
    next_report = time.monotonic() + report_every_s
    try:
        while not done.wait(STATUS_EVERY_S):
            report = time.monotonic() >= next_report
            for p in parts:
                st = p.stats()
                if status is not None:
                    status.write(status_name(p), st)
                if report:
                    log.info(
                        "%s: %s",
                        type(p).__name__,
                        {
                            k: v
                            for k, v in st.items()
                            if not isinstance(v, (list, dict)) or k == "rejected_total"
                        },
                    )
            if report:
                next_report += report_every_s
    finally:
        for p in reversed(parts):
            p.stop()
            if status is not None:
                status.write(status_name(p), {**p.stats(), "stopped": True})


def status_name(part: Any) -> str:
    """``collector-mqtt-<client id>`` (several MQTT collectors may share a site),
    ``collector-polling``, ``store`` (the spooling store's counters)."""
    name = type(part).__name__
    if not name.endswith("Collector"):
        return "store"
    client_id = getattr(getattr(part, "settings", None), "client_id", None)
    kind = name.removesuffix("Collector").lower()
    return f"collector-{kind}-{client_id}" if client_id else f"collector-{kind}"


def register(app: typer.Typer) -> None:
    @app.command("import")
    def import_history(
        source: Annotated[str, typer.Argument(help="File to import, or - for stdin")],
        config: Annotated[Path, typer.Option("--config", "-c", help="facility.yaml")],
        fmt: Annotated[
            str | None,
            typer.Option("--format", help="jsonl, csv or line (default: from the file name)"),
        ] = None,
        mapping: Annotated[
            Path | None,
            typer.Option(help="YAML: devices/metrics renames, device_info (kind, role, ...)"),
        ] = None,
        ts_unit: Annotated[
            str, typer.Option(help="Unit of numeric timestamps: auto, s, ms, us, ns")
        ] = "auto",
        rejects: Annotated[
            Path | None,
            typer.Option(help="Write each rejected line here: line number, reason, the line"),
        ] = None,
        progress: Annotated[
            bool | None, typer.Option(help="Progress bar (default: on a terminal)")
        ] = None,
        timezone: Annotated[
            str | None,
            typer.Option(
                help="IANA zone (e.g. Asia/Ashgabat) for timestamps written without one; "
                "without it such lines are rejected"
            ),
        ] = None,
    ) -> None:
        """Import telemetry history (JSON lines, CSV long or wide, InfluxDB line protocol) into the
        facility's store with its original timestamps. Idempotent: importing again stores each
        (device, metric, time) once."""
        cfg = load_facility(config)
        try:
            summary = run_import(cfg, source, fmt, mapping, ts_unit, rejects, progress, timezone)
        except ConfigError as exc:
            for p in exc.problems:
                typer.echo(p, err=True)
            raise typer.Exit(2) from exc
        typer.echo(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())

    @app.command("collect")
    def collect(
        config: Annotated[Path, typer.Option("--config", "-c", help="facility.yaml")],
        log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING, ERROR")] = "INFO",
        report_every_s: Annotated[
            float, typer.Option(help="How often to log the collectors' counters")
        ] = 60.0,
        client_id: Annotated[
            str | None,
            typer.Option(
                "--client-id",
                help="Override mqtt.client_id: each process of a scaled-out site needs its own",
            ),
        ] = None,
        mqtt_only: Annotated[
            bool,
            typer.Option(
                "--mqtt-only",
                help="Skip polled devices (for the extra MQTT processes of a scaled-out site)",
            ),
        ] = False,
    ) -> None:
        """Collect telemetry (MQTT, and Modbus/miner APIs when configured) into the store until
        stopped.

        To spread MQTT intake over several processes, set mqtt.shared_group and start one `collect
        --client-id <unique>` per process (all but one with --mqtt-only)."""
        setup_logging(log_level)
        cfg = load_facility(config)
        if client_id:
            cfg = cfg.model_copy(
                update={"mqtt": cfg.mqtt.model_copy(update={"client_id": client_id})}
            )
        if mqtt_only:
            cfg = cfg.model_copy(update={"polling": PollingSettings()})
        store = open_store(cfg)
        parts = build_collectors(cfg, store)
        if not parts:
            typer.echo(
                f"{config}: no device_groups and no polled devices: nothing to collect", err=True
            )
            raise typer.Exit(2)
        started = time.monotonic()
        # The store goes first so it stops last: its spool replayer outlives the collectors' final
        # writes.
        run_until_signalled([store, *parts], cfg.data_dir / "status", report_every_s)
        store.close()
        log.info("collector stopped after %.0f s", time.monotonic() - started)
