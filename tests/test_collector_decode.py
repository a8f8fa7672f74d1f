"""Payload decoding: golden cases for good payloads and for every reason a payload or field is
rejected."""

from __future__ import annotations

import json
import math

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minewatch.collector.decode import _MISSING, REASONS, Decoded, PayloadDecoder, _get
from minewatch.config.mqtt import DeviceGroup
from minewatch.payload_path import parse_path
from minewatch.profiles import load_profiles
from minewatch.profiles.schema import Plausible
from minewatch.registry import RegistryEntry
from minewatch.sample import NS_PER_S

NOW = 1_795_642_800 * NS_PER_S  # 2026-11-25T21:40:00Z
TS = "2026-11-25T21:39:58.500Z"
TS_NS = NOW - 1_500_000_000
PROFILES = load_profiles()
RIGS = DeviceGroup(name="rigs", topic="site/demo/rigs/{device}/status", model_path="model")
ENV = DeviceGroup(name="env", topic="site/demo/env/{device}", profile="hall-sensor-mqtt")
REGISTRY = {
    "BMS21-000101": RegistryEntry("BMS21-000101", "antminer-s21", "hall1", "A01"),
    "BMS21H-000301": RegistryEntry("BMS21H-000301", "antminer-s21-hydro", "hall2", "B01"),
}


def s21_payload(**over: object) -> dict:
    p = {
        "ts": TS,
        "serial": "BMS21-000101",
        "model": "antminer-s21",
        "firmware": "agent-1.0",
        "status": "mining",
        "power_w": 3512.5,
        "hashrate_ths": 199.1,
        "temp": {"chip_max": 71.5, "board_max": 60.25, "inlet": 28.0, "outlet": 47.5},
        "fans": [5400, 5410, 5390, 5405],
        "error_code": 0,
    }
    p.update(over)
    return p


def decode(
    payload: object, topic: str = "site/demo/rigs/BMS21-000101/status", **kw: int
) -> Decoded:
    dec = PayloadDecoder([RIGS, ENV], PROFILES, REGISTRY, **kw)
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return dec.decode(topic, raw, NOW)


def values(d: Decoded) -> dict[str, float]:
    return {s.metric: s.value for s in d.samples}


def reasons(d: Decoded) -> list[tuple[str, str]]:
    return [(r.reason, r.field) for r in d.rejects]


def test_good_payload_yields_every_mapped_metric_at_the_payload_time() -> None:
    d = decode(s21_payload())
    assert d.rejects == []
    assert d.device == "BMS21-000101" and d.profile is not None and d.profile.id == "antminer-s21"
    assert values(d) == {
        "up": 1.0,
        "power_w": 3512.5,
        "hashrate_ths": 199.1,
        "chip_temp_c": 71.5,
        "board_temp_c": 60.25,
        "inlet_temp_c": 28.0,
        "outlet_temp_c": 47.5,
        "fan_rpm_1": 5400.0,
        "fan_rpm_2": 5410.0,
        "fan_rpm_3": 5390.0,
        "fan_rpm_4": 5405.0,
        "error_code": 0.0,
    }
    assert {s.ts for s in d.samples} == {TS_NS}


def test_good_fields_survive_beside_bad_ones() -> None:
    d = decode(
        s21_payload(
            power_w="3.5kW",
            hashrate_ths=None,
            status="on fire",
            temp={"chip_max": 71.5, "board_max": True, "inlet": 28.0, "outlet": 47.5, "extra": 1},
            fans=[5400, 5410],
            vendor_blob={"a": 1},
        )
    )
    assert values(d) == {
        "chip_temp_c": 71.5,
        "inlet_temp_c": 28.0,
        "outlet_temp_c": 47.5,
        "fan_rpm_1": 5400.0,
        "fan_rpm_2": 5410.0,
        "error_code": 0.0,
    }
    assert sorted(reasons(d)) == sorted(
        [
            ("wrong_type", "power_w"),
            ("wrong_type", "hashrate_ths"),
            ("wrong_type", "status"),
            ("wrong_type", "temp.board_max"),
            ("unknown_field", "temp.extra"),
            ("unknown_field", "vendor_blob"),
        ]
    )
    assert all(r.device == "BMS21-000101" for r in d.rejects)


