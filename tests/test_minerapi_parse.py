"""Tolerant parsing of firmware JSON, and field paths over parsed replies."""

from __future__ import annotations

import math

import pytest

from minewatch.collector.minerapi.parse import ReplyError, parse_reply, reply_status_error
from minewatch.collector.minerapi.paths import FieldError, extract, resolve
from minewatch.profiles.minerapi import ApiField


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            b'{"STATUS":[{"STATUS":"S"}],"SUMMARY":[{"GHS 5s":"140123.5"}]}\x00',
            {"GHS 5s": "140123.5"},
        ),
        (b'{"STATUS":[{"STATUS":"S"}],"SUMMARY":[{"a":1}{"b":2}]}', {"a": 1}),  # }{ without a comma
        (b'{"STATUS":[{"STATUS":"S"}],"SUMMARY":[{"a":1,},]}', {"a": 1}),  # ,} and ,]
        (b'{"STATUS":[{"STATUS":"S"}],"SUMMARY":[,{"a":1}]}', {"a": 1}),  # [,
        (
            b'{"STATUS":[{"STATUS":"S"}],"SUMMARY":[{"a":1,\n"b":"x\ny"}]}',
            {"a": 1, "b": "x y"},
        ),  # raw newline in a string
    ],
)
def test_firmware_json_habits_are_repaired(raw: bytes, expected: dict) -> None:
    doc = parse_reply(raw)
    assert doc["SUMMARY"][0] == expected


def test_bare_nan_and_inf_parse_as_non_finite_numbers() -> None:
    doc = parse_reply(b'{"SUMMARY":[{"Temp":nan,"MHS":inf,"Low":-inf,"ok":1.5}]}')
    s = doc["SUMMARY"][0]
    assert (
        math.isnan(s["Temp"]) and s["MHS"] == math.inf and s["Low"] == -math.inf and s["ok"] == 1.5
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"STATUS":[{"STATUS":"S"}],"SUMMARY":[{"Elapsed":12,"GHS 5s":"1', "truncated"),
        (b"\xff\xfeBUSY", "invalid_json"),
        (b"[1,2,3]", "not_object"),
        (b"\x00\x00", "empty"),
    ],
)
def test_unrepairable_replies_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(ReplyError) as err:
        parse_reply(raw)
    assert err.value.reason == reason


DOC = {
    "STATS": [
        {"Type": "x"},
        {
            "temp1": 61,
            "temp2": 0,
            "temp3": 64,
            "temp2_1": 55,
            "temp_chip1": "70-72-0-69",
            "fan1": 5400,
        },
    ],
    "NEW": [{"chain": [{"temp_chip": [60, 62, 0, 0]}, {"temp_chip": [66, 61, 0, 0]}]}],
}


def test_paths_with_wildcards_indexes_and_key_patterns() -> None:
    assert resolve(DOC, "STATS[1].fan1") == [5400]
    assert resolve(DOC, "STATS[1].temp?") == [61, 0, 64]
    assert resolve(DOC, "NEW[0].chain[*].temp_chip[0]") == [60, 66]
    assert resolve(DOC, "STATS[5].fan1") == [] and resolve(DOC, "NOPE.x") == []


def test_extract_reduces_splits_and_drops_absent_sensors() -> None:
    f = ApiField(
        command="stats",
        paths=["STATS[1].temp_chip?", "STATS[1].temp?"],
        split="-",
        reduce="max",
        ignore_zero=True,
    )
    assert extract(f, DOC) == 72.0
    mean = ApiField(
        command="stats", paths="NEW[0].chain[*].temp_chip[*]", reduce="mean", ignore_zero=True
    )
    assert extract(mean, DOC) == pytest.approx((60 + 62 + 66 + 61) / 4)
    assert extract(ApiField(command="stats", paths="STATS[0].missing"), DOC) is None
    scaled = ApiField(command="s", paths="S.v", scale=0.001, offset=1)
    assert extract(scaled, {"S": {"v": "140123.5"}}) == pytest.approx(141.1235)


def test_extract_rejects_text_and_non_finite_values() -> None:
    with pytest.raises(FieldError) as err:
        extract(ApiField(command="s", paths="S.v"), {"S": {"v": "n/a"}})
    assert err.value.reason == "not_a_number"
    with pytest.raises(FieldError) as err:
        extract(ApiField(command="s", paths="S.v"), {"S": {"v": float("nan")}})
    assert err.value.reason == "non_finite"


def test_bad_path_syntax_is_refused_at_load() -> None:
    with pytest.raises(ValueError, match="bad path segment"):
        ApiField(command="stats", paths="STATS[x].a")


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("-8--11-10-12", -11.0, 12.0),  # S19 Pro "really cold" temp_pic1 (tests/captures/foreman)
        ("2--1-20-22", -1.0, 22.0),  # the same reply's temp_pcb1
        ("51-85", 51.0, 85.0),  # S9k: two sensors per board
        ("-5.5-3", -5.5, 3.0),
    ],
)
def test_dash_joined_sensors_keep_their_minus_signs(text: str, low: float, high: float) -> None:
    reply = {"STATS": [{}, {"t": text}]}
    lowest = ApiField(command="stats", paths=["STATS[1].t"], split="-", reduce="min")
    highest = lowest.model_copy(update={"reduce": "max"})
    assert (extract(lowest, reply), extract(highest, reply)) == (low, high)


def test_dash_joined_text_that_is_not_numbers_is_rejected_and_empty_is_absent() -> None:
    fld = ApiField(command="stats", paths=["STATS[1].t"], split="-", reduce="max")
    assert extract(fld, {"STATS": [{}, {"t": "-"}]}) is None  # S9k reports absent boards as "-"
    with pytest.raises(FieldError) as err:
        extract(fld, {"STATS": [{}, {"t": "12-ab-3"}]})
    assert err.value.reason == "not_a_number"


def test_invalid_escape_is_repaired_and_real_escapes_are_kept() -> None:
    raw = b'{"SUMMARY":[{"Firmware Version":"\\\'20200917.22.REL\\\'","Path":"a\\\\b\\"c"}]}'
    s = parse_reply(raw)["SUMMARY"][0]
    assert s == {"Firmware Version": "'20200917.22.REL'", "Path": 'a\\b"c'}


def test_stray_bytes_after_a_whole_object_are_ignored() -> None:
    assert parse_reply(b'{"VERSION":[{"Type":"Antminer S9k"}],"id":1}"}')["id"] == 1


@pytest.mark.parametrize(
    ("doc", "refusal"),
    [
        ({"STATUS": [{"STATUS": "E", "Msg": "Access denied to 'stats' command"}]}, "Access denied"),
        ({"STATUS": "E", "Msg": "invalid cmd"}, "invalid cmd"),  # btminer get_* shape
        ({"STATUS": [{"STATUS": "F"}]}, "STATUS F"),
        ({"STATUS": [{"STATUS": "S", "Msg": "Summary"}]}, None),
        ({"STATUS": "S", "Msg": {"fw_ver": "x"}}, None),
    ],
)
def test_status_e_and_f_are_refusals(doc: dict, refusal: str | None) -> None:
    got = reply_status_error(doc)
    assert got is None if refusal is None else (got is not None and refusal in got)


def test_text_values_map_through_their_table_only() -> None:
    fld = ApiField(
        command="pools", paths=["POOLS[*].Status"], values={"Alive": 1, "Dead": 0}, reduce="sum"
    )
    assert extract(fld, {"POOLS": [{"Status": "Alive"}, {"Status": "Dead"}]}) == 1.0
    with pytest.raises(FieldError):
        extract(fld, {"POOLS": [{"Status": "Sick"}]})
