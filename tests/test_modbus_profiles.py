"""Register maps: the legality table, address conventions, shipped profiles and read planning."""

from __future__ import annotations

from pathlib import Path

import pytest

from minewatch.collector.modbus.plan import plan_reads
from minewatch.configfile import ConfigError
from minewatch.profiles import load_profiles
from minewatch.profiles.modbus import READ_FUNCTION_CODE
from tests.support.modbus import profile_from

MODBUS_PROFILES = (
    "eastron-sdm630",
    "schneider-pm5xxx",
    "abb-b23",
    "janitza-umg96rme",
    "generic-rack-pdu",
    "generic-th-sensor",
    "generic-cooling-cdu",
    "generic-fire-di-module",
)


def _profile(registers: list[dict], **map_opts: object) -> dict:
    return {
        "id": "meter-x",
        "kind": "power_meter",
        "vendor": "v",
        "model": "m",
        "modbus": {"source": "test", "addressing": "pdu", "registers": registers, **map_opts},
    }


@pytest.mark.parametrize(
    ("register", "expected"),
    [
        (
            {"metric": "power_w", "function": "coil", "address": 0, "type": "float32"},
            "type float32 cannot be read from coil",
        ),
        (
            {
                "metric": "power_w",
                "function": "holding",
                "address": 0,
                "type": "int16",
                "order": "CDAB",
            },
            "order CDAB is not legal for int16",
        ),
        (
            {"metric": "power_w", "function": "holding", "address": 0, "type": "uint32", "bit": 3},
            "bit is only legal for type bool",
        ),
        (
            {"metric": "leak_bool", "function": "holding", "address": 0, "type": "bool"},
            "needs bit: 0..15",
        ),
        (
            {"metric": "leak_bool", "function": "coil", "address": 0, "bit": 1},
            "bit is not legal on a coil",
        ),
        (
            {"metric": "leak_bool", "function": "discrete", "address": 0, "scale": 2},
            "scale/offset are not legal for bool",
        ),
        (
            {"metric": "power_w", "function": "input", "address": 0, "invert": True},
            "invert is only legal for type bool",
        ),
        (
            {"metric": "power", "function": "input", "address": 0},
            "must be snake_case and end with its unit",
        ),
    ],
)
def test_illegal_combinations_are_refused_naming_the_register(
    register: dict, expected: str
) -> None:
    with pytest.raises(ConfigError) as err:
        profile_from(_profile([register]))
    text = "\n".join(err.value.problems)
    assert expected in text
    if "snake_case" not in expected:
        assert f"register {register['metric']!r}" in text


def test_broken_profile_file_names_file_and_register(tmp_path: Path) -> None:
    (tmp_path / "bad-meter.yaml").write_text(
        "id: bad-meter\nkind: power_meter\nvendor: v\nmodel: m\nmodbus:\n  source: manual p. 12\n  "
        "addressing: pdu\n"
        "  registers:\n    - "
        "{metric: voltage_v_l1, function: input, address: 0, type: int16, order: DCBA}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_profiles(tmp_path)
    (line,) = err.value.problems
    assert (
        "bad-meter.yaml" in line
        and "voltage_v_l1" in line
        and "order DCBA is not legal for int16" in line
    )


@pytest.mark.parametrize(
    ("addressing", "function", "address", "pdu"),
    [
        ("pdu", "input", 0, 0),
        ("one_based", "holding", 3000, 2999),
        ("modicon", "input", 30001, 0),
        ("modicon", "holding", 40108, 107),
        ("modicon", "coil", 1, 0),
        ("modicon", "discrete", 10005, 4),
    ],
)
def test_addresses_convert_to_pdu_addresses(
    addressing: str, function: str, address: int, pdu: int
) -> None:
    typ = "bool" if function in ("coil", "discrete") else "uint16"
    p = profile_from(
        {
            **_profile(
                [{"metric": "x_count", "function": function, "address": address, "type": typ}]
            ),
            "modbus": {
                "source": "test",
                "addressing": addressing,
                "registers": [
                    {"metric": "x_count", "function": function, "address": address, "type": typ}
                ],
            },
        }
    )
    assert p.modbus.registers[0].pdu_address == pdu


def test_modicon_number_of_the_wrong_table_is_refused() -> None:
    with pytest.raises(ConfigError, match="modicon number 40001 is not a input number"):
        profile_from(
            {
                **_profile([]),
                "modbus": {
                    "source": "test",
                    "addressing": "modicon",
                    "registers": [{"metric": "x_count", "function": "input", "address": 40001}],
                },
            }
        )


def test_duplicate_metric_is_refused() -> None:
    with pytest.raises(ConfigError, match="'power_w': metric defined twice"):
        profile_from(
            _profile(
                [
                    {"metric": "power_w", "function": "input", "address": 0},
                    {"metric": "power_w", "function": "input", "address": 1},
                ]
            )
        )


def test_shipped_equipment_profiles_load_with_sources() -> None:
    profiles = load_profiles()
    for pid in MODBUS_PROFILES:
        m = profiles[pid].modbus
        assert m is not None and len(m.source) > 20, pid
        if pid.startswith("generic-"):
            assert "GENERIC" in m.source or "generic" in m.source.lower(), pid
        assert {READ_FUNCTION_CODE[r.function] for r in m.registers} <= {1, 2, 3, 4}


def test_fire_module_and_cooling_controller_carry_the_safety_signals() -> None:
    profiles = load_profiles()
    fire = {r.metric for r in profiles["generic-fire-di-module"].modbus.registers}
    assert fire == {
        "smoke_bool",
        "fire_alarm_bool",
        "fire_fault_bool",
        "suppression_disabled_bool",
        "epo_bool",
    }
    cooling = {r.metric for r in profiles["generic-cooling-cdu"].modbus.registers}
    assert {
        "coolant_in_temp_c",
        "coolant_out_temp_c",
        "coolant_pressure_kpa",
        "pump_state",
        "leak_bool",
        "water_ingress_bool",
    } <= cooling


def _reads(registers: list[dict], **opts: object) -> list[tuple[str, int, int]]:
    return [
        (b.function.value, b.address, b.count)
        for b in plan_reads(profile_from(_profile(registers, **opts)).modbus)
    ]


def test_planner_merges_adjacent_registers_and_respects_caps_and_gaps() -> None:
    regs = [{"metric": f"v_{i}_count", "function": "holding", "address": i} for i in range(10)]
    assert _reads(regs) == [("holding", 0, 10)]
    assert _reads(regs, max_registers_per_read=4) == [
        ("holding", 0, 4),
        ("holding", 4, 4),
        ("holding", 8, 2),
    ]
    gapped = [
        {"metric": "a_count", "function": "input", "address": 0, "type": "uint32"},
        {"metric": "b_count", "function": "input", "address": 5},
    ]
    assert _reads(gapped) == [("input", 0, 2), ("input", 5, 1)]  # no gap filling by default
    assert _reads(gapped, max_gap=3) == [("input", 0, 6)]
    assert _reads(gapped, max_gap=2) == [("input", 0, 2), ("input", 5, 1)]
    bits = [{"metric": f"b_{i}_bool", "function": "coil", "address": i * 100} for i in range(30)]
    assert _reads(bits, max_gap=99) == [
        ("coil", 0, 1901),
        ("coil", 2000, 901),
    ]  # 2000-bit protocol limit
    shared = [
        {"metric": f"s_{i}_bool", "function": "holding", "address": 7, "type": "bool", "bit": i}
        for i in range(3)
    ]
    assert _reads(shared) == [("holding", 7, 1)]  # bits of one status word share one register
