"""CLI: ``minewatch hub serve | register | add-key``. The database URL is a secret when it holds a
password, so it is read from ``MINEWATCH_HUB_DB`` unless ``--db`` gives it."""

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
RegulatorKeys = Annotated[
    Path,
    typer.Option(
        "--regulator-keys",
        envvar="MINEWATCH_HUB_REGULATOR_KEYS",
        help="Folder of the regulator's signing key (created with the key the first time)",
    ),
]


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
    hub = typer.Typer(
        rich_markup_mode="markdown",
        no_args_is_help=True,
        help="The central bank's service (minewatch hub).",
    )
    app.add_typer(hub, name="hub")

    @hub.command("serve")
    def serve(
        db: Db,
        regulator_keys: RegulatorKeys,
        host: Annotated[str, typer.Option(help="Listen address")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Listen port")] = 8090,
        window: Annotated[float, typer.Option(help="Timestamp window, seconds")] = 300.0,
    ) -> None:
        """Ingest facility messages and serve the staff API and page (put TLS in front)."""
        import uvicorn

        from minewatch.hub.service import Hub

        part = Hub(db, window_s=window, regulator_keys=regulator_keys)
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
        notifiable: Annotated[
            list[str] | None, typer.Option(help="Licence term: a notifiable rule id (repeat)")
        ] = None,
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
                    terms=LicenceTerms(
                        heartbeat_interval_s=heartbeat_interval_s, notifiable=notifiable or []
                    ),
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

    @hub.command("regulator-key")
    def regulator_key(regulator_keys: RegulatorKeys) -> None:
        """Print the regulator's public key (PEM), for facilities to pin as
        ``notify.central_bank.regulator_key_file``; creates the key the first time."""
        from minewatch.hub.terms import regulator_signer
        from minewatch.notifier.signing import KeyStore, public_pem

        kid = regulator_signer(regulator_keys).key_id
        typer.echo(public_pem(KeyStore(regulator_keys).public_keys()[kid]), nl=False)

    @hub.command("issue-terms")
    def issue_terms(
        db: Db,
        regulator_keys: RegulatorKeys,
        facility: Annotated[str, typer.Option(help="Facility id")],
        out: Annotated[Path, typer.Option(help="File to write the signed terms to")],
        valid_days: Annotated[float, typer.Option(min=1, help="Validity of this issue")] = 90.0,
    ) -> None:
        """Write a facility's signed licence terms to a file, for a site that is offline (installed
        there with ``minewatch licence install FILE``)."""
        import time

        from minewatch.hub.terms import issue, regulator_signer

        with _register(db) as reg:
            signed = issue(
                reg,
                facility,
                regulator_signer(regulator_keys),
                now_ns=time.time_ns(),
                validity_s=valid_days * 86400,
            )
        out.write_bytes(signed)
        typer.echo(f"signed licence terms of {facility} written to {out}")
