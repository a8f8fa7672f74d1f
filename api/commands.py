"""CLI: ``verify-report``, the inspector's check of a report file against its ``.sig``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import orjson
import typer

from minewatch.api.report_signature import verify_file
from minewatch.i18n import LANGUAGES, gettext_for, locale_language
from minewatch.notifier.signing import KeyFileError


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
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang", help="en, ru or tk; default from LC_ALL / LC_MESSAGES / LANG, else English"
        ),
    ] = None,
) -> None:
    """Check that a report file is exactly the one the facility signed: its SHA-256 and the
    facility's Ed25519 signature. Exit 0 when valid, 1 when not, 2 when a file cannot be read."""
    chosen = lang if lang in LANGUAGES else locale_language(os.environ)
    _ = gettext_for(chosen)
    sig_path = sig or report.with_name(report.name + ".sig")
    try:
        data = report.read_bytes()
        signature = orjson.loads(sig_path.read_bytes())
    except OSError as exc:
        typer.echo(
            _("cannot read {file}: {reason}").format(file=exc.filename, reason=exc.strerror),
            err=True,
        )
        raise typer.Exit(2) from None
    except orjson.JSONDecodeError:
        signature = None
    if not isinstance(signature, dict):
        typer.echo(
            _("{file}: not a signature file (expected a JSON object)").format(file=sig_path),
            err=True,
        )
        raise typer.Exit(2)
    try:
        result = verify_file(data, signature, key or None, chosen)
    except KeyFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    for line in result.lines:
        typer.echo(line)
    verdict = _("VALID") if result.valid else _("NOT VALID")
    typer.echo(f"{report}: {verdict}")
    raise typer.Exit(0 if result.valid else 1)


def register(app: typer.Typer) -> None:
    app.command("verify-report")(verify_report)
