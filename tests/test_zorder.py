"""The Z-order key ranges of a box cover every point in it, in few ranges and little extra area."""

from __future__ import annotations

import bisect

from hypothesis import given, settings
from hypothesis import strategies as st

from garant.store.zorder import CELLS, MAX_RANGES, box_ranges, zkey

lons = st.floats(-180, 180)
lats = st.floats(-90, 90)


def _inside(ranges: list[tuple[int, int]], key: int) -> bool:
    i = bisect.bisect_right([lo for lo, _ in ranges], key) - 1
    return i >= 0 and ranges[i][0] <= key <= ranges[i][1]


@settings(max_examples=300, deadline=None)
@given(lons, lons, lats, lats, st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=30))
def test_every_point_of_the_box_is_in_its_ranges(
    a: float, b: float, c: float, d: float, where: list[tuple[float, float]]
) -> None:
    x1, x2, y1, y2 = min(a, b), max(a, b), min(c, d), max(c, d)
    ranges = box_ranges(x1, y1, x2, y2)
    assert 0 < len(ranges) <= MAX_RANGES
    assert all(lo <= hi for lo, hi in ranges)
    assert all(ranges[i][1] + 1 < ranges[i + 1][0] for i in range(len(ranges) - 1))  # sorted, disjoint
    for u, v in [*where, (0, 0), (1, 1), (0, 1), (1, 0)]:  # corners included
        assert _inside(ranges, zkey(x1 + u * (x2 - x1), y1 + v * (y2 - y1)))


def test_a_box_costs_few_ranges_and_little_extra_area() -> None:
    """A 0.1-degree box on the line: its own ~660 cells, covered by at most twice as many."""
    ranges = box_ranges(36.5, 47.5, 36.6, 47.6)
    covered = sum(hi - lo + 1 for lo, hi in ranges)
    own = (0.1 / 360 * CELLS + 1) * (0.1 / 180 * CELLS + 1)
    assert own <= covered <= 2.5 * own
    # a point just outside in longitude is not in the ranges (the key does narrow the search)
    assert not _inside(ranges, zkey(36.7, 47.55))


def test_keys_are_the_interleaved_cells() -> None:
    assert zkey(-180, -90) == 0
    assert zkey(180, 90) == (1 << 32) - 1  # the far edge falls in the last cell
    x_step, y_step = zkey(-180 + 360 / CELLS, -90), zkey(-180, -90 + 180 / CELLS)
    assert (x_step, y_step) == (1, 2)  # longitude on the even bits, latitude on the odd
