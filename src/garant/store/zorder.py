"""A Z-order (Morton) key of a point, and the key ranges that cover a bounding box.

The SQLite spatial index: a B-tree on `observations.zkey`, the longitude and latitude cells
(2^16 each: about 400 m x 300 m at 48 degrees north) interleaved bit by bit, so that points
near each other mostly have keys near each other. A bounding box becomes a few key ranges
(`zkey BETWEEN lo AND hi OR ...`, each answered from the index) and the exact
longitude/latitude test removes the few extra points of the cells on its border.

Why not SQLite's R*Tree, which this replaced: filling it cost 13-20 µs per observation inside
the write transaction, a third of the serialised part of intake (`bench/bench_intake.py`,
2026-11-25); one more B-tree key costs a few µs. Why by hand: the interleaving is four lines
of bit arithmetic and the box decomposition a short quadtree walk; the packages that do it
(geohash strings and the like) are unmaintained or answer another question. PostgreSQL keeps
its GiST index on `point(lon, lat)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BITS = 16
CELLS = 1 << BITS
MAX_RANGES = 32  # a box becomes at most about this many ranges (a little more area, fewer probes)


def _cell(value: float, low: float, span: float) -> int:
    return min(max(int((value - low) / span * CELLS), 0), CELLS - 1)


def _spread(v: int) -> int:
    """The 16 bits of v moved to the even bit positions of a 32-bit number."""
    v = (v | (v << 8)) & 0x00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F
    v = (v | (v << 2)) & 0x33333333
    return (v | (v << 1)) & 0x55555555


def _interleave(x: int, y: int) -> int:
    return _spread(x) | (_spread(y) << 1)


def zkey(lon: float, lat: float) -> int:
    return _interleave(_cell(lon, -180.0, 360.0), _cell(lat, -90.0, 180.0))


def _spread_array(v: np.ndarray) -> np.ndarray:
    v = (v | (v << 8)) & 0x00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F
    v = (v | (v << 2)) & 0x33333333
    spread: np.ndarray = (v | (v << 1)) & 0x55555555
    return spread


def _cells(values: Sequence[float], low: float, span: float) -> np.ndarray:
    # the same IEEE operations as `_cell`; astype truncates toward zero as int() does
    scaled = (np.asarray(values, dtype=np.float64) - low) / span * CELLS
    cells: np.ndarray = np.clip(scaled.astype(np.int64), 0, CELLS - 1)
    return cells


def zkeys_of(lons: Sequence[float], lats: Sequence[float]) -> list[int]:
    """`zkey` of many points at once (intake's batches): equal to it point by point."""
    if not lons:
        return []
    keys = _spread_array(_cells(lons, -180.0, 360.0)) | (_spread_array(_cells(lats, -90.0, 180.0)) << 1)
    out: list[int] = keys.tolist()
    return out


def box_ranges(
    min_lon: float, min_lat: float, max_lon: float, max_lat: float, max_ranges: int = MAX_RANGES
) -> list[tuple[int, int]]:
    """Sorted, disjoint inclusive key ranges whose cells cover the box (and a little more).

    A quadtree walk from the whole world down: quadrants inside the box are kept whole, those
    crossing its edge are split, until splitting further would exceed `max_ranges`; what is
    still crossing then is kept whole (over-covering, never under-covering).
    """
    x1, x2 = _cell(min_lon, -180.0, 360.0), _cell(max_lon, -180.0, 360.0)
    y1, y2 = _cell(min_lat, -90.0, 180.0), _cell(max_lat, -90.0, 180.0)
    whole: list[tuple[int, int, int]] = []  # (level, x, y) of a quadrant: side CELLS >> level
    crossing: list[tuple[int, int, int]] = [(0, 0, 0)]
    while crossing and crossing[0][0] < BITS:
        inside, split = [], []
        for level, x, y in crossing:
            side = CELLS >> (level + 1)
            for cx, cy in ((x, y), (x + side, y), (x, y + side), (x + side, y + side)):
                if cx > x2 or cx + side - 1 < x1 or cy > y2 or cy + side - 1 < y1:
                    continue
                child = (level + 1, cx, cy)
                if x1 <= cx and cx + side - 1 <= x2 and y1 <= cy and cy + side - 1 <= y2:
                    inside.append(child)
                else:
                    split.append(child)
        if len(whole) + len(inside) + len(split) > max_ranges:
            break
        whole, crossing = whole + inside, split
    ranges = []
    for level, x, y in whole + crossing:
        lo = _interleave(x, y)
        ranges.append((lo, lo + (CELLS >> level) ** 2 - 1))
    ranges.sort()
    merged: list[tuple[int, int]] = []
    for lo, hi in ranges:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged
