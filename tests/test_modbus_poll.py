"""Polling real pymodbus servers: merged reads, block exceptions, dead devices, transports,
read-only."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from minewatch.collector.modbus.device import ModbusDevice
from minewatch.collector.modbus.link import ModbusLink
from minewatch.config.polling import ModbusTarget
from minewatch.counters import Counters
from minewatch.profiles import load_profiles
from minewatch.sample import now_ns
from minewatch.simulator.modbus_server import SimModbusServer, SimUnit
from tests.support.modbus import RawRegisterServer, device_for, profile_from
from tests.support.ports import free_port

PROFILES = load_profiles()
READ_CODES = {1, 2, 3, 4}


def _meter_values() -> dict[str, float]:
    return {
        "voltage_v_l1": 231.5,
        "voltage_v_l2": 229.0,
        "voltage_v_l3": 230.25,
        "current_a_l1": 12.5,
        "power_w": 8450.0,
        "frequency_hz": 50.02,
        "energy_kwh": 123456.5,
        "current_a_n": 0.75,
    }


async def test_merged_reads_issue_the_planned_requests_and_decode() -> None:
    unit = SimUnit("meter", PROFILES["eastron-sdm630"], 1, _meter_values)
    server = SimModbusServer([unit], free_port())
    await server.start()
    try:
        target = ModbusTarget(
            name="meter", profile="eastron-sdm630", host="127.0.0.1", port=server.port
        )
        dev = device_for(target, PROFILES["eastron-sdm630"])
        result = await dev.poll(now_ns())
        dev.link.close()
    finally:
        await server.stop()
    got = {s.metric: s.value for s in result.samples}
    assert (
        got["voltage_v_l1"] == 231.5
        and got["energy_kwh"] == 123456.5
        and got["current_a_n"] == 0.75
    )
    assert abs(got["frequency_hz"] - 50.02) < 1e-5 and got["up"] == 1.0
    # 23 registers of the map, 4 requests: 0..35 and 52..75 (holes of <= 12 filled), 200..205,
    # 224..225
    assert [(r.function_code, r.address, r.count) for r in server.requests] == [
        (4, 0, 36),
        (4, 52, 24),
        (4, 200, 6),
        (4, 224, 2),
    ]


async def test_exception_on_one_block_marks_only_its_metrics_bad(caplog) -> None:  # type: ignore[no-untyped-def]
    profile = profile_from(
        {
            "id": "three-blocks",
            "kind": "power_meter",
            "vendor": "t",
            "model": "t",
            "modbus": {
                "source": "test",
                "addressing": "pdu",
                "registers": [
                    {"metric": "a_count", "function": "holding", "address": 0},
                    {"metric": "b_count", "function": "holding", "address": 10},
                    {"metric": "c_count", "function": "holding", "address": 20},
                ],
            },
        }
    )
    port = free_port()
    words = list(range(100, 130))
    caplog.set_level(logging.WARNING, logger="minewatch.collector.modbus.device")
    async with RawRegisterServer(port, holding=words, invalid=(8, 12)):
        dev = device_for(
            ModbusTarget(name="m1", profile="three-blocks", host="127.0.0.1", port=port), profile
        )
        results = [await dev.poll(now_ns()) for _ in range(3)]
        dev.link.close()
    for r in results:
        assert {s.metric: s.value for s in r.samples} == {
            "a_count": 100.0,
            "c_count": 120.0,
            "up": 1.0,
        }
        assert r.bad_metrics == ["b_count"] and r.up
    warnings = [m for m in caplog.messages if "holding 10..10" in m]
    assert len(warnings) == 1 and "exception code 2" in warnings[0]  # logged once, not per poll
    assert dev.counters.get("modbus_errors_total", "exception_2") == 3


async def test_busy_device_is_retried_with_backoff_then_read() -> None:
    unit = SimUnit(
        "th",
        PROFILES["generic-th-sensor"],
        1,
        lambda: {"ambient_temp_c": -4.5, "humidity_pct": 63.0},
        busy_next=2,
    )
    server = SimModbusServer([unit], free_port())
    await server.start()
    try:
        target = ModbusTarget(
            name="th",
            profile="generic-th-sensor",
            host="127.0.0.1",
            port=server.port,
            retries=2,
            backoff_s=0.01,
        )
        dev = device_for(target, PROFILES["generic-th-sensor"])
        result = await dev.poll(now_ns())
        dev.link.close()
    finally:
        await server.stop()
    assert {s.metric: s.value for s in result.samples} == {
        "ambient_temp_c": -4.5,
        "humidity_pct": 63.0,
        "up": 1.0,
    }
    assert (
        len(server.requests) == 3 and dev.counters.get("modbus_retries_total", "exception_6") == 2
    )


@asynccontextmanager
async def _th_sensor(reading: Callable[[], dict[str, float]]) -> AsyncIterator[ModbusDevice]:
    """The shipped hall sensor's map served by a real pymodbus server, read by a real device."""
    unit = SimUnit("th", PROFILES["generic-th-sensor"], 1, reading)
    server = SimModbusServer([unit], free_port())
    await server.start()
    dev = device_for(
        ModbusTarget(name="th", profile="generic-th-sensor", host="127.0.0.1", port=server.port),
        PROFILES["generic-th-sensor"],
    )
    try:
        yield dev
    finally:
        dev.link.close()
        await server.stop()


async def test_sensor_fault_value_is_rejected_not_stored() -> None:
    async with _th_sensor(lambda: {"ambient_temp_c": 850.0, "humidity_pct": 50.0}) as dev:
        result = await dev.poll(now_ns())
    assert "ambient_temp_c" in result.bad_metrics
    assert dev.counters.get("rejected_total", "modbus_sensor_invalid") == 1


async def test_an_impossible_reading_is_rejected_counted_and_logged_once(caplog) -> None:  # type: ignore[no-untyped-def]
    """600 °C from a hall sensor is register garbage, not a fire: it is rejected (the humidity
    read beside it is kept), counted per poll, and logged once until it reads a possible value."""
    caplog.set_level(logging.WARNING, logger="minewatch.collector.modbus.device")
    reading = {"ambient_temp_c": 600.0, "humidity_pct": 40.0}
    async with _th_sensor(lambda: reading) as dev:
        polls = [await dev.poll(now_ns()) for _ in range(2)]
        reading["ambient_temp_c"] = 24.5
        polls.append(await dev.poll(now_ns()))
    got = [{s.metric: s.value for s in p.samples} for p in polls]
    assert got[0] == got[1] == {"humidity_pct": 40.0, "up": 1.0}
    assert got[2] == {"ambient_temp_c": 24.5, "humidity_pct": 40.0, "up": 1.0}
    assert dev.counters.get("rejected_total", "modbus_implausible") == 2
    warnings = [r.getMessage() for r in caplog.records if "physically possible" in r.getMessage()]
    assert warnings == [
        "modbus device th: ambient_temp_c = 600 (register value 6000) is outside the physically "
        "possible -90..500; rejected until it reads a possible value"
    ]


async def test_dead_device_is_down_logged_once_and_recovery_logged_once(caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING, logger="minewatch.collector.modbus.device")
    unit = SimUnit("pdu", PROFILES["generic-rack-pdu"], 1, lambda: {"power_w": 5000.0}, silent=True)
    server = SimModbusServer([unit], free_port())
    await server.start()
    try:
        target = ModbusTarget(
            name="pdu-x",
            profile="generic-rack-pdu",
            host="127.0.0.1",
            port=server.port,
            timeout_s=0.2,
        )
        dev = device_for(target, PROFILES["generic-rack-pdu"])
        down = [await dev.poll(now_ns()) for _ in range(3)]
        server.set_silent(1, False)
        up = [await dev.poll(now_ns()) for _ in range(2)]
        dev.link.close()
    finally:
        await server.stop()
    assert all([(s.metric, s.value) for s in r.samples] == [("up", 0.0)] for r in down)
    assert all(r.up and {s.metric: s.value for s in r.samples}["power_w"] == 5000.0 for r in up)
    assert sum("is not answering" in m for m in caplog.messages) == 1
    assert sum("answers again" in m for m in caplog.messages) == 1