def test_nan_and_inf_from_firmware_json_are_rejected_per_field() -> None:
    raw = (
        orjson.dumps(s21_payload())
        .replace(b'"power_w":3512.5', b'"power_w":NaN')
        .replace(b'"chip_max":71.5', b'"chip_max": inf')
        .replace(b'"hashrate_ths":199.1', b'"hashrate_ths":-Infinity')
    )
    d = decode(raw + b"\x00\x00")  # trailing NULs, as cgminer sends them
    assert sorted(reasons(d)) == [
        ("not_finite", "hashrate_ths"),
        ("not_finite", "power_w"),
        ("not_finite", "temp.chip_max"),
    ]
    assert values(d)["board_temp_c"] == 60.25 and len(d.samples) == 9


def test_message_level_rejects() -> None:
    assert reasons(decode(b"{not json")) == [("not_json", "")]
    assert reasons(decode(b"\xff\xfe")) == [("not_json", "")]
    assert reasons(decode([1, 2, 3])) == [("not_object", "")]
    assert reasons(decode(s21_payload(), max_payload_bytes=100)) == [("oversized", "")]
    assert reasons(decode(s21_payload(), topic="site/demo/other/x")) == [("unknown_device", "")]


def test_device_id_from_the_topic_must_be_a_sane_key() -> None:
    for serial in ("x" * 129, "rig 7", "rig\u00e9"):
        d = decode(s21_payload(), topic=f"site/demo/rigs/{serial}/status")
        assert reasons(d) == [("unknown_device", "")] and "printable ASCII" in d.rejects[0].detail


def test_profile_payload_cap_applies_after_routing() -> None:
    big = s21_payload(
        firmware="x" * 70_000
    )  # over the profile default of 64 KiB, under the global cap
    d = decode(big)
    assert reasons(d) == [("oversized", "")] and "profile antminer-s21" in d.rejects[0].detail


def test_unregistered_rig_is_decoded_with_the_profile_it_names() -> None:
    d = decode(s21_payload(serial="NEW-1"), topic="site/demo/rigs/NEW-1/status")
    assert (
        d.rejects == []
        and d.profile is not None
        and d.profile.id == "antminer-s21"
        and len(d.samples) == 12
    )


def test_unknown_device_without_registry_entry_or_known_model() -> None:
    d = decode(s21_payload(model="antminer-s99"), topic="site/demo/rigs/NEW-2/status")
    assert reasons(d) == [("unknown_device", "")] and d.rejects[0].device == "NEW-2"
    assert "not in the registry" in d.rejects[0].detail


def test_registry_model_wins_over_the_payload_model() -> None:
    d = decode(
        {
            "ts": TS,
            "serial": "BMS21H-000301",
            "model": "antminer-s21",
            "status": "mining",
            "power_w": 5300,
            "coolant": {"in": 33.0, "out": 42.0},
        },
        topic="site/demo/rigs/BMS21H-000301/status",
    )
    assert d.profile is not None and d.profile.id == "antminer-s21-hydro"
    assert values(d) == {
        "up": 1.0,
        "power_w": 5300.0,
        "coolant_in_temp_c": 33.0,
        "coolant_out_temp_c": 42.0,
    }


@pytest.mark.parametrize(
    ("ts", "reason"),
    [
        ("2026-11-25T21:46:00Z", "ts_future"),  # 6 min ahead
        ("2026-11-18T21:39:00Z", "ts_past"),  # just over 7 days
        ("2026-11-25T21:40:00", "bad_timestamp"),  # no zone
        ("yesterday", "bad_timestamp"),
        (True, "bad_timestamp"),
    ],
)
def test_timestamp_rejects_the_whole_message(ts: object, reason: str) -> None:
    d = decode(s21_payload(ts=ts))
    assert reasons(d) == [(reason, "ts")] and d.samples == []


