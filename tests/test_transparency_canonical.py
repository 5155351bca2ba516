"""The fast RFC 8785 path writes exactly what the reference `rfc8785` package writes."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from garant.transparency.canonical import canonical_bytes

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=1500, deadline=None)
@given(json_values)
def test_equals_the_reference_on_arbitrary_json(value: Any) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        30.0,
        -0.0,
        1e16,
        1e21,
        2.0**60,
        9007199254740991.0,
        1e-5,
        9.99e-6,
        1e-7,
        0.1,
        123456789012.5,
        5e-324,
        1.7976931348623157e308,
        {"é": 1, "z": 2, "a": 3},
        {"\U0001f600": 1, "\ufb33": 2},  # UTF-16 order differs from code point order here
        '\x00\x1f\x7f\u2028"\\',
        {"payload": {"lon": 37.0, "lat": 48.5, "count": 3, "note": "ліс"}},
    ],
)
def test_edge_cases_equal_the_reference(value: Any) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


def test_integral_floats_are_written_as_integers() -> None:
    assert canonical_bytes({"b": 30.0, "a": -0.0}) == b'{"a":0,"b":30}'


def test_values_json_cannot_carry_are_refused() -> None:
    for bad in (float("nan"), float("inf"), 2**60):
        with pytest.raises(rfc8785.CanonicalizationError):
            canonical_bytes({"x": bad})
