"""``minewatch import`` end to end: open the source (a file or stdin) and the store, feed every line
to the ``Importer`` with a progress bar (rate and ETA) on a terminal, write the reject file, and
return the summary."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from minewatch.collector.importer import Importer, detect_format, load_mapping
from minewatch.config.facility import FacilityConfig
from minewatch.errors import ConfigError
from minewatch.sample import now_ns
from minewatch.store import open_store

#: Lines between progress updates (an update per line would cost more than the parse).
UPDATE_EVERY = 2000


def run_import(
    cfg: FacilityConfig,
    source: str,
    fmt: str | None,
    mapping_path: Path | None,
    ts_unit: str,
    rejects_path: Path | None,
    progress: bool | None,
    local_tz: str | None = None,
) -> dict[str, Any]:
    path = None if source == "-" else Path(source)
    if path is not None and not path.is_file():
        raise ConfigError([f"{source}: no such file"])
    if local_tz is not None:
        try:
            ZoneInfo(local_tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                [f"--timezone: {local_tz!r} is not an IANA time zone (e.g. Asia/Ashgabat)"]
            ) from exc
    importer_fmt = detect_format(path, fmt)
    mapping = load_mapping(mapping_path)
    console = Console(stderr=True)
    show = console.is_terminal if progress is None else progress
    store = open_store(cfg)
    importer = Importer(
        store, mapping, importer_fmt, ts_unit, cfg.mqtt.max_future_s * 10**9, now_ns(), local_tz
    )
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        fh: IO[bytes] = sys.stdin.buffer if path is None else stack.enter_context(path.open("rb"))
        rejects = (
            stack.enter_context(rejects_path.open("w", encoding="utf-8"))
            if rejects_path is not None
            else None
        )
        bar = stack.enter_context(
            Progress(
                TextColumn("importing"),
                BarColumn(),
                TaskProgressColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TextColumn("{task.fields[lines]} lines"),
                TimeRemainingColumn(),
                console=console,
                disable=not show,
            )
        )
        task = bar.add_task("import", total=path.stat().st_size if path else None, lines=0)
        done = 0
        for lineno, raw in enumerate(fh, start=1):
            done += len(raw)
            importer.feed(lineno, raw.decode("utf-8", errors="replace"), rejects)
            if lineno % UPDATE_EVERY == 0:
                bar.update(task, completed=done, lines=lineno)
        importer.flush()
        bar.update(task, completed=done, lines=importer.summary.lines)
    if show:
        console.print("building hourly roll-ups for the imported hours (long reports read them)")
    rollup_samples = store.materialise_rollups()
    store.close()
    out = importer.summary.as_dict()
    out["rollup_samples"] = rollup_samples
    out["seconds"] = round(time.monotonic() - started, 3)
    out["format"] = importer_fmt
    if rejects_path is not None:
        out["rejects_file"] = str(rejects_path)
    return out
