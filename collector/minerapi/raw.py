"""Keeping the raw bytes of replies that could not be parsed, for diagnosis and regression tests."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RawReply:
    at_ns: int
    device: str
    command: str
    reason: str
    raw: bytes


class RawKeeper:
    """The last ``keep`` unparseable replies in memory and, with a folder, on disk (oldest
    pruned)."""

    def __init__(self, folder: Path | None = None, keep: int = 200) -> None:
        self.folder = folder
        self.keep = keep
        self._recent: deque[RawReply] = deque(maxlen=keep)
        self._lock = threading.Lock()
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def add(self, device: str, command: str, reason: str, raw: bytes) -> None:
        item = RawReply(time.time_ns(), device, command, reason, raw)
        with self._lock:
            self._recent.append(item)
        if self.folder is not None:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in device)
            (self.folder / f"{item.at_ns}-{safe}-{command}-{reason}.raw").write_bytes(raw)
            files = sorted(self.folder.glob("*.raw"))
            for old in files[: max(0, len(files) - self.keep)]:
                old.unlink(missing_ok=True)

    def recent(self) -> list[RawReply]:
        with self._lock:
            return list(self._recent)
