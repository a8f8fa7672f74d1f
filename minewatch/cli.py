"""The ``minewatch`` command. Each package adds its own sub-commands through
``<package>.commands.register``
so that a new command touches its own package only."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import typer

from minewatch.configfile import ConfigError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Energy and safety monitor for licensed mining facilities.",
)

#: Modules that contribute commands (each has ``register(app)``), in help order. A module that does
#: not exist yet is skipped, so a package can be added without touching this file twice.
COMMAND_MODULES = (
    "minewatch.runtime",
    "minewatch.store.commands",
    "minewatch.collector.commands",
    "minewatch.collector.polling.commands",
    "minewatch.analyzer.commands",
    "minewatch.api.commands",
    "minewatch.notifier.commands",
    "minewatch.simulator.commands",
)


@app.command("check-config")
def check_config(path: Path = typer.Argument(..., help="facility.yaml to check")) -> None:
    """Validate a facility file, its registry and every profile it uses; list every problem."""
    from minewatch.validation import check_facility

    problems = check_facility(path)
    if problems:
        for p in problems:
            typer.echo(p, err=True)
        typer.echo(f"{len(problems)} problem(s) found", err=True)
        raise typer.Exit(1)
    typer.echo(f"{path}: OK")


@app.command("schema")
def schema(
    out_dir: Path = typer.Argument(Path("schemas"), help="Folder to write JSON Schemas into"),
) -> None:
    """Export JSON Schemas of facility.yaml and device profiles (editors use them to autocomplete)."""
    from minewatch.validation import json_schemas

    out_dir.mkdir(parents=True, exist_ok=True)
    for name, sch in json_schemas().items():
        (out_dir / f"{name}.schema.json").write_text(json.dumps(sch, indent=2) + "\n")
        typer.echo(f"wrote {out_dir / name}.schema.json")


def _register_all() -> None:
    for mod_name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            if exc.name and mod_name.startswith(exc.name):
                continue  # that package or module does not exist (yet)
            raise
        register = getattr(mod, "register", None)
        if register:
            register(app)


_register_all()


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        for p in exc.problems:
            typer.echo(p, err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
