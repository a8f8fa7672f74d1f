"""The ``minewatch`` command. Each package adds its own sub-commands through
``<package>.commands.register``, so a new command touches its own package and one line here."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Annotated

import typer

from minewatch import __version__, runtime
from minewatch.analyzer import commands as analyzer_commands
from minewatch.api import commands as api_commands
from minewatch.collector import commands as collector_commands
from minewatch.collector.polling import commands as polling_commands
from minewatch.errors import ConfigError, StoreUnavailable
from minewatch.hub import commands as hub_commands
from minewatch.i18n import gettext_for, locale_language
from minewatch.notifier import commands as notifier_commands
from minewatch.resources import example_config, shipped
from minewatch.simulator import commands as simulator_commands
from minewatch.store import commands as store_commands
from minewatch.validation import check_broker, check_facility, json_schemas
from minewatch.wiring import event_bus


def _(message: str) -> str:
    """What the CLI says to a person, in the terminal's language (``LC_ALL``, ``LC_MESSAGES``,
    ``LANG``); technical detail (paths, config keys, validation messages) stays as written."""
    return gettext_for(locale_language(os.environ))(message)


app = typer.Typer(
    # Markdown joins the lines of a docstring's paragraph, as wrapped in the source, into one.
    rich_markup_mode="markdown",
    no_args_is_help=True,
    add_completion=False,
    help="Energy and safety monitor for licensed mining facilities.",
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"minewatch {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Energy and safety monitor for licensed mining facilities."""


@app.command("check-config")
def check_config(
    path: Annotated[Path, typer.Argument(help="facility.yaml to check")],
    broker: Annotated[
        bool, typer.Option("--broker", help="Also probe the MQTT broker: sessions, queueing, QoS")
    ] = False,
) -> None:
    """Validate a facility file, its registry and every profile it uses; list every problem."""
    problems = check_facility(path)
    if broker and not problems:
        problems = check_broker(path)
    if problems:
        for p in problems:
            typer.echo(p, err=True)
        typer.echo(_("{count} problem(s) found").format(count=len(problems)), err=True)
        raise typer.Exit(1)
    typer.echo(_("{path}: OK").format(path=path))


@app.command("schema")
def schema(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write JSON Schemas into")] = Path(
        "schemas"
    ),
) -> None:
    """Export JSON Schemas of facility.yaml and device profiles, which editors use to
    autocomplete."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, sch in json_schemas().items():
        (out_dir / f"{name}.schema.json").write_text(json.dumps(sch, indent=2) + "\n")
        typer.echo(_("wrote {file}").format(file=f"{out_dir / name}.schema.json"))


@app.command("example")
def example(
    dest: Annotated[Path, typer.Argument(help="Folder to copy the example facility into")],
) -> None:
    """Copy the shipped example facility (facility.example.yaml and its registry) to start from."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for src in (example_config(), shipped("examples", "registry.example.csv")):
        target = dest / src.name
        if target.exists():
            raise ConfigError([_("{file}: already exists; not overwriting it").format(file=target)])
        shutil.copyfile(src, target)
        written.append(target)
    for target in written:
        typer.echo(_("wrote {file}").format(file=target))
    typer.echo(_("next: edit them, then `minewatch check-config {file}`").format(file=written[0]))


#: Each module's ``register(app)`` adds its commands, in help order.
for _commands in (
    runtime,
    store_commands,
    collector_commands,
    polling_commands,
    notifier_commands,
    simulator_commands,
    hub_commands,
    api_commands,
):
    _commands.register(app)
analyzer_commands.register(
    app, bus_factory=lambda cfg, store: event_bus(cfg, store, deliver=False)[0]
)


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        for p in exc.problems:
            typer.echo(p, err=True)
        raise SystemExit(2) from None
    except StoreUnavailable as exc:  # e.g. a read-only or missing data folder: one line, the path
        typer.echo(f"minewatch: {exc}", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
