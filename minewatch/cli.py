"""The ``minewatch`` command. Each package adds its own sub-commands through ``<package>.commands.register``
so that a new command touches its own package only."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import typer

from minewatch.configfile import ConfigError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Energy and safety monitor for licensed mining facilities.")

#: Packages that contribute commands, in help order.
COMMAND_PACKAGES = ("minewatch.runtime", "collector", "analyzer", "api", "notifier", "simulator")


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
def schema(out_dir: Path = typer.Argument(Path("schemas"), help="Folder to write JSON Schemas into")) -> None:
    """Export JSON Schemas of facility.yaml and device profiles (editors use them to autocomplete)."""
    from minewatch.validation import json_schemas

    out_dir.mkdir(parents=True, exist_ok=True)
    for name, sch in json_schemas().items():
        (out_dir / f"{name}.schema.json").write_text(json.dumps(sch, indent=2) + "\n")
        typer.echo(f"wrote {out_dir / name}.schema.json")


def _register_all() -> None:
    for mod_name in COMMAND_PACKAGES:
        try:
            mod = importlib.import_module(f"{mod_name}.commands" if "." not in mod_name else mod_name)
        except ModuleNotFoundError as exc:
            if exc.name and (exc.name == mod_name or exc.name.startswith(f"{mod_name}.commands")):
                continue
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
