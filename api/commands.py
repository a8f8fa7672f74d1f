"""CLI: ``verify-report``, the inspector's check of a report file against its ``.sig``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from minewatch.api.report_signature import verify_file


def verify_report(
    report: Annotated[Path, typer.Argument(help="The report file (PDF, JSON or CSV)")],
    sig: Annotated[
        Path | None, typer.Option("--sig", help="Its signature file; default <report>.sig")
    ] = None,
    key: Annotated[
        list[Path] | None,
        typer.Option(
            "--key",
            help="Trusted facility public key (.pub) or a folder of them, e.g. the keys the "
            "central bank registered; without it the key in the .sig is used",
        ),
    ] = None,
) -> None:
    """Check that a report file is exactly the one the facility signed: its SHA-256 and the
    facility's Ed25519 signature. Exit 0 when valid, 1 when not."""
    sig_path = sig or report.with_name(report.name + ".sig")
    try:
        data = report.read_bytes()
        signature = orjson.loads(sig_path.read_bytes())
    except OSError as exc:
        typer.echo(f"cannot read {exc.filename}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    except orjson.JSONDecodeError as exc:
        typer.echo(f"{sig_path}: not a signature file ({exc})", err=True)
        raise typer.Exit(2) from None
    if not isinstance(signature, dict):
        typer.echo(f"{sig_path}: not a signature file (expected a JSON object)", err=True)
        raise typer.Exit(2)
    result = verify_file(data, signature, key or None)
    for line in result.lines:
        typer.echo(line)
    typer.echo(f"{report}: {'VALID' if result.valid else 'NOT VALID'}")
    raise typer.Exit(0 if result.valid else 1)


def register(app: typer.Typer) -> None:
    app.command("verify-report")(verify_report)
