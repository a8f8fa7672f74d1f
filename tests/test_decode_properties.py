"""Property-based tests (hypothesis) of the two decoders that read bytes from devices: MQTT payloads
and Modbus registers. Whatever a device sends, decoding never raises, never stores a value it was
not sent, and every dropped field has a reason."""

from __future__ import annotations

import json
import math
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from minewatch.collector.decode import REASONS, PayloadDecoder
from minewatch.collector.modbus.codec import decode_words, encode_value
from minewatch.config.mqtt import DeviceGroup
from minewatch.profiles import load_profiles
from minewatch.profiles.modbus import TYPE_RULES, ByteOrder, DataType
from minewatch.sample import NS_PER_S

NOW = 1_795_642_800 * NS_PER_S
PROFILES = load_profiles()
S21 = PROFILES["antminer-s21"]
RIGS = DeviceGroup(name="rigs", topic="site/rigs/{device}/status", profile="antminer-s21")
DECODER = PayloadDecoder([RIGS], PROFILES, {})
TOPIC = "site/rigs/R1/status"

json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
#: Payloads shaped like the S21's (its real keys, any values), plus arbitrary extra keys.
s21_like = st.fixed_dictionaries(
    {},
    optional={
        "power_w": json_value,
        "hashrate_ths": json_value,
        "temp": st.dictionaries(
            st.sampled_from(["chip_max", "board_max", "inlet", "x"]), json_leaf
        ),
        "fans": st.lists(json_leaf, max_size=5),
        "ts": st.text(max_size=30) | st.integers() | st.floats(),
    },
).flatmap(
    lambda d: st.dictionaries(st.text(max_size=6), json_leaf, max_size=3).map(lambda e: {**e, **d})
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_decode_without_raising(payload: bytes) -> None:
    d = DECODER.decode(TOPIC, payload, NOW)
    assert all(r.reason in REASONS for r in d.rejects)
    assert all(math.isfinite(s.value) for s in d.samples)


@settings(max_examples=300, deadline=None)
@given(s21_like)
def test_every_stored_value_is_finite_plausible_and_was_sent(obj: dict) -> None:
    try:
        raw = json.dumps(obj, allow_nan=True).encode()
    except ValueError:
        return
    d = DECODER.decode(TOPIC, raw, NOW)
    assert all(r.reason in REASONS and r.detail for r in d.rejects)
    for s in d.samples:
        lo, hi = S21.plausible_range(s.metric)
        assert math.isfinite(s.value) and lo <= s.value <= hi
    if not any(r.field == "" for r in d.rejects):  # message accepted: each field stored or rejected
        paths = {S21.mqtt.fields[s.metric].path for s in d.samples} if S21.mqtt else set()
        assert not paths & {r.field for r in d.rejects}


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(), min_size=1), st.data())
def test_duplicate_keys_are_found_exactly(obj: dict, data: st.DataObject) -> None:
    """A payload built with one key repeated is rejected as duplicate_key; the same keys once each
    are not (even with '":' inside string values)."""
    items = list(obj.items())
    body = ",".join(f'"{k}":{v}' for k, v in items)
    clean = ('{"note":"x\\":y",' + body + "}").encode()
    assert "duplicate_key" not in {r.reason for r in DECODER.decode(TOPIC, clean, NOW).rejects}
    k, v = data.draw(st.sampled_from(items))
    dup = ("{" + body + f',"{k}":{v}' + "}").encode()
    assert [r.reason for r in DECODER.decode(TOPIC, dup, NOW).rejects] == ["duplicate_key"]


@st.composite
def typed_value(draw: st.DrawFn) -> tuple[DataType, ByteOrder, float]:
    dtype = draw(st.sampled_from([t for t in DataType if t is not DataType.bool]))
    order = draw(st.sampled_from(sorted(TYPE_RULES[dtype].orders)))
    code = TYPE_RULES[dtype].struct_code
    if code in "fd":
        value = draw(st.floats(allow_nan=False, width=32 if code == "f" else 64))
    else:
        bits = struct.calcsize(code) * 8
        lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if code.islower() else (0, 2**bits - 1)
        value = float(draw(st.integers(lo, hi).filter(lambda i: float(i) == i)))
    return dtype, order, value


@settings(max_examples=400, deadline=None)
@given(typed_value())
def test_modbus_words_round_trip_in_every_type_and_order(case: tuple) -> None:
    dtype, order, value = case
    words = encode_value(value, dtype, order)
    assert len(words) == TYPE_RULES[dtype].words and all(0 <= w <= 0xFFFF for w in words)
    assert decode_words(words, dtype, order) == value


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([t for t in DataType if t is not DataType.bool]), st.data())
def test_any_register_words_decode_to_a_number(dtype: DataType, data: st.DataObject) -> None:
    order = data.draw(st.sampled_from(sorted(TYPE_RULES[dtype].orders)))
    n = TYPE_RULES[dtype].words
    words = data.draw(st.lists(st.integers(0, 0xFFFF), min_size=n, max_size=n))
    value = decode_words(words, dtype, order)
    assert isinstance(value, float)
    if TYPE_RULES[dtype].struct_code in "hHiI":  # exact in a float: re-encodes to its words
        assert encode_value(value, dtype, order) == words
