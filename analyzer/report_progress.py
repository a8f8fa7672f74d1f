"""Progress of a long report on a terminal (stderr): a bar over the period replayed, with the rate
(days of data per second) and the time remaining. Silent when stderr is not a terminal, so piped and
scheduled reports stay clean."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

DAY_NS = 86400 * 10**9


@contextmanager
def report_progress(force: bool | None = None) -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(done_ns, total_ns)`` callback for ``build_report``; None off a terminal."""
    console = Console(stderr=True)
    if not (console.is_terminal if force is None else force):
        yield None
        return
    with Progress(
        TextColumn("report"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:.1f} days replayed"),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("report", total=None)

        def update(done_ns: int, total_ns: int) -> None:
            bar.update(task, completed=done_ns / DAY_NS, total=total_ns / DAY_NS)

        yield update
