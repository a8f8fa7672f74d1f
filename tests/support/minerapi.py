"""Helpers for miner-API tests: start simulated miners on loopback and poll them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from minewatch.simulator.miner_api import MinerApiServer, RigValues, SimMiner
from minewatch.simulator.miner_api_fleet import sim_miner_for
from tests.support.ports import free_port


def sim_miner(profile: str, serial: str, **kw: object) -> SimMiner:
    """A miner of ``profile`` with stand-in values; rig fields (power_w, ...) and SimMiner options
    mixed."""
    rig_kw = {k: kw.pop(k) for k in list(kw) if k in RigValues.__dataclass_fields__}
    return sim_miner_for(RigValues(serial, **rig_kw), profile, **kw)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running(
    miners: list[SimMiner], host: str = "127.0.0.1", port: int | None = None
) -> AsyncIterator[list[MinerApiServer]]:
    """One server per miner: on free ports of ``host``, or all on ``port`` of distinct 127.0.0.x
    hosts."""
    servers = []
    for i, m in enumerate(miners):
        h = host if port is None else f"127.0.0.{i + 1}"
        servers.append(MinerApiServer(m, h, port or free_port()))
    for s in servers:
        await s.start()
    try:
        yield servers
    finally:
        for s in servers:
            await s.stop()


CAPTURES = Path(__file__).resolve().parent.parent / "captures" / "foreman"


def capture_cases() -> dict[str, dict[str, Any]]:
    """The captured cases and their hand-derived expectations (tests/captures/foreman/expected.yaml;
    a case's ``folder`` names replies kept elsewhere under tests/captures)."""
    return yaml.safe_load((CAPTURES / "expected.yaml").read_text())


@dataclass
class ReplayMiner:
    """A miner that answers with replies captured from real firmware, byte for byte, then the NUL
    cgminer ends every reply with; a command it has no capture of gets cgminer's own refusal
    (API-README: code 14 "Invalid command"), as a real miner refuses what it does not know."""

    case: str
    folder: str = ""
    hang: bool = False
    rig: Any = field(default_factory=lambda: type("Rig", (), {"online": True})())
    replies: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        folder = CAPTURES.parent / self.folder if self.folder else CAPTURES / self.case
        if not folder.is_dir():
            raise ValueError(f"no captured replies for {self.case!r} under {CAPTURES}")
        self.replies = {f.stem: f.read_bytes() for f in folder.glob("*.raw")}

    def reply(self, command: str, new_api: bool = False) -> bytes:
        del new_api  # these firmwares predate the new_api form and ignore the parameter
        if command in self.replies:
            return self.replies[command] + b"\x00"
        refusal = {
            "STATUS": [
                {"STATUS": "E", "When": int(time.time()), "Code": 14, "Msg": "Invalid command"}
            ],
            "id": 1,
        }
        return json.dumps(refusal).encode() + b"\x00"


@contextlib.contextmanager
def serving_in_thread(miners: list[Any]) -> Iterator[list[MinerApiServer]]:
    """``running`` on an event loop of its own thread, for code that runs its own loop (the CLI)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    ctx = running(miners)
    servers = asyncio.run_coroutine_threadsafe(ctx.__aenter__(), loop).result(10)
    try:
        yield servers
    finally:
        asyncio.run_coroutine_threadsafe(ctx.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
