"""Every data type and byte/word order decodes right, read from a real pymodbus server (golden
cases)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from minewatch.collector.modbus.codec import decode_words, encode_value
from minewatch.config.polling import ModbusTarget
from minewatch.profiles.modbus import TYPE_RULES, ByteOrder, DataType
from minewatch.sample import now_ns
from tests.support.modbus import RawRegisterServer, device_for, profile_from
from tests.support.ports import free_port

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "modbus" / "golden.yaml").read_text())


def test_golden_cases_cover_every_legal_type_and_order() -> None:
    covered = {(c["type"], c["order"]) for c in CASES}
    legal = {(t.value, o.value) for t, rule in TYPE_RULES.items() for o in rule.orders}
    assert legal <= covered, f"no golden case for {sorted(legal - covered)}"


NUMERIC = [c for c in CASES if c["type"] != "bool"]  # bits are decoded by the poller, tested below


@pytest.mark.parametrize("case", NUMERIC, ids=lambda c: f"{c['type']}-{c['order']}-{c['value']}")
def test_codec_matches_golden_words(case: dict) -> None:
    dtype, order = DataType(case["type"]), ByteOrder(case["order"])
    raw = decode_words(case["words"], dtype, order)
    assert raw * case.get("scale", 1) + case.get("offset", 0) == pytest.approx(
        case["value"], rel=1e-12
    )
    if "scale" not in case:
        assert encode_value(case["value"], dtype, order) == case["words"]


async def test_all_golden_cases_through_a_real_server() -> None:
    """One holding-register table holds every case's words; one poll must decode every case."""
    words: list[int] = []
    registers = []
    for i, case in enumerate(CASES):
        reg = {
            "metric": f"case_count_{i}",
            "function": "holding",
            "address": len(words),
            "type": case["type"],
            "order": case["order"],
        }
        for opt in ("bit", "scale", "offset", "invert"):
            if opt in case:
                reg[opt] = case[opt]
        registers.append(reg)
        words.extend(case["words"])
    profile = profile_from(
        {
            "id": "golden",
            "kind": "power_meter",
            "vendor": "test",
            "model": "golden",
            "modbus": {
                "source": "tests/cases/modbus/golden.yaml",
                "addressing": "pdu",
                "registers": registers,
            },
        }
    )
    port = free_port()
    async with RawRegisterServer(port, holding=words):
        target = ModbusTarget(name="golden", profile="golden", host="127.0.0.1", port=port)
        dev = device_for(target, profile)
        result = await dev.poll(now_ns())
        dev.link.close()
    got = {s.metric: s.value for s in result.samples}
    assert result.up and not result.bad_metrics
    for i, case in enumerate(CASES):
        assert got[f"case_count_{i}"] == pytest.approx(case["value"], rel=1e-12), case
    assert len(words) <= 125 and result.requests == 1  # the whole table in one merged read


async def test_coils_and_discrete_inputs_decode_bit_by_bit() -> None:
    coils = [True, False, True, True, False, False, False, True] + [False] * 8
    discrete = [False, True, True, False] + [False] * 12
    regs = [{"metric": f"coil_{i}_bool", "function": "coil", "address": i} for i in range(8)]
    regs += [{"metric": f"di_{i}_bool", "function": "discrete", "address": i} for i in range(4)]
    regs.append({"metric": "di_inv_bool", "function": "discrete", "address": 0, "invert": True})
    profile = profile_from(
        {
            "id": "bits",
            "kind": "fire_panel",
            "vendor": "t",
            "model": "t",
            "modbus": {"source": "test", "addressing": "pdu", "registers": regs},
        }
    )
    port = free_port()
    async with RawRegisterServer(port, coils=coils, discrete=discrete) as server:
        dev = device_for(
            ModbusTarget(name="bits", profile="bits", host="127.0.0.1", port=port), profile
        )
        result = await dev.poll(now_ns())
        dev.link.close()
    got = {s.metric: s.value for s in result.samples}
    assert [got[f"coil_{i}_bool"] for i in range(8)] == [float(b) for b in coils[:8]]
    assert [got[f"di_{i}_bool"] for i in range(4)] == [float(b) for b in discrete[:4]]
    assert (
        got["di_inv_bool"] == 1.0
    )  # discrete input 0 is off; inverted (normally closed) it reads 1
    assert sorted(fc for fc, *_ in server.requests) == [1, 2]  # one read per table