def test_time_window_is_configurable() -> None:
    d = decode(s21_payload(ts="2026-11-25T21:30:00Z"), max_past_s=60)
    assert reasons(d) == [("ts_past", "ts")]
    d = decode(s21_payload(ts="2026-11-25T21:50:00Z"), max_future_s=3600)
    assert d.rejects == []


def test_epoch_timestamps_and_receive_time_fallback() -> None:
    assert {s.ts for s in decode(s21_payload(ts=NOW // NS_PER_S)).samples} == {NOW}
    p = s21_payload()
    del p["ts"]
    assert {s.ts for s in decode(p).samples} == {NOW}


def test_required_field_missing_and_scaling() -> None:
    d = decode({"ts": TS, "humidity": 41.0}, topic="site/demo/env/env-hall1")
    assert reasons(d) == [("missing_field", "temperature")] and values(d) == {"humidity_pct": 41.0}
    d = decode(
        {"ts": TS, "temperature": 29.5, "humidity": 41.0, "battery_pct": 88},
        topic="site/demo/env/env-hall1",
    )
    assert d.rejects == [] and values(d) == {"ambient_temp_c": 29.5, "humidity_pct": 41.0}


def test_huge_integer_is_not_finite() -> None:
    raw = orjson.dumps(s21_payload()).replace(b'"error_code":0', b'"error_code":' + b"9" * 400)
    assert ("not_finite", "error_code") in reasons(decode(raw))


def test_every_reason_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "collector-mqtt.md").read_text()
    missing = [r for r in REASONS if f"`{r}`" not in doc]
    assert missing == []


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    d = decode(raw)
    assert all(math.isfinite(s.value) for s in d.samples)
    assert all(r.reason in REASONS for r in d.rejects)


@settings(max_examples=200, deadline=None)
@given(
    over=st.dictionaries(
        st.sampled_from(["ts", "status", "power_w", "temp", "fans", "error_code", "x"]),
        json_values,
        max_size=4,
    )
)
def test_arbitrary_field_values_never_raise_and_only_finite_numbers_are_stored(over: dict) -> None:
    payload = s21_payload(**over)
    raw = json.dumps(payload, allow_nan=True).encode()
    d = decode(raw)
    assert all(math.isfinite(s.value) for s in d.samples)
    assert all(r.reason in REASONS and r.device == "BMS21-000101" for r in d.rejects)
    if any(r.field in ("", "ts") for r in d.rejects):
        assert d.samples == []  # a message-level reject stores nothing
        return
    # every mapped field present in the payload is either stored or rejected, never silently dropped
    stored = {s.metric for s in d.samples}
    rejected = {r.field for r in d.rejects}
    mapping = PROFILES["antminer-s21"].mqtt
    for metric, spec in mapping.fields.items():
        if _get(payload, parse_path(spec.path)) is not _MISSING:
            assert (metric in stored) != (spec.path in rejected), (metric, payload)


@pytest.mark.parametrize(
    ("over", "metric"),
    [
        ({"temp": {"chip_max": 1e300, "board_max": 60.0, "inlet": 28.0, "outlet": 47.5}}, "temp"),
        ({"power_w": -1e9}, "power_w"),
        ({"hashrate_ths": -5.0}, "hashrate_ths"),
    ],
)
def test_impossible_but_finite_values_are_rejected_with_the_range(over: dict, metric: str) -> None:
    d = decode(s21_payload(**over))
    bad = [r for r in d.rejects if r.reason == "implausible"]
    assert len(bad) == 1 and bad[0].field.startswith(metric), d.rejects
    assert "physically possible" in bad[0].detail
    assert len(d.samples) == 11  # the 11 other fields of the message are stored


def test_a_profile_can_narrow_the_plausible_range() -> None:
    s21 = PROFILES["antminer-s21"].model_copy(
        update={"plausible": {"power_w": Plausible(min=0, max=6000)}}
    )
    dec = PayloadDecoder([RIGS], {**PROFILES, "antminer-s21": s21}, REGISTRY)
    d = dec.decode(
        "site/demo/rigs/BMS21-000101/status", orjson.dumps(s21_payload(power_w=9000)), NOW
    )
    assert [(r.reason, r.field) for r in d.rejects] == [("implausible", "power_w")]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"ts":"2026-11-25T21:39:58.500Z","power_w":1,"power_w":2}',
        b'{"temp":{"chip_max":70,"chip_max":900},"ts":"2026-11-25T21:39:58.500Z"}',
    ],
)
def test_duplicate_keys_reject_the_message(raw: bytes) -> None:
    d = decode(raw)
    assert d.samples == [] and [r.reason for r in d.rejects] == ["duplicate_key"]
    assert "appears twice" in d.rejects[0].detail


