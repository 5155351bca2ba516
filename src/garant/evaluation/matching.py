"""One-to-one matching of found events to true events within a distance and a time tolerance.

A pair is a candidate when both its geodesic distance and its time difference are within
tolerance. A true event that lasts (a barrage, weapons kept in place for hours) may be given
its end: the time difference is then to the nearest moment of its span, since a report at any
time while it lasts is a report of it. A found event placed where the fire came from (nothing
told where it fell) is compared with where the true fire came from: like with like. Among
candidates, the matching first has as many pairs as possible, then the smallest total cost
(d/D)^2 + (dt/T)^2: the Hungarian algorithm (SciPy's `linear_sum_assignment`) on each connected
group of candidates, so a dense barrage is matched as a whole and the whole run never becomes
one dense matrix.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyproj
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from garant.sim.physics import geodesic

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_INFEASIBLE = 1e6


def _local_xy(lon: FloatArray, lat: FloatArray, lon0: float, lat0: float) -> tuple[FloatArray, FloatArray]:
    aeqd = pyproj.Transformer.from_crs(
        "EPSG:4326", f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m", always_xy=True
    )
    x, y = aeqd.transform(lon, lat)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


Points = tuple[FloatArray, FloatArray, FloatArray]  # lon, lat, time


def _candidates(
    true: Points,
    found: Points,
    which: IntArray,
    tolerance: tuple[float, float],
    true_t_end: FloatArray | None,
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """The pairs (true, found among `which`) within both tolerances (distance, time), their
    distance and time difference."""
    true_lon, true_lat, true_t = true
    found_lon, found_lat, found_t = found
    distance_m, time_s = tolerance
    flon, flat, ft = found_lon[which], found_lat[which], found_t[which]
    lon0 = float(np.median(np.concatenate([true_lon, flon])))
    lat0 = float(np.median(np.concatenate([true_lat, flat])))
    tx, ty = _local_xy(true_lon, true_lat, lon0, lat0)
    fx, fy = _local_xy(flon, flat, lon0, lat0)
    # candidates in a scaled space (a little generous: the projection is not exact far from its
    # centre), then the exact tests
    slack = 1.05
    if true_t_end is None:
        t_pts = np.column_stack([tx / distance_m, ty / distance_m, (true_t - true_t.min()) / time_s])
        f_pts = np.column_stack([fx / distance_m, fy / distance_m, (ft - true_t.min()) / time_s])
        radius = np.sqrt(2.0) * slack
    else:  # spans: candidates by place only, the time test below
        t_pts, f_pts, radius = (
            np.column_stack([tx, ty]) / distance_m,
            np.column_stack([fx, fy]) / distance_m,
            slack,
        )
    pairs = cKDTree(t_pts).sparse_distance_matrix(cKDTree(f_pts), radius, output_type="ndarray")
    ti = pairs["i"].astype(np.int64)
    fi = which[pairs["j"].astype(np.int64)]
    if true_t_end is None:
        dt = np.abs(true_t[ti] - found_t[fi])
    else:
        end = np.maximum(true_t_end[ti], true_t[ti])
        dt = np.maximum.reduce([true_t[ti] - found_t[fi], found_t[fi] - end, np.zeros(len(ti))])
    _, _, d = geodesic(true_lon[ti], true_lat[ti], found_lon[fi], found_lat[fi])
    ok = (d <= distance_m) & (dt <= time_s)
    return ti[ok], fi[ok], d[ok], dt[ok]


def counterpart(
    true_lon: FloatArray,
    true_lat: FloatArray,
    true_origin: FloatArray | None,
    at_origin: npt.NDArray[np.bool_] | None,
) -> tuple[FloatArray, FloatArray]:
    """Where each true event is to be compared with a found event placed at its origin: the
    true origin where there is one (fire), else the true place."""
    if true_origin is None or at_origin is None or not at_origin.any():
        return true_lon, true_lat
    has = np.all(np.isfinite(true_origin), axis=1)
    return np.where(has, true_origin[:, 0], true_lon), np.where(has, true_origin[:, 1], true_lat)


def match_events(
    true_lon: FloatArray,
    true_lat: FloatArray,
    true_t: FloatArray,
    found_lon: FloatArray,
    found_lat: FloatArray,
    found_t: FloatArray,
    distance_m: float,
    time_s: float,
    true_t_end: FloatArray | None = None,
    true_origin: FloatArray | None = None,
    found_at_origin: npt.NDArray[np.bool_] | None = None,
) -> tuple[IntArray, IntArray]:
    """Indices (true, found) of the matched pairs. A found event placed at its origin
    (`found_at_origin`: nothing told where the rounds fell) is compared with the true origin
    (`true_origin`, lon and lat; NaN where there is none), the others with the true place."""
    if len(true_t) == 0 or len(found_t) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    at_origin = np.zeros(len(found_t), dtype=bool) if found_at_origin is None else found_at_origin
    olon, olat = counterpart(true_lon, true_lat, true_origin, at_origin)
    found = (found_lon, found_lat, found_t)
    parts = [
        _candidates((tlon, tlat, true_t), found, np.flatnonzero(sel), (distance_m, time_s), true_t_end)
        for tlon, tlat, sel in ((true_lon, true_lat, ~at_origin), (olon, olat, at_origin))
        if sel.any()
    ]
    ti, fi, d, dt = (np.concatenate([p[k] for p in parts]) for k in range(4))
    if len(ti) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    cost = (d / distance_m) ** 2 + (dt / time_s) ** 2
    n_t, n_f = len(true_t), len(found_t)
    graph = coo_matrix((np.ones(len(ti)), (ti, n_t + fi)), shape=(n_t + n_f, n_t + n_f))
    _, label = connected_components(graph, directed=False)
    comp = label[ti]
    order = np.argsort(comp, kind="stable")
    ti, fi, cost, comp = ti[order], fi[order], cost[order], comp[order]
    bounds = np.flatnonzero(np.diff(comp)) + 1
    out_t: list[IntArray] = []
    out_f: list[IntArray] = []
    for a, b in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [len(comp)]]), strict=True):
        ct, cf, cc = ti[a:b], fi[a:b], cost[a:b]
        if b - a == 1:
            out_t.append(ct)
            out_f.append(cf)
            continue
        rows, r_inv = np.unique(ct, return_inverse=True)
        cols, c_inv = np.unique(cf, return_inverse=True)
        m = np.full((len(rows), len(cols)), _INFEASIBLE)
        m[r_inv, c_inv] = cc
        r, c = linear_sum_assignment(m)
        good = m[r, c] < _INFEASIBLE
        out_t.append(rows[r[good]])
        out_f.append(cols[c[good]])
    return np.concatenate(out_t), np.concatenate(out_f)
