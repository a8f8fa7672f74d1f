"""``rfc3339_many`` (the series route's column-wise formatter) writes exactly what ``rfc3339``
writes, value by value, whatever mix of precisions a series holds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from minewatch.readable import rfc3339, rfc3339_many
from minewatch.sample import NS_PER_S

#: The API's time range: 1970-01-01 up to 2200-01-01.
MAX_NS = 7_258_118_400 * NS_PER_S
timestamps = st.one_of(
    st.integers(0, MAX_NS // NS_PER_S).map(lambda s: s * NS_PER_S),  # whole seconds
    st.integers(0, MAX_NS // 1_000_000).map(lambda ms: ms * 1_000_000),  # milliseconds
    st.integers(0, MAX_NS),  # nanoseconds
)


@given(st.lists(timestamps, max_size=50))
def test_same_strings_as_rfc3339(ts: list[int]) -> None:
    assert rfc3339_many(ts) == [rfc3339(t) for t in ts]


def test_edges() -> None:
    assert rfc3339_many([]) == []
    assert rfc3339_many([0, 1, 1_500_000_000_123_000_000]) == [
        "1970-01-01T00:00:00Z",
        "1970-01-01T00:00:00.000000001Z",
        "2017-07-14T02:40:00.123Z",
    ]
