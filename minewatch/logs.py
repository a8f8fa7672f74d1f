"""Logging set-up shared by every long-running command: one format, and libraries kept at WARNING.

Libraries log per request at INFO (httpx logs every InfluxDB write: 10,697 of 10,765 lines of a
5-minute ``collect`` run), which buries minewatch's own lines — one per state change."""

from __future__ import annotations

import logging
import sys

#: Loggers that chatter at INFO/DEBUG about routine traffic; their WARNINGs and ERRORs still show.
NOISY = ("amqtt", "transitions", "pymodbus", "uvicorn.error", "httpx", "httpcore", "paho")


def setup_logging(level: int | str = logging.INFO) -> None:
    logging.basicConfig(
        level=level.upper() if isinstance(level, str) else level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