async def test_refused_connection_is_down_without_raising() -> None:
    port = free_port()  # nothing listens here
    dev = device_for(
        ModbusTarget(
            name="gone", profile="generic-rack-pdu", host="127.0.0.1", port=port, timeout_s=0.3
        ),
        PROFILES["generic-rack-pdu"],
    )
    result = await dev.poll(now_ns())
    assert not result.up and [(s.metric, s.value) for s in result.samples] == [("up", 0.0)]


async def test_rtu_over_tcp_and_rtu_serial_transports() -> None:
    port = free_port()
    words = [0x4366, 0x8000]  # 230.5 as float32 ABCD
    profile = profile_from(
        {
            "id": "rtu-meter",
            "kind": "power_meter",
            "vendor": "t",
            "model": "t",
            "modbus": {
                "source": "test",
                "addressing": "pdu",
                "registers": [
                    {
                        "metric": "voltage_v_l1",
                        "function": "holding",
                        "address": 0,
                        "type": "float32",
                    }
                ],
            },
        }
    )
    async with RawRegisterServer(port, holding=words, unit_id=7, framer="rtu") as server:
        over_tcp = device_for(
            ModbusTarget(
                name="gw",
                profile="rtu-meter",
                transport="rtu_over_tcp",
                host="127.0.0.1",
                port=port,
                unit_id=7,
            ),
            profile,
        )
        r1 = await over_tcp.poll(now_ns())
        over_tcp.link.close()
        # pyserial URL: the serial client speaks RTU frames over the socket, as through a serial
        # device server
        serial = device_for(
            ModbusTarget(
                name="ser",
                profile="rtu-meter",
                transport="rtu",
                serial_port=f"socket://127.0.0.1:{port}",
                unit_id=7,
                baudrate=19200,
            ),
            profile,
        )
        r2 = await serial.poll(now_ns())
        serial.link.close()
    for r in (r1, r2):
        assert {s.metric: s.value for s in r.samples} == {"voltage_v_l1": 230.5, "up": 1.0}
    assert {fc for fc, *_ in server.requests} == {3} and {
        unit for _, unit, *_ in server.requests
    } == {7}


async def test_units_behind_one_gateway_share_one_serialised_link() -> None:
    units = [
        SimUnit(f"pdu-{i}", PROFILES["generic-rack-pdu"], i, lambda i=i: {"power_w": 1000.0 * i})
        for i in (1, 2, 3)
    ]
    server = SimModbusServer(units, free_port())
    await server.start()
    try:
        targets = [
            ModbusTarget(
                name=f"pdu-{i}",
                profile="generic-rack-pdu",
                host="127.0.0.1",
                port=server.port,
                unit_id=i,
            )
            for i in (1, 2, 3)
        ]
        link = ModbusLink(targets[0])
        devs = [device_for(t, PROFILES["generic-rack-pdu"], Counters(), link) for t in targets]
        results = await asyncio.gather(
            *(d.poll(now_ns()) for d in devs)
        )  # concurrent callers, one socket
        link.close()
    finally:
        await server.stop()
    assert [{s.metric: s.value for s in r.samples}["power_w"] for r in results] == [
        1000.0,
        2000.0,
        3000.0,
    ]
    assert sorted(r.unit_id for r in server.requests) == [1, 2, 3]


async def test_request_log_records_writes_so_read_only_can_be_asserted() -> None:
    """Positive control for the no-write assertions: a write does show up in the server's log."""
    from pymodbus.client import AsyncModbusTcpClient

    unit = SimUnit("th", PROFILES["generic-th-sensor"], 1, lambda: {"ambient_temp_c": 20.0})
    server = SimModbusServer([unit], free_port())
    await server.start()
    try:
        client = AsyncModbusTcpClient("127.0.0.1", port=server.port, timeout=1, retries=0)
        await client.connect()
        await client.write_register(0, 5, device_id=1)
        client.close()
        dev = device_for(
            ModbusTarget(
                name="th", profile="generic-th-sensor", host="127.0.0.1", port=server.port
            ),
            PROFILES["generic-th-sensor"],
        )
        await dev.poll(now_ns())
        dev.link.close()
    finally:
        await server.stop()
    assert [r.function_code for r in server.requests] == [6, 3]
