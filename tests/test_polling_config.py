"""The polling section of facility.yaml: transports, shared links, miners and discovery, checked at
load."""

from __future__ import annotations

import pytest

from minewatch.config.polling import PollingSettings
from minewatch.configfile import ConfigError, validate


def _load(data: dict) -> PollingSettings:
    return validate(PollingSettings, data, "facility.yaml")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"modbus": [{"name": "m", "profile": "p", "transport": "rtu"}]},
            "transport rtu needs serial_port",
        ),
        ({"modbus": [{"name": "m", "profile": "p"}]}, "transport tcp needs host"),
        (
            {
                "modbus": [
                    {"name": "m", "profile": "p", "host": "h"},
                    {"name": "m", "profile": "p", "host": "h", "unit_id": 2},
                ]
            },
            "modbus device name 'm' is used twice",
        ),
        (
            {
                "modbus": [
                    {
                        "name": "a",
                        "profile": "p",
                        "transport": "rtu",
                        "serial_port": "/dev/ttyUSB0",
                        "baudrate": 9600,
                    },
                    {
                        "name": "b",
                        "profile": "p",
                        "transport": "rtu",
                        "serial_port": "/dev/ttyUSB0",
                        "baudrate": 19200,
                        "unit_id": 2,
                    },
                ]
            },
            "serial settings differ from another device on /dev/ttyUSB0",
        ),
        (
            {
                "modbus": [
                    {"name": "a", "profile": "p", "host": "gw", "unit_id": 3},
                    {"name": "b", "profile": "p", "host": "gw", "unit_id": 3},
                ]
            },
            "unit id 3 already used on the same connection",
        ),
        (
            {"modbus": [{"name": "a", "profile": "p", "host": "h", "unit_id": 300}]},
            "less than or equal to 247",
        ),
        (
            {"miners": [{"host": "10.0.0.1"}, {"host": "10.0.0.1"}]},
            "miner 10.0.0.1:default is listed twice",
        ),
        ({"discovery": {"subnets": ["10.0.0.0/33"]}}, "is not a CIDR range"),
        ({"discovery": {"miner_ports": []}}, "non-empty list of ports"),
    ],
)
def test_bad_polling_config_is_refused_with_the_reason(data: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(data)
    assert expected in "\n".join(err.value.problems)


def test_devices_behind_one_gateway_share_a_connection_key() -> None:
    s = _load(
        {
            "modbus": [
                {"name": "a", "profile": "p", "host": "gw", "unit_id": 1},
                {"name": "b", "profile": "p", "host": "gw", "unit_id": 2},
                {"name": "c", "profile": "p", "host": "gw", "port": 503, "unit_id": 1},
                {
                    "name": "d",
                    "profile": "p",
                    "transport": "rtu_over_tcp",
                    "host": "gw",
                    "unit_id": 1,
                },
            ]
        }
    )
    keys = [t.connection_key() for t in s.modbus]
    assert keys[0] == keys[1] and len(set(keys)) == 3
