"""The monitoring network along the contact line: acoustic sensors, posts and radars.

Everything is placed by distance along the line and offset across it, in the agreement's
projected plane (metres), then checked against the control areas: a site that a bend of the
line puts on the wrong side is dropped rather than moved, so no sensor sits in no-man's land.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

from garant.geo.engine import Geography

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class LinePath:
    """Points and normals at given distances along the (projected) contact line.

    The normal points to the agreement's positive side, so `point + side * offset * normal`
    lies on the positive party's side for side = +1 and on the other for side = -1.
    """

    def __init__(self, geo: Geography) -> None:
        merged = shapely.line_merge(geo.projected_line)
        parts = list(getattr(merged, "geoms", [merged]))
        coords = [np.asarray(p.coords)[:, :2] for p in parts]
        # parts one after the other; the joins between parts are never used as directions
        self._xy = np.concatenate(coords)
        seg = np.diff(self._xy, axis=0)
        length = np.hypot(seg[:, 0], seg[:, 1])
        breaks = np.cumsum([len(c) for c in coords])[:-1] - 1
        length[breaks] = 0.0
        self._seg = seg
        self._seg_len = length
        self._cum = np.concatenate([[0.0], np.cumsum(length)])
        self.length_m = float(self._cum[-1])
        self._geo = geo
        self._sign = 1.0
        probe_s = np.linspace(0.05, 0.95, 41) * self.length_m
        px, py = self.offset(probe_s, np.full(probe_s.shape, 1.0), 2_000.0)
        votes = np.sign(geo.signed_distance_m(*geo.unproject(px, py)))
        self._sign = 1.0 if votes.sum() >= 0 else -1.0

    def point_and_normal(self, s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        s = np.clip(np.asarray(s, dtype=np.float64), 0.0, self.length_m)
        i = np.clip(np.searchsorted(self._cum, s, side="right") - 1, 0, len(self._seg) - 1)
        # a zero-length segment (a join) borrows the direction of the next real one
        while np.any(self._seg_len[i] == 0) and np.any(i < len(self._seg) - 1):
            i = np.where((self._seg_len[i] == 0) & (i < len(self._seg) - 1), i + 1, i)
        seg_len = np.where(self._seg_len[i] > 0, self._seg_len[i], 1.0)
        t = np.clip((s - self._cum[i]) / seg_len, 0.0, 1.0)
        x = self._xy[i, 0] + t * self._seg[i, 0]
        y = self._xy[i, 1] + t * self._seg[i, 1]
        tx, ty = self._seg[i, 0] / seg_len, self._seg[i, 1] / seg_len
        return x, y, -ty * self._sign, tx * self._sign

    def offset(
        self, s: FloatArray, side: FloatArray, distance_m: FloatArray | float
    ) -> tuple[FloatArray, FloatArray]:
        x, y, nx, ny = self.point_and_normal(s)
        d = side * np.asarray(distance_m, dtype=np.float64)
        return x + d * nx, y + d * ny


@dataclass(frozen=True)
class Sites:
    """A set of fixed sites (sensors, posts or radars), in both coordinate systems."""

    ids: list[str]
    x: FloatArray
    y: FloatArray
    lon: FloatArray
    lat: FloatArray
    side: FloatArray

    def __len__(self) -> int:
        return len(self.ids)


def place_rows(
    path: LinePath,
    geo: Geography,
    rng: np.random.Generator,
    *,
    spacing_m: float,
    offsets_m: list[float],
    jitter_m: float,
    prefix: str,
    width: int,
) -> Sites:
    """Rows of sites every `spacing_m` along the line, at each offset, on both sides.

    Rows are staggered by half a spacing so neighbouring rows do not line up. A site whose
    controlling party is not the side it was meant for (a sharp bend) is dropped.
    """
    xs, ys, sides = [], [], []
    positive = geo.positive_index
    for k, off in enumerate(offsets_m):
        for side in (1.0, -1.0):
            start = spacing_m * (0.5 if k % 2 else 0.25) * (1.0 if side > 0 else 1.5)
            s = np.arange(start, path.length_m, spacing_m)
            x, y = path.offset(s, np.full(s.shape, side), off)
            x = x + rng.normal(0.0, jitter_m, s.shape)
            y = y + rng.normal(0.0, jitter_m, s.shape)
            lon, lat = geo.unproject(x, y)
            party = geo.party_index(lon, lat)
            on_side = (party == positive) if side > 0 else (party != positive) & (party >= 0)
            far_enough = geo.distance_m(lon, lat) >= 0.5 * off
            keep = on_side & far_enough
            xs.append(x[keep])
            ys.append(y[keep])
            sides.append(np.full(int(keep.sum()), side))
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    lon, lat = geo.unproject(x, y)
    ids = [f"{prefix}-{i:0{width}d}" for i in range(1, len(x) + 1)]
    return Sites(ids, x, y, lon, lat, np.concatenate(sides))
