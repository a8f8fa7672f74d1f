"""The series route's column-wise JSON (``minewatch.api.points``) is byte for byte what orjson
writes for the list of ``[time, value]`` pairs, so the response format is unchanged."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minewatch.api.points import points_json, series_json
from minewatch.readable import rfc3339_many

finite = st.floats(allow_nan=False, allow_infinity=False)


@given(st.lists(st.tuples(st.integers(0, 7_258_118_400 * 10**9), finite), max_size=40))
def test_points_are_the_pairs_orjson_writes(pairs: list[tuple[int, float]]) -> None:
    times = rfc3339_many([t for t, _ in pairs])
    values = [v for _, v in pairs]
    expected = orjson.dumps([[t, v] for t, v in zip(times, values, strict=True)])
    assert points_json(times, values) == expected


def test_series_json_appends_points_last() -> None:
    head = {"device": "rig-01", "metric": "chip_temp_c", "step": None}
    body = series_json(head, ["2026-01-05T12:00:00Z"], [61.5])
    assert orjson.loads(body) == {**head, "points": [["2026-01-05T12:00:00Z", 61.5]]}
    assert series_json(head, [], []) == orjson.dumps({**head, "points": []})


def test_mismatched_columns_and_a_head_with_points_are_refused() -> None:
    with pytest.raises(ValueError, match="2 times but 1 values"):
        points_json(["2026-01-05T12:00:00Z", "2026-01-05T12:00:10Z"], [1.0])
    with pytest.raises(ValueError, match="must not hold points"):
        series_json({"points": []}, [], [])
