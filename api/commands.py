"""``minewatch serve --config facility.yaml``: the API and page alone, over the shared store.

This is how the API runs as its own process (docker-compose): the collector and the analyzer
write the same store and state database from their own processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        config: Annotated[Path, typer.Option("--config", "-c", help="facility.yaml")],
        host: Annotated[
            str | None, typer.Option(help="Listen address (default: api.host from the config)")
        ] = None,
        port: Annotated[
            int | None, typer.Option(help="Listen port (default: api.port from the config)")
        ] = None,
    ) -> None:
        """Serve the HTTP API and the live page from the store other processes write."""
        from minewatch.runtime import Runtime, setup_logging

        setup_logging()
        rt = Runtime.from_config(config, writes=False)
        # acks, silences and orders made here reach the ledger (`notify` delivers them)
        rt.add_notifier()
        rt.add_api(host=host, port=port)
        raise typer.Exit(rt.supervisor.run(on_started=rt.announce))