def test_a_duplicate_hidden_beside_an_escaped_quote_is_still_found() -> None:
    # "\u0022:" in a string reads as a quote and a colon: written back by orjson it adds one '":'
    # that would balance the key lost to the duplicate, so escapes take the exact path
    raw = b'{"ts":"2026-11-25T21:39:58.500Z","firmware":"a\\u0022:","power_w":1,"power_w":2}'
    d = decode(raw)
    assert [r.reason for r in d.rejects] == ["duplicate_key"]


def test_a_duplicate_written_with_a_space_before_its_colon_is_found() -> None:
    d = decode(b'{"ts":"2026-11-25T21:39:58.500Z","power_w":1,"power_w" :2}')
    assert [r.reason for r in d.rejects] == ["duplicate_key"]


def test_unknown_fields_follow_each_message_not_the_first_of_its_shape() -> None:
    """Shapes are remembered: the same keys with a scalar where an object was expected, or a
    longer list, must still report what is unknown in this message."""
    dec = PayloadDecoder([RIGS, ENV], PROFILES, REGISTRY)
    topic = "site/demo/rigs/BMS21-000101/status"
    for _ in range(2):  # the second decode of each shape comes from the memo
        nested = dec.decode(topic, orjson.dumps(s21_payload(temp=7)), NOW)
        assert ("unknown_field", "temp") in {(r.reason, r.field) for r in nested.rejects}
        extra = dec.decode(topic, orjson.dumps(s21_payload(fans=[1, 2, 3, 4, 5])), NOW)
        assert {r.field for r in extra.rejects if r.reason == "unknown_field"} == {"fans[4]"}
        plain = dec.decode(topic, orjson.dumps(s21_payload()), NOW)
        assert not plain.rejects


def test_a_colon_inside_a_string_is_not_a_duplicate() -> None:
    d = decode(s21_payload(firmware='agent "x": 1.0'))
    assert "duplicate_key" not in {r.reason for r in d.rejects} and len(d.samples) == 12


@pytest.mark.parametrize(
    "ts",
    [
        "20261125T213958Z",  # ISO 8601 basic format
        "2026-11-25T21:39:58+0000",  # zone without colon
        "2026-W48-3T21:39:58Z",  # week date
        "2026-11-25T21:39",  # no seconds, no zone
        "2026-11-25",
    ],
)
def test_timestamps_that_are_not_rfc3339_are_rejected(ts: str) -> None:
    d = decode(s21_payload(ts=ts))
    assert [(r.reason, r.field) for r in d.rejects] == [("bad_timestamp", "ts")]
    assert "not RFC 3339" in d.rejects[0].detail


@pytest.mark.parametrize(
    ("ts", "ns"),
    [
        ("2026-11-25T21:39:58.500Z", TS_NS),
        ("2026-11-25t21:39:58.5z", TS_NS),
        ("2026-11-25 23:39:58.5+02:00", TS_NS),
        ("2026-11-25T21:39:58.500000000Z", TS_NS),
    ],
)
def test_rfc3339_variants_are_accepted(ts: str, ns: int) -> None:
    d = decode(s21_payload(ts=ts))
    assert d.rejects == [] and {s.ts for s in d.samples} == {ns}
