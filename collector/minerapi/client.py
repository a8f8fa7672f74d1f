"""One request/reply exchange with a cgminer-style API over TCP.

The API answers one JSON command per connection and then closes it (cgminer API-README); some
firmware ends the reply with a NUL instead. The whole exchange has one deadline, so a miner that
accepts the connection and never answers costs exactly ``timeout_s``.
"""

from __future__ import annotations

import asyncio
import json

MAX_REPLY_BYTES = 2 * 1024 * 1024


class ApiUnreachable(Exception):
    """Connection refused, reset or timed out; ``reason`` is a short label counted in stats."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


async def query(host: str, port: int, command: str, timeout_s: float) -> bytes:
    """Send ``{"command": command}`` and return the raw reply bytes."""
    try:
        return await asyncio.wait_for(_exchange(host, port, command), timeout_s)
    except asyncio.TimeoutError:
        raise ApiUnreachable("timeout", f"{host}:{port} {command}: no complete reply within {timeout_s:g} s") from None
    except OSError as exc:
        raise ApiUnreachable("connect", f"{host}:{port} {command}: {exc.strerror or exc}") from None


async def _exchange(host: str, port: int, command: str) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(json.dumps({"command": command}).encode())
        await writer.drain()
        chunks: list[bytes] = []
        size = 0
        while size < MAX_REPLY_BYTES:
            chunk = await reader.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if chunk.endswith(b"\x00"):
                break
        return b"".join(chunks)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
