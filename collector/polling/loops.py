"""An asyncio event loop running a set of tasks in its own thread, stoppable from any thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

#: A job: called once in the loop, runs until cancelled.
Job = Callable[[], Coroutine[Any, Any, None]]


class LoopThread:
    """``start(jobs)`` runs each job as a task; ``stop()`` cancels them, runs ``finish`` and
    joins."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()

    def start(
        self,
        jobs: Sequence[Job],
        finish: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(jobs, finish), name=self.name, daemon=True
        )
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError(f"{self.name}: event loop did not start")

    def _run(
        self,
        jobs: Sequence[Job],
        finish: Callable[[], Awaitable[None]] | None,
    ) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop

        async def main() -> None:
            self._stopping = asyncio.Event()
            tasks = [asyncio.create_task(job()) for job in jobs]
            self._ready.set()
            await self._stopping.wait()
            pending = set(tasks)
            while pending:
                for t in pending:
                    t.cancel()
                # a cancellation can be swallowed (Python 3.11's wait_for race, libraries catching
                # it):
                # whatever is still running after a moment is cancelled again
                _, pending = await asyncio.wait(pending, timeout=0.5)
            if finish is not None:
                await finish()

        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    @property
    def stopping(self) -> bool:
        return self._stopping is not None and self._stopping.is_set()

    def stop(self) -> None:
        if self._thread is None or self.loop is None or self._stopping is None:
            return
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(60)
        self._thread = None
