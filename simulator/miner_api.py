"""Miner-API servers (cgminer-style JSON on TCP) that answer like real firmware, quirks included.

Antminer ``version``/``stats``, Whatsminer ``summary`` and every ``pools`` are replies captured
from real firmware with the rig's values put in (``miner_api_replay``); the rest are built in the
same shape from the firmware's field lists.

Dialects: ``antminer-legacy`` (bmminer: flat ``STATS[1]`` with ``}{`` between the two STATS
objects and a trailing NUL), ``antminer-new`` (``new_api`` chain arrays, trailing NUL),
``whatsminer`` (btminer v2 ``summary``/``devs``/``devdetails``/``get_miner_info``; ``STATUS`` as
a string on ``get_*`` commands) and ``luxos``. Extra quirks for tests: ``nan`` (bare
``nan``/``inf`` numbers), ``truncated`` (reply cut in half), ``garbage``. Fault: ``hang`` — the
miner accepts the connection and never answers. Live values come from a rig object of the
facility model (``power_w``, ``chip_temp_c``, ``hashrate_ths``, ``online``, optional fan speeds).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from minewatch.collector.minerapi.parse import ReplyError, parse_reply
from minewatch.simulator import miner_api_replay as replay

DEFAULT_QUIRKS = {
    "antminer-legacy": {"nul", "missing_comma"},
    "antminer-new": {"nul"},
    "whatsminer": set(),
    "luxos": set(),
}


@dataclass
class RigValues:
    """A stand-in rig when no facility model is attached (tests, benchmarks)."""

    serial: str
    power_w: float = 3250.0
    chip_temp_c: float = 72.0
    hashrate_ths: float = 140.0
    fan_rpm: list[float] = field(default_factory=lambda: [5400.0, 5460.0, 5520.0, 5580.0])
    online: bool = True
    ambient_temp_c: float = 28.0


def _fans(rig: Any) -> list[float]:
    for attr in ("fan_rpm", "fans_rpm", "fans"):
        v = getattr(rig, attr, None)
        if isinstance(v, (list, tuple)) and v:
            return [float(x) for x in v]
    return [5400.0, 5460.0, 5520.0, 5580.0]


def _status(msg: str, code: int = 11) -> list[dict]:
    return [
        {"STATUS": "S", "When": int(time.time()), "Code": code, "Msg": msg, "Description": "sim"}
    ]


@dataclass
class SimMiner:
    """One miner: identity, dialect, live values, quirks and faults."""

    rig: Any
    dialect: str
    model: str
    mac: str = "02:00:00:00:00:01"
    quirks: set[str] | None = None
    hang: bool = False
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.dialect not in DEFAULT_QUIRKS:
            raise ValueError(
                f"unknown miner dialect {self.dialect!r}; known: {', '.join(DEFAULT_QUIRKS)}"
            )
        if self.quirks is None:
            self.quirks = set(DEFAULT_QUIRKS[self.dialect])

    @property
    def serial(self) -> str:
        return str(self.rig.serial)

    # -- replies ----------------------------------------------------------------------------
    def reply(self, command: str, new_api: bool = False) -> bytes:
        """The firmware's bytes for ``command``. Stock Antminer firmware sends the ``new_api``
        chain form of ``stats`` only when the request asks for it; a plain ``stats`` gets the
        legacy flat form on every generation."""
        if command == "pools":
            doc: dict | None = self._pools()
        elif command == "stats" and self.dialect == "antminer-new" and not new_api:
            doc = self._antminer_legacy(command)
        else:
            builder = getattr(self, f"_{self.dialect.replace('-', '_')}", None)
            doc = builder(command) if builder else None
        if doc is None:
            doc = {
                "STATUS": [
                    {"STATUS": "E", "When": int(time.time()), "Code": 14, "Msg": "Invalid command"}
                ],
                "id": 1,
            }
        text = json.dumps(doc)
        quirks = self.quirks or set()
        if "missing_comma" in quirks and command == "stats":
            text = text.replace("}, {", "}{", 1)
        if "nan" in quirks:
            text = text.replace("NaN", "nan").replace("Infinity", "inf")
        raw = text.encode()
        if "truncated" in quirks:
            raw = raw[: len(raw) // 2]
        if "garbage" in quirks:
            raw = b"\xff\xfeBUSY" + raw[:10]
        if "nul" in quirks:
            raw += b"\x00"
        return raw

    def _common(self) -> dict[str, float]:
        r = self.rig
        chip = float(r.chip_temp_c)
        return {
            "ghs": float(r.hashrate_ths) * 1000,
            "chip": chip,
            "board": float(getattr(r, "board_temp_c", 0.0) or chip - 8.0),
            "coolant_in": float(getattr(r, "coolant_in_temp_c", 0.0) or chip - 40.0),
            "coolant_out": float(getattr(r, "coolant_out_temp_c", 0.0) or chip - 30.0),
            "errors": int(getattr(r, "error_code", 0) != 0),
            "elapsed": int(time.time() - self.started),
            "power": float(r.power_w),
        }

    def _antminer_legacy(self, command: str) -> dict | None:
        c = self._common()
        if command == "version":
            return replay.antminer_version(self.model)
        if command == "summary":
            return {
                "STATUS": _status("Summary"),
                "SUMMARY": [
                    {
                        "Elapsed": c["elapsed"],
                        "GHS 5s": f"{c['ghs']:.2f}",
                        "GHS av": round(c["ghs"], 2),
                        "Accepted": 1200,
                        "Rejected": 3,
                        "Hardware Errors": 17,
                    }
                ],
                "id": 1,
            }
        if command == "stats":
            return replay.antminer_stats(
                self.model, c["ghs"], c["chip"], c["board"], _fans(self.rig), int(c["elapsed"])
            )
        return None

    def _pools(self) -> dict:
        return replay.pools(f"minewatch.{self.serial}", bool(getattr(self.rig, "online", True)))

    def _antminer_new(self, command: str) -> dict | None:
        c = self._common()
        if command == "version":
            return {
                "STATUS": _status("BMMiner versions", 22),
                "VERSION": [
                    {
                        "BMMiner": "1.0.0",
                        "API": "3.1",
                        "Miner": "49.0.1.3",
                        "CompileTime": "Mon Mar 3 2025",
                        "Type": self.model,
                    }
                ],
                "id": 1,
            }
        if command == "summary":
            return {
                "STATUS": _status("Summary"),
                "SUMMARY": [
                    {
                        "Elapsed": c["elapsed"],
                        "GHS 5s": round(c["ghs"], 2),
                        "GHS av": round(c["ghs"], 2),
                        "Accepted": 900,
                        "Rejected": 1,
                        "Hardware Errors": 4,
                    }
                ],
                "id": 1,
            }
        if command == "stats":
            hydro = "Hyd" in self.model
            chains = []
            for i in range(3):
                chip = c["chip"] - i
                temp_chip = (
                    [c["coolant_in"], c["coolant_out"], 0, 0]
                    if hydro
                    else [chip - 2, chip, chip - 1, chip - 3]
                )
                chains.append(
                    {
                        "index": i,
                        "freq_avg": 490,
                        "rate_ideal": c["ghs"] / 3,
                        "rate_real": c["ghs"] / 3,
                        "asic_num": 108,
                        "temp_pic": [chip, chip - 1, chip, chip - 2] if hydro else [c["board"]] * 4,
                        "temp_pcb": [c["board"] - 2, c["board"], c["board"] - 1, c["board"] - 3],
                        "temp_chip": temp_chip,
                        "hw": 3,
                        "sn": f"{self.serial}-HB{i}",
                    }
                )
            fans = [] if hydro else [int(f) for f in _fans(self.rig)]
            return {
                "STATUS": _status("CGMiner stats"),
                "INFO": {"miner_version": "49.0.1.3", "type": self.model},
                "STATS": [
                    {
                        "elapsed": c["elapsed"],
                        "rate_5s": c["ghs"],
                        "rate_avg": c["ghs"],
                        "rate_ideal": c["ghs"],
                        "rate_unit": "GH/s",
                        "chain_num": 3,
                        "fan_num": len(fans),
                        "fan": fans,
                        "hwp_total": 0.001,
                        "chain": chains,
                    }
                ],
                "id": 1,
            }
        return None

    def _whatsminer(self, command: str) -> dict | None:
        c = self._common()
        fans = _fans(self.rig)
        if command == "summary":
            return replay.whatsminer_summary(
                c["ghs"],
                c["chip"],
                c["board"],
                fans,
                c["power"],
                float(
                    getattr(self.rig, "inlet_temp_c", 0.0)
                    or getattr(self.rig, "ambient_temp_c", 28.0)
                ),
                int(getattr(self.rig, "error_code", 0) or 0),
                self.mac,
                int(c["elapsed"]),
            )
        if command == "devs":
            return {
                "STATUS": _status("3 ASC(s)", 9),
                "DEVS": [
                    {
                        "ASC": i,
                        "Slot": i,
                        "Status": "Alive",
                        "Temperature": c["board"] - i,
                        "Chip Temp Max": c["chip"] - i,
                        "MHS av": c["ghs"] * 1000 / 3,
                        "PCB SN": f"{self.serial}-B{i}",
                    }
                    for i in range(3)
                ],
                "id": 1,
            }
        if command == "devdetails":
            return {
                "STATUS": _status("Device Details", 69),
                "DEVDETAILS": [
                    {
                        "DEVDETAILS": i,
                        "Name": "SM",
                        "ID": i,
                        "Driver": "bitmicro",
                        "Model": self.model,
                    }
                    for i in range(3)
                ],
                "id": 1,
            }
        if command == "get_miner_info":
            return {
                "STATUS": "S",
                "When": int(time.time()),
                "Code": 131,
                "Msg": {
                    "ip": "127.0.0.1",
                    "mac": self.mac,
                    "minersn": self.serial,
                    "hostname": "WhatsMiner",
                },
                "Description": "",
            }
        if command == "get_version":
            return {
                "STATUS": "S",
                "When": int(time.time()),
                "Code": 131,
                "Msg": {"api_ver": "2.0.5", "fw_ver": "20230911.22.REL", "platform": "H6OS"},
                "Description": "",
            }
        return None

    def _luxos(self, command: str) -> dict | None:
        if command in ("summary", "stats"):
            doc = self._antminer_legacy(command)
            return doc
        c = self._common()
        if command == "version":
            return {
                "STATUS": _status("LUXminer versions", 22),
                "VERSION": [
                    {
                        "API": "3.7",
                        "LUXminer": "2024.10.1.112233",
                        "Miner": "2024.10.1",
                        "Type": self.model,
                    }
                ],
                "id": 1,
            }
        if command == "config":
            return {
                "STATUS": _status("LUXminer config", 33),
                "CONFIG": [
                    {
                        "MACAddr": self.mac,
                        "SerialNumber": self.serial,
                        "Model": self.model,
                        "ASC Count": 3,
                    }
                ],
                "id": 1,
            }
        if command == "power":
            return {
                "STATUS": _status("Power", 300),
                "POWER": [{"Watts": int(c["power"]), "PSU": True}],
                "id": 1,
            }
        if command == "fans":
            return {
                "STATUS": _status("Fans", 202),
                "FANS": [
                    {"FAN": i, "ID": i, "RPM": int(f), "Speed": 60}
                    for i, f in enumerate(_fans(self.rig))
                ],
                "id": 1,
            }
        return None


class MinerApiServer:
    """Listens for one ``SimMiner`` on (host, port); one JSON command per connection, like
    cgminer."""

    def __init__(self, miner: SimMiner, host: str, port: int) -> None:
        self.miner, self.host, self.port = miner, host, port
        self.commands: list[str] = []
        self._server: asyncio.base_events.Server | None = None
        self._release = asyncio.Event()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            data = await asyncio.wait_for(reader.read(4096), 5)
            try:
                request = json.loads(data.decode())
                command = str(request.get("command") or request.get("cmd"))
                new_api = bool(request.get("new_api"))
            except (ValueError, AttributeError):
                command, new_api = "", False
            self.commands.append(command)
            if self.miner.hang:
                await self._release.wait()  # accept, read, never answer
                return
            if not getattr(self.miner.rig, "online", True):
                return  # powered off: the connection closes with no reply
            writer.write(self._answer(command, new_api))
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    def _answer(self, command: str, new_api: bool) -> bytes:
        """One command's reply, or cgminer's joined reply to ``a+b`` (each command's reply in a
        one-element list under its name; kanoi/cgminer API-README "Multiple report request")."""
        if "+" not in command:
            return self.miner.reply(command, new_api=new_api)
        joined: dict[str, Any] = {}
        for part in command.split("+"):
            try:
                joined[part] = [parse_reply(self.miner.reply(part, new_api=new_api))]
            except ReplyError:
                joined[part] = []
        return json.dumps(joined).encode() + b"\x00"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, backlog=256)

    async def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
