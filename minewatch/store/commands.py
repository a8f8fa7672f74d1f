"""``minewatch store init|spool-status|replay``: operate the telemetry store and its outage
spool."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from minewatch.config import load_facility
from minewatch.logs import setup_logging
from minewatch.store.base import StoreUnavailable

CONFIG = typer.Option(..., "--config", "-c", help="facility.yaml")


def register(app: typer.Typer) -> None:
    store_app = typer.Typer(
        rich_markup_mode="markdown", no_args_is_help=True, help="Telemetry store and outage spool."
    )
    app.add_typer(store_app, name="store")

    @store_app.command("init")
    def init(config: Path = CONFIG) -> None:
        """Connect once: check credentials, create the database/bucket, retention and DBRP
        mapping."""
        from minewatch.store import open_backend
        from minewatch.store.influx_http import StoreAuthError

        setup_logging()
        cfg = load_facility(config)
        try:
            store = open_backend(cfg)
        except StoreAuthError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        try:
            connect = getattr(store, "connect", None)
            if connect is not None:
                connect()
        except StoreUnavailable as exc:
            typer.echo(f"store not reachable: {exc}", err=True)
            raise typer.Exit(1) from None
        finally:
            store.close()
        typer.echo(f"{cfg.storage.backend} store ready")

    @store_app.command("spool-status")
    def spool_status(config: Path = CONFIG) -> None:
        """What the spool holds (batches, samples, bytes, quarantined), as JSON."""
        from minewatch.store import open_spool

        spool = open_spool(load_facility(config))
        try:
            typer.echo(json.dumps({"path": str(spool.path), **spool.stats()}, indent=2))
        finally:
            spool.close()

    @store_app.command("replay")
    def replay(config: Path = CONFIG) -> None:
        """Send everything spooled to the store now, oldest first; exit 1 if the store is still
        down."""
        from minewatch.store import open_store

        store = open_store(load_facility(config))
        sent = 0
        try:
            while n := store.replay_once():
                sent += n
        except StoreUnavailable as exc:
            typer.echo(f"replayed {sent} samples, then the store was unavailable: {exc}", err=True)
            raise typer.Exit(1) from None
        finally:
            store.close()
        typer.echo(f"replayed {sent} samples; spool empty")
