"""CLI: ``minewatch hub serve | register | add-key``. The database URL is a secret when it holds
a password, so it is read from ``MINEWATCH_HUB_DB`` unless ``--db`` gives it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from minewatch.hub.register import Register

DB_HELP = "postgresql://user@host/db or a SQLite file (env MINEWATCH_HUB_DB)"
Db = Annotated[str, typer.Option("--db", envvar="MINEWATCH_HUB_DB", help=DB_HELP)]


@contextmanager
def _register(url: str) -> Iterator[Register]:
    """The register of the hub database at ``url``, migrated first, closed after."""
    from minewatch.hub.db import Database
    from minewatch.hub.migrations import migrate
    from minewatch.hub.register import Register

    database = Database(url)
    try:
        migrate(database)
        yield Register(database)
    finally:
        database.close()


def register(app: typer.Typer) -> None:
    hub = typer.Typer(no_args_is_help=True, help="The central bank's service (minewatch hub).")
    app.add_typer(hub, name="hub")

    @hub.command("serve")
    def serve(
        db: Db,
        host: Annotated[str, typer.Option(help="Listen address")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Listen port")] = 8090,
        window: Annotated[float, typer.Option(help="Timestamp window, seconds")] = 300.0,
    ) -> None:
        """Ingest facility messages and serve the staff API and page (put TLS in front)."""
        import uvicorn

        from minewatch.hub.service import Hub

        part = Hub(db, window_s=window)
        part.start()
        try:
            uvicorn.run(part.app, host=host, port=port, access_log=False, log_level="warning")
        finally:
            part.stop()

    @hub.command("register")
    def register_facility(
        db: Db,
        facility: Annotated[str, typer.Option(help="Facility id")],
        licence: Annotated[str, typer.Option(help="Licence number")],
        holder: Annotated[str, typer.Option(help="Licence holder")],
        capacity_kw: Annotated[float, typer.Option(help="Licensed capacity, kW")],
        heartbeat_interval_s: Annotated[float, typer.Option(help="Licence term")] = 300.0,
        public_key: Annotated[Path | None, typer.Option(help="The facility's PEM key")] = None,
    ) -> None:
        """Add a licensed facility (or update its licence terms), optionally with its key."""
        from minewatch.hub.register import Licence, LicenceTerms

        with _register(db) as reg:
            reg.register(
                Licence(
                    facility_id=facility,
                    licence_number=licence,
                    holder=holder,
                    capacity_kw=capacity_kw,
                    terms=LicenceTerms(heartbeat_interval_s=heartbeat_interval_s),
                )
            )
            typer.echo(f"registered {facility} ({licence})")
            if public_key is not None:
                kid = reg.add_key(facility, public_key.read_text())
                typer.echo(f"key {kid} bound to {facility}")

    @hub.command("add-key")
    def add_key(
        db: Db,
        facility: Annotated[str, typer.Option(help="Facility id")],
        public_key: Annotated[Path, typer.Option(help="The facility's new PEM public key")],
        retire_others_after_s: Annotated[
            float | None, typer.Option(help="Rotation: the older keys stop being valid after")
        ] = None,
    ) -> None:
        """Bind a (rotated) public key to its facility."""
        with _register(db) as reg:
            kid = reg.add_key(
                facility, public_key.read_text(), retire_others_after_s=retire_others_after_s
            )
        typer.echo(f"key {kid} bound to {facility}")
