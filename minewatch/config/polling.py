"""Polled devices: Modbus equipment, miners' own APIs (cgminer-style TCP 4028) and network
discovery."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Transport = Literal["tcp", "rtu", "rtu_over_tcp"]


class ModbusTarget(BaseModel):
    """One Modbus device (one unit id) and how to reach and pace it.

    Devices that share a TCP endpoint or a serial port share one connection, and their requests are
    serialised on it (an RS-485 bus or a serial gateway answers one request at a time).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", description="Device id in the store"
    )
    profile: str = Field(min_length=1, description="Device profile id with a modbus: section")
    role: str = Field(
        "", description="revenue_meter, rack_pdu, hall_sensor, cooling, fire_panel, ..."
    )
    zone: str = ""
    rack: str = ""
    transport: Transport = "tcp"
    host: str | None = Field(
        None, description="tcp / rtu_over_tcp: IP or host name of the device or gateway"
    )
    port: int = Field(502, ge=1, le=65535)
    serial_port: str | None = Field(
        None, description="rtu: e.g. /dev/ttyUSB0 (pyserial URLs such as socket://h:p work)"
    )
    baudrate: int = Field(9600, gt=0)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    unit_id: int = Field(1, ge=0, le=247, description="Modbus unit (device) id")
    interval_s: float = Field(5.0, ge=0.1, le=3600)
    timeout_s: float = Field(1.0, gt=0, le=60, description="Per request")
    retries: int = Field(
        1, ge=0, le=10, description="Re-sends on transient errors only (device busy, gateway)"
    )
    backoff_s: float = Field(
        0.2, ge=0, le=60, description="Wait before the first retry; doubles per retry"
    )
    pause_s: float = Field(
        0.0,
        ge=0,
        le=10,
        description="Pause after each request, for slow devices and RS-485 gateways",
    )

    @model_validator(mode="after")
    def _endpoint(self) -> ModbusTarget:
        if self.transport == "rtu" and not self.serial_port:
            raise ValueError(f"modbus device {self.name!r}: transport rtu needs serial_port")
        if self.transport != "rtu" and not self.host:
            raise ValueError(f"modbus device {self.name!r}: transport {self.transport} needs host")
        return self

    def connection_key(self) -> tuple:
        """Devices with the same key share one connection and one lock."""
        if self.transport == "rtu":
            return ("rtu", self.serial_port)
        return (self.transport, self.host, self.port)

    def link_settings(self) -> tuple:
        """Settings that every device on one connection must agree on."""
        if self.transport == "rtu":
            return (self.baudrate, self.parity, self.stopbits, self.bytesize)
        return ()


class MinerTarget(BaseModel):
    """One miner answering the cgminer-style API."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1)
    port: int | None = Field(None, ge=1, le=65535, description="Default: the profile's port (4028)")
    profile: str | None = Field(
        None, description="Device profile id; detected from the miner's reply if absent"
    )
    serial: str | None = Field(
        None, description="Device id; else the serial the API reports; else host:port"
    )
    zone: str = ""
    rack: str = ""
    interval_s: float = Field(30.0, ge=1, le=3600)
    timeout_s: float = Field(
        5.0, gt=0, le=60, description="Whole poll of this miner (all its commands)"
    )


class DiscoverySettings(BaseModel):
    """Periodic scan for miners (and optionally Modbus devices) compared with the registry."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    subnets: list[str] = Field(default_factory=list, description="CIDR ranges, e.g. 10.1.0.0/22")
    miner_ports: list[int] = Field(default_factory=lambda: [4028])
    modbus: bool = Field(False, description="Also probe Modbus TCP")
    modbus_port: int = Field(502, ge=1, le=65535)
    period_s: float = Field(3600.0, ge=10)
    timeout_s: float = Field(1.0, gt=0, le=30)
    concurrency: int = Field(256, ge=1, le=4096)
    max_hosts: int = Field(
        65536, ge=1, description="Refuse larger scans (a /16 is 65,536 addresses)"
    )

    @field_validator("subnets")
    @classmethod
    def _cidr(cls, v: list[str]) -> list[str]:
        for s in v:
            try:
                ipaddress.ip_network(s, strict=False)
            except ValueError as exc:
                raise ValueError(f"subnet {s!r} is not a CIDR range: {exc}") from exc
        return v

    @field_validator("miner_ports")
    @classmethod
    def _ports(cls, v: list[int]) -> list[int]:
        if not v or any(not 1 <= p <= 65535 for p in v):
            raise ValueError("miner_ports must be a non-empty list of ports 1..65535")
        return v


class PollingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    modbus: list[ModbusTarget] = Field(default_factory=list)
    miners: list[MinerTarget] = Field(default_factory=list)
    miner_concurrency: int = Field(
        256, ge=1, le=10000, description="Miner polls in flight at once, all miners"
    )
    jitter: float = Field(
        1.0,
        ge=0,
        le=1.0,
        description="Fraction of its interval over which each device's first poll "
        "is placed (1 = evenly over the whole interval, so 3,000 miners never connect at once)",
    )
    write_batch_max: int = Field(5000, ge=1, description="Samples per store write")
    write_wait_ms: int = Field(250, ge=1, description="Longest a sample waits for its batch")
    discovery: DiscoverySettings = Field(default_factory=DiscoverySettings)

    @model_validator(mode="after")
    def _unique_and_consistent(self) -> PollingSettings:
        problems: list[str] = []
        names: set[str] = set()
        for t in self.modbus:
            if t.name in names:
                problems.append(f"modbus device name {t.name!r} is used twice")
            names.add(t.name)
        links: dict[tuple, tuple] = {}
        units: set[tuple] = set()
        for t in self.modbus:
            key = t.connection_key()
            if links.setdefault(key, t.link_settings()) != t.link_settings():
                problems.append(
                    f"modbus device {t.name!r}: serial settings differ from another device on "
                    f"{key[1]}"
                )
            if (key, t.unit_id) in units:
                problems.append(
                    f"modbus device {t.name!r}: unit id {t.unit_id} already used on the same "
                    "connection"
                )
            units.add((key, t.unit_id))
        endpoints: set[tuple[str, int | None]] = set()
        for m in self.miners:
            if (m.host, m.port) in endpoints:
                problems.append(f"miner {m.host}:{m.port or 'default'} is listed twice")
            endpoints.add((m.host, m.port))
        if problems:
            raise ValueError("; ".join(problems))
        return self
