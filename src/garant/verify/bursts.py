"""Bursts: sustained fire from one place (small arms, a machine gun), located from the rhythm of
its arrivals where no single shot is heard by enough sensors to be located alone.

A rifle's report carries a few kilometres: each shot reaches two or three sensors, fewer than
the acoustic associator needs (three unknowns per shot: place and time). But a burst is many
shots from one place at an irregular rhythm, and every sensor that hears it receives the same
rhythm shifted by its travel time. So, as gunshot locators do, the lag between two sensors'
arrival streams is found by counting coincidences (the lag at which most arrivals of one
stream have a counterpart in the other), and the place by least squares on those lags
(time differences of arrival, hyperbolae): every shot heard at both sensors adds to the lag's
precision, and two lags from three sensors fix a point.

Steps, none comparing all pairs: each sensor's arrivals left unexplained by the associator are
cut into runs (at gaps over `RUN_GAP_S`); runs at sensors within `PAIR_M` of each other that
overlap in time (allowing the travel time between them) are compared; linked runs form
components (SciPy's connected components). A component with runs at three sensors or more, at
an automatic weapon's cadence, is placed by scanning the hyperbolae of its strongest lags and
refined by `scipy.optimize.least_squares`. Where a sensor is an array, the bearings of its
arrivals count in the scan as the lags' coincidences do (arrivals pointing at the place) and
their mean enters the fit: a bearing and one lag fix a point, so a burst heard by two sensors
is placed when one of them is an array, and a bearing tells the two crossings of three
sensors' hyperbolae apart. Two single sensors alone give one lag, a curve: the burst's law is
then that hyperbola (`Arc`), cut by the sensors that listened and heard nothing and weighted by
the loudness ratio, and dropped if its 95% ellipse is longer than a rifle is heard. The
covariance is the fit's, inflated by the reduced chi-square when the lags disagree more than
their stated precision (and by the interval between shots when no lag checks another).
Details in docs/verification.md. Why by hand: no library associates repeated-shot streams; the
optimisation and the graph are SciPy's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt
from scipy.optimize import least_squares
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from garant.verify.acoustic import semi_major_95

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

RUN_GAP_S = 15.0  # a pause this long ends a sensor's run of arrivals
MIN_RUN = 3  # arrivals in a run: fewer is not a burst
PAIR_M = 12_000.0  # two sensors hearing one rifle are at most this far apart
MIN_COINCIDENCES = 3  # shots heard at both sensors that make a lag
STRONG_PARTNERS = 2  # runs paired with the loudest whose hyperbolae are scanned (most arrivals)
HYPERBOLA_STEPS = 4_000  # directions from the reference: a few metres apart at 6 km
RAY_STEP_M = 10.0  # points along an array's bearing
REFINE_CELLS, REFINE_HALF_M, REFINE_STEP_M = 4, 150.0, 10.0  # the best cells searched again, finely
RIVAL_MARGIN = 2.0  # coincidences below the best that a rival place may score
PLACE_FLOOR_M = 10.0  # no place is known better than the sensors' own stated positions
RIVAL_APART_M = 50.0  # a rival is this far from the best at least (nearer is the same peak)
REFINE_MARGIN = 3.0  # coincidences below the best scan point that a cell may be and still be searched
MAX_RUN = 400  # arrivals in a run at most
MAX_SHOT_INTERVAL_S = 1.0  # median interval of a burst's arrivals where most are heard
BEARING_FLOOR_DEG = 1.0  # a bearing's mean is no better than this (site effects, wind across)
MIN_PAIR_SHOTS = 4  # shots heard at both of two sensors, alone, that make a burst
HEARD_M = PAIR_M / 2.0  # a rifle is heard this far at most
LOUDNESS_SITE_SIGMA = 0.2  # error of a log amplitude ratio that more shots do not average out
ARC_MAX_M = HEARD_M  # a two-sensor burst's 95% semi-major at most: a longer curve is anywhere both hear
ARC_SEGMENT_M = 200.0  # longer steps between a hyperbola's samples are a jump past its asymptote


@dataclass(frozen=True)
class BurstParams:
    speed_ms: float = 343.0
    timing_sigma_s: float = 0.025
    min_stations: int = 3


@dataclass(frozen=True)
class Arc:
    """Where a burst heard by two sensors alone was fired: along the hyperbola of their lag,
    where both could hear it and no nearer sensor stayed silent, weighted by arc length and by
    how well each point's ranges explain the two sensors' loudness (sound spreads as 1/range, so
    the amplitude ratio of a shot at the two sensors is the inverse of their range ratio). One
    lag draws a curve, not an ellipse: a Gaussian would put half its mass off the curve."""

    x: FloatArray  # points along the hyperbola, m
    y: FloatArray
    weight: FloatArray  # probability of each point's stretch, sums to 1
    nx: FloatArray  # unit normal of the hyperbola at each point
    ny: FloatArray
    sigma_m: FloatArray  # spread across the hyperbola at each point (the lag's precision)

    def gaussian(self) -> tuple[float, float, FloatArray]:
        """Mean and covariance of the law: for fusion, which weighs Gaussians."""
        w = self.weight
        mx, my = float(w @ self.x), float(w @ self.y)
        dx, dy = self.x - mx, self.y - my
        across = float(w @ self.sigma_m**2)
        cov = np.array([[w @ (dx * dx), w @ (dx * dy)], [w @ (dx * dy), w @ (dy * dy)]]) + np.eye(2) * (
            across + PLACE_FLOOR_M**2
        )
        return mx, my, cov

    def draws(self, u: FloatArray, z: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Points of the law for uniform draws `u` in [0, 1) and standard normal `z`."""
        k = np.minimum(np.searchsorted(np.cumsum(self.weight), u, side="right"), len(self.x) - 1)
        off = z * self.sigma_m[k]
        return self.x[k] + off * self.nx[k], self.y[k] + off * self.ny[k]


@dataclass
class Bursts:
    """Located bursts, one row each; `members[k]` are the indices of its arrivals; `arcs[k]` the
    law of a burst heard by two sensors alone (else None: the place is the Gaussian)."""

    t0: FloatArray  # first shot, origin time
    t1: FloatArray  # last shot, origin time
    x: FloatArray
    y: FloatArray
    cov: FloatArray  # (n, 2, 2), m²
    rounds: IntArray  # shots heard at the sensor that heard most
    n_stations: IntArray
    members: list[IntArray]
    arcs: list[Arc | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.t0)


@dataclass
class _Run:
    station: int
    idx: IntArray  # arrival indices, time-sorted
    t: FloatArray
    loudness: float  # median amplitude, else the number of arrivals: the nearer, the louder
    az: FloatArray  # each arrival's grid azimuth (radians) if the sensor is an array, else NaN
    az_sigma: float  # one azimuth's standard deviation (radians); NaN for a single sensor

    @property
    def is_array(self) -> bool:
        return math.isfinite(self.az_sigma)

    @cached_property
    def _around(self) -> FloatArray:
        """The azimuths sorted in [-pi, pi), once more either side of the circle: sorted once,
        searched by every scan of the run's component."""
        a = np.sort(_wrap(self.az[np.isfinite(self.az)]))
        return np.concatenate([a - 2.0 * math.pi, a, a + 2.0 * math.pi])

    def pointing(self, ox: float, oy: float, px: FloatArray, py: FloatArray) -> FloatArray:
        """For each point, how many arrivals' azimuths point at it from the sensor at (ox, oy),
        within 2 sigma (two binary searches a point, as `_count_at` counts coincidences)."""
        to = np.arctan2(np.asarray(px) - ox, np.asarray(py) - oy)
        return _count_at(self._around, to, 2.0 * self.az_sigma)

    def pointing_at(self, ox: float, oy: float, x: float, y: float) -> FloatArray:
        """The azimuths (radians) of the arrivals that point at (x, y), within 2 sigma."""
        return self.az[np.abs(_wrap(self.az - math.atan2(x - ox, y - oy))) <= 2.0 * self.az_sigma]

    def bearings(self, most: int = 2) -> list[float]:
        """The azimuths (radians) most arrivals agree on, within 2 sigma: at least
        `MIN_COINCIDENCES` arrivals each, best first."""
        a = self.az[np.isfinite(self.az)]
        near = np.abs(_wrap(a[:, None] - a[None, :])) <= 2.0 * self.az_sigma
        alive = np.ones(len(a), dtype=bool)
        out: list[float] = []
        while len(out) < most and alive.any():
            counts = (near & alive[None, :]).sum(axis=1) * alive
            k = int(np.argmax(counts))
            if counts[k] < MIN_COINCIDENCES:
                break
            sel = near[k] & alive
            out.append(_circular_mean(a[sel]))
            alive &= ~sel
        return out


def _wrap(a: FloatArray) -> FloatArray:
    return np.asarray(np.mod(a + math.pi, 2.0 * math.pi) - math.pi)


def _circular_mean(a: FloatArray) -> float:
    return math.atan2(float(np.sin(a).mean()), float(np.cos(a).mean()))


def _placeable(sensors: int, bearings: int, p: BurstParams) -> bool:
    """Two unknowns: the lags (sensors less one) and the bearings must make as many measurements
    as `min_stations` sensors would, and two at least."""
    return sensors >= 2 and sensors - 1 + bearings >= max(2, p.min_stations - 1)


def _runs(
    station: IntArray, t: FloatArray, amplitude: FloatArray, az: FloatArray, az_sigma: FloatArray
) -> list[_Run]:
    order = np.lexsort((t, station))
    s, ts = station[order], t[order]
    cut = np.flatnonzero((np.diff(s) != 0) | (np.diff(ts) > RUN_GAP_S)) + 1
    # a long barrage's leftovers make long runs; cut them so that a pair's differences stay few
    bounds = [
        (a, min(a + MAX_RUN, hi)) for lo, hi in zip(np.r_[0, cut], np.r_[cut, len(s)], strict=True)
        for a in range(int(lo), int(hi), MAX_RUN)
    ]  # fmt: skip
    out = []
    for lo, hi in bounds:
        if hi - lo >= MIN_RUN:
            amp = amplitude[order[lo:hi]]
            amp = amp[np.isfinite(amp) & (amp > 0)]
            loud = float(np.median(amp)) if len(amp) else float(hi - lo)
            a, sig = az[order[lo:hi]], az_sigma[order[lo:hi]]
            has = np.isfinite(a) & np.isfinite(sig) & (sig > 0)
            sigma = float(np.median(sig[has])) if has.sum() >= MIN_RUN else math.nan
            out.append(_Run(int(s[lo]), order[lo:hi], ts[lo:hi], loud, np.where(has, a, np.nan), sigma))
    return out


def _differences(a: FloatArray, b: FloatArray, max_lag: float) -> FloatArray:
    """Every arrival time of `b` minus every one of `a`, within the possible lags, sorted."""
    d = (b[None, :] - a[:, None]).ravel()
    return np.sort(d[np.abs(d) <= max_lag])


def _count_at(d: FloatArray, lag: float | FloatArray, tol: float) -> FloatArray:
    """Coincidences: differences within `tol` of `lag`."""
    return np.asarray(
        np.searchsorted(d, np.add(lag, tol), side="right") - np.searchsorted(d, np.subtract(lag, tol)),
        dtype=np.float64,
    )


def lag_peaks(d: FloatArray, tol: float, most: int = 3) -> list[float]:
    """The lags (s) with most coincidences, best first: at least `MIN_COINCIDENCES` each and at
    least half the best's. A rhythm that is nearly regular gives a runner-up one shot off the
    true lag, so several are kept and the sensors decide together (`locate_bursts`)."""
    if len(d) < MIN_COINCIDENCES:
        return []
    counts = np.searchsorted(d, d + 2.0 * tol, side="right") - np.arange(len(d))
    out: list[float] = []
    best = 0
    alive = np.ones(len(d), dtype=bool)
    while len(out) < most and alive.any():
        k = int(np.argmax(np.where(alive, counts, -1)))
        n = int(counts[k])
        if n < max(MIN_COINCIDENCES, best / 2.0):
            break
        best = max(best, n)
        lag = float(np.median(d[k : k + n]))
        out.append(lag)
        alive &= np.abs(d - lag) > 2.0 * tol
    return out


class _Heard:
    """Which sensors had any arrival when: to find those that should have heard and did not."""

    def __init__(self, tree: cKDTree, station: IntArray, t: FloatArray) -> None:
        order = np.argsort(t, kind="stable")
        self.tree, self.station, self.t = tree, station[order], t[order]

    def silent_within(self, px: float, py: float, radius: float, window: tuple[float, float]) -> int:
        near = self.tree.query_ball_point([px, py], radius)
        if not near:
            return 0
        lo, hi = np.searchsorted(self.t, window)
        return len(np.setdiff1d(np.asarray(near, dtype=np.int64), self.station[lo:hi]))

    def arrivals(self, k: int, t0: float, t1: float) -> FloatArray:
        """Sensor `k`'s arrival times in [t0, t1]."""
        lo, hi = np.searchsorted(self.t, [t0, t1])
        return np.asarray(self.t[lo:hi][self.station[lo:hi] == k], dtype=np.float64)

    def any_silent(
        self, px: FloatArray, py: FloatArray, radius: FloatArray, window: tuple[float, float]
    ) -> npt.NDArray[np.bool_]:
        """For each point, whether a sensor nearer than `radius` had no arrival in `window`."""
        lo, hi = np.searchsorted(self.t, window)
        busy = set(self.station[lo:hi].tolist())
        near = self.tree.query_ball_point(np.column_stack([px, py]), radius)
        return np.array([any(s not in busy for s in n) for n in near], dtype=bool)


@dataclass
class _Pair:
    diffs: FloatArray  # run j's arrivals minus run i's, sorted
    peaks: list[float]


def locate_bursts(
    sx: FloatArray,
    sy: FloatArray,
    station: IntArray,
    t: FloatArray,
    amplitude: FloatArray | None = None,
    params: BurstParams | None = None,
    azimuth_deg: FloatArray | None = None,
    azimuth_sigma_deg: FloatArray | None = None,
) -> Bursts:
    """Arrivals (station index into `sx`/`sy`, time in seconds, amplitude if measured, grid
    azimuth and its standard deviation in degrees where the sensor is an array, else NaN) ->
    located bursts."""
    p = params or BurstParams()
    c = p.speed_ms
    tol = 2.0 * p.timing_sigma_s * math.sqrt(2.0)
    t = np.asarray(t, dtype=np.float64)
    amp = np.full(len(t), np.nan) if amplitude is None else np.asarray(amplitude, dtype=np.float64)
    nan = np.full(len(t), np.nan)
    az = nan if azimuth_deg is None else np.radians(np.asarray(azimuth_deg, dtype=np.float64))
    az_sigma = nan if azimuth_sigma_deg is None else np.radians(np.asarray(azimuth_sigma_deg, np.float64))
    runs = _runs(np.asarray(station, dtype=np.int64), t, amp, az, az_sigma)
    if len(runs) < 2:
        return _empty()
    rs = np.array([r.station for r in runs])
    start = np.array([r.t[0] for r in runs])
    end = np.array([r.t[-1] for r in runs])
    tree = cKDTree(np.column_stack([sx[rs], sy[rs]]))
    heard = _Heard(cKDTree(np.column_stack([sx, sy])), np.asarray(station, dtype=np.int64), t)
    pairs: dict[tuple[int, int], _Pair] = {}
    ij = tree.query_pairs(PAIR_M, output_type="ndarray")
    ij = ij[rs[ij[:, 0]] != rs[ij[:, 1]]]
    reach = np.hypot(sx[rs[ij[:, 0]]] - sx[rs[ij[:, 1]]], sy[rs[ij[:, 0]]] - sy[rs[ij[:, 1]]]) / c + tol
    overlap = (start[ij[:, 1]] <= end[ij[:, 0]] + reach) & (start[ij[:, 0]] <= end[ij[:, 1]] + reach)
    for (i, j), r in zip(ij[overlap].tolist(), reach[overlap].tolist(), strict=True):
        diffs = _differences(runs[i].t, runs[j].t, r)
        peaks = lag_peaks(diffs, tol)
        if peaks:
            pairs[(i, j)] = _Pair(diffs, peaks)
    if not pairs:
        return _empty()
    keys = np.array(list(pairs), dtype=np.int64)
    graph = coo_matrix((np.ones(len(keys)), (keys[:, 0], keys[:, 1])), shape=(len(runs),) * 2)
    _, label = connected_components(graph, directed=False)
    out: list[tuple[float, float, float, float, FloatArray, int, int, IntArray]] = []
    arcs: list[Arc | None] = []
    by_comp: dict[int, dict[tuple[int, int], _Pair]] = {}
    for key, pair in pairs.items():
        by_comp.setdefault(int(label[key[0]]), {})[key] = pair
    for mine in by_comp.values():
        in_comp = {r for key in mine for r in key}
        # an automatic weapon's cadence, at the sensor that heard most of it; a barrage's rounds
        # left over by the associator come seconds apart, and are the associator's to place
        loudest = max((r for key in mine for r in key), key=lambda r: len(runs[r].t))
        if float(np.median(np.diff(runs[loudest].t))) > MAX_SHOT_INTERVAL_S:
            continue
        # two sensors suffice when one of them is an array: a bearing and a lag fix a point
        arrays = {int(rs[r]) for r in in_comp if runs[r].is_array}
        sensors = len({int(rs[r]) for r in in_comp})
        arc: Arc | None = None
        if _placeable(sensors, len(arrays), p):
            found = _locate(sx, sy, rs, runs, mine, c, tol, p, heard)
        elif sensors == 2 and len(mine) == 1:
            # two single sensors: one lag, a curve; placed along it where the evidence allows
            ((key, pair),) = mine.items()
            arc = _pair_arc(sx, sy, rs, runs, key, pair, amp, c, tol, p, heard)
            found = None if arc is None else (*arc.gaussian(), np.array(key, dtype=np.int64))
            if found is not None and semi_major_95(found[2]) > ARC_MAX_M:
                found = None  # two sensors heard fire somewhere along kilometres of curve
        else:
            continue
        if found is None:
            continue
        x, y, cov, members = found
        ranges = np.hypot(sx[rs[members]] - x, sy[rs[members]] - y)
        first = min(float(runs[m].t[0]) - ranges[k] / c for k, m in enumerate(members))
        last = max(float(runs[m].t[-1]) - ranges[k] / c for k, m in enumerate(members))
        idx = np.sort(np.concatenate([runs[m].idx for m in members]))
        rounds = max(len(runs[m].t) for m in members)
        out.append((first, last, x, y, cov, rounds, len(np.unique(rs[members])), idx))
        arcs.append(arc)
    if not out:
        return _empty()
    return Bursts(
        t0=np.array([o[0] for o in out]),
        t1=np.array([o[1] for o in out]),
        x=np.array([o[2] for o in out]),
        y=np.array([o[3] for o in out]),
        cov=np.array([o[4] for o in out]),
        rounds=np.array([o[5] for o in out], dtype=np.int64),
        n_stations=np.array([o[6] for o in out], dtype=np.int64),
        members=[o[7] for o in out],
        arcs=arcs,
    )


def _locate(
    sx: FloatArray,
    sy: FloatArray,
    rs: IntArray,
    runs: list[_Run],
    pairs: dict[tuple[int, int], _Pair],
    c: float,
    tol: float,
    p: BurstParams,
    heard: _Heard,
) -> tuple[float, float, FloatArray, IntArray] | None:
    """One component's place: the points of the hyperbolae that the loudest run's lag peaks with
    its strongest partners draw, and of the rays its arrays' bearings draw, each scored by the
    coincidences that all the component's pairs have at the lags it predicts plus the arrivals
    pointing at it; the best cells searched again finely; the best point (ties told apart by
    silent sensors, then loudness) refined by least squares on the lags and bearings measured
    there, its covariance widened by the spread of the places that scored nearly as well."""
    members = np.unique(np.array(list(pairs)))
    ref = int(members[np.argmax([len(runs[m].t) for m in members])])
    lags_from_ref: dict[int, list[float]] = {}
    for (i, j), pair in pairs.items():
        if ref in (i, j):
            other = j if i == ref else i
            lags_from_ref[other] = [lag if i == ref else -lag for lag in pair.peaks]
    others = sorted(lags_from_ref, key=lambda m: -len(runs[m].t))
    ax, ay = sx[rs[ref]], sy[rs[ref]]
    items = list(pairs.items())
    a_st = np.array([rs[i] for (i, _), _ in items])
    b_st = np.array([rs[j] for (_, j), _ in items])

    arrays = [m for m in members.tolist() if runs[m].is_array]

    def score(px: FloatArray, py: FloatArray) -> FloatArray:
        lag = (
            np.hypot(px[:, None] - sx[b_st], py[:, None] - sy[b_st])
            - np.hypot(px[:, None] - sx[a_st], py[:, None] - sy[a_st])
        ) / c
        total = sum(_count_at(pair.diffs, lag[:, k], tol) for k, (_, pair) in enumerate(items))
        # an array's arrivals that point at the place count as a lag's coincidences do
        for m in arrays:
            total = total + runs[m].pointing(sx[rs[m]], sy[rs[m]], px, py)
        return np.asarray(total, dtype=np.float64)

    # along the hyperbola that each lag peak of the reference with its strongest partners draws
    # (a weak pair may not show its true lag as a peak; a strong one does), every point is scored
    # by the coincidences of all the component's pairs at the lags it predicts
    theta = np.linspace(0.0, 2.0 * math.pi, HYPERBOLA_STEPS, endpoint=False)
    ux, uy = np.cos(theta), np.sin(theta)
    xs, ys, scores = [], [], []
    for other in others[:STRONG_PARTNERS]:
        bx, by = sx[rs[other]] - ax, sy[rs[other]] - ay
        for lag in lags_from_ref[other]:
            d = c * lag
            den = 2.0 * (ux * bx + uy * by + d)
            with np.errstate(divide="ignore", invalid="ignore"):
                r = (bx * bx + by * by - d * d) / den
            ok = np.isfinite(r) & (r > 0.0) & (r < PAIR_M)
            px, py = ax + r[ok] * ux[ok], ay + r[ok] * uy[ok]
            xs.append(px)
            ys.append(py)
            scores.append(score(px, py))
    # and along the bearings an array's arrivals agree on: where the lags of weak pairs show no
    # peak above chance (a shot heard at both sensors is rare at 3-4 km), the bearing still
    # points at the place
    steps = np.arange(RAY_STEP_M, PAIR_M, RAY_STEP_M)
    for m in arrays:
        for bearing in runs[m].bearings():
            px, py = sx[rs[m]] + steps * math.sin(bearing), sy[rs[m]] + steps * math.cos(bearing)
            xs.append(px)
            ys.append(py)
            scores.append(score(px, py))
    if not xs or not sum(len(v) for v in xs):
        return None
    px, py, sc = np.concatenate(xs), np.concatenate(ys), np.concatenate(scores)
    # with three sensors both crossings of two hyperbolae fit every lag. The wrong one has, as a
    # rule, sensors nearer to it than any that heard, which heard nothing then; and loudness
    # (the source's strength, amplitude times range, is the same at every sensor) breaks ties
    loud = np.log([runs[m].loudness for m in members])
    window = (min(float(runs[m].t[0]) for m in members), max(float(runs[m].t[-1]) for m in members))

    def plausibility(k: int) -> tuple[int, float]:
        ranges = np.hypot(px[k] - sx[rs[members]], py[k] - sy[rs[members]])
        silent = heard.silent_within(float(px[k]), float(py[k]), float(ranges.min()), window)
        return silent, float(np.var(loud + np.log(ranges + 1.0)))

    # the scan samples lines; all pairs' coincidences peak together in a cell a few tens of metres
    # wide, which the samples may straddle: the best cells are searched again on a fine grid
    near_best = np.flatnonzero(sc >= sc.max() - REFINE_MARGIN)
    near_best = near_best[np.argsort(-sc[near_best], kind="stable")]
    _, first = np.unique(
        np.round(np.column_stack([px, py])[near_best] / REFINE_HALF_M), axis=0, return_index=True
    )
    fine = np.arange(-REFINE_HALF_M, REFINE_HALF_M + 1.0, REFINE_STEP_M)
    gx, gy = (g.ravel() for g in np.meshgrid(fine, fine))
    for k in near_best[np.sort(first)][:REFINE_CELLS].tolist():
        qx, qy = px[k] + gx, py[k] + gy
        px, py, sc = np.r_[px, qx], np.r_[py, qy], np.r_[sc, score(qx, qy)]
    tied = np.flatnonzero(sc >= sc.max())
    # one point per 50 m cell of the plateau around each crossing is enough to tell them apart
    _, one = np.unique(np.round(np.column_stack([px[tied], py[tied]]) / 50.0), axis=0, return_index=True)
    k_best = min(tied[one].tolist(), key=plausibility)
    best = (float(px[k_best]), float(py[k_best]))
    # the lags at the best point, measured where it predicts them; pairs with too few dropped
    edges = []
    for (i, j), pair in items:
        pred = (
            math.hypot(best[0] - sx[rs[j]], best[1] - sy[rs[j]])
            - math.hypot(best[0] - sx[rs[i]], best[1] - sy[rs[i]])
        ) / c
        near = pair.diffs[np.abs(pair.diffs - pred) <= tol]
        if len(near) >= MIN_COINCIDENCES:
            edges.append((i, j, float(near.mean()), p.timing_sigma_s * math.sqrt(2.0 / len(near))))
    if not edges:
        return None
    e = np.array(edges)
    used = np.unique(e[:, :2].astype(np.int64))
    # each array's mean bearing of the arrivals that point at the best point
    bearings = []
    for m in arrays:
        if m not in used:
            continue
        a = runs[m].pointing_at(sx[rs[m]], sy[rs[m]], *best)
        if len(a) < MIN_COINCIDENCES:
            continue
        sigma = max(runs[m].az_sigma / math.sqrt(len(a)), math.radians(BEARING_FLOOR_DEG))
        bearings.append((float(rs[m]), _circular_mean(a), sigma))
    b = np.array(bearings).reshape(-1, 3)
    if len(e) + len(b) <= 2:
        # nothing checks another: a lag may be one shot off (the rhythm repeats), which no fit
        # shows, so each lag carries half the shooter's interval between shots as well
        e[:, 3] = np.hypot(e[:, 3], 0.5 * float(np.median(np.diff(runs[ref].t))))
    if not _placeable(len(np.unique(rs[used])), len(b), p):
        return None
    # points of the scan nearly as good as the best and away from it are places the arrivals
    # hardly tell from it (a chance peak of a weak pair, the other crossing): their spread is
    # part of the uncertainty, which the fit at the best point alone does not see
    far = np.hypot(px - best[0], py - best[1]) > RIVAL_APART_M
    rivals = np.flatnonzero(far & (sc >= sc[k_best] - RIVAL_MARGIN))
    offsets = np.column_stack([px[rivals] - best[0], py[rivals] - best[1]])
    spread = offsets.T @ offsets / len(rivals) if len(rivals) else np.zeros((2, 2))
    fit = _fit(sx, sy, rs, e, c, best, b, spread)
    if fit is None:
        return None
    return fit[0], fit[1], fit[2], used


def _pair_arc(
    sx: FloatArray,
    sy: FloatArray,
    rs: IntArray,
    runs: list[_Run],
    key: tuple[int, int],
    pair: _Pair,
    amp: FloatArray,
    c: float,
    tol: float,
    p: BurstParams,
    heard: _Heard,
) -> Arc | None:
    """The law of a burst heard by two single sensors alone: the hyperbola of each lag at which
    at least `MIN_PAIR_SHOTS` shots coincide, well above what any lag gets by chance, and not
    clearly fewer than at the best lag (a nearly regular rhythm leaves a rival one shot off,
    which nothing here can rule out, so each such lag's curve is kept), cut to where both
    sensors could hear it (`HEARD_M`) and no sensor nearer than both had silence; each point
    weighted by its stretch of curve and by the loudness ratio. None where nothing is left."""
    i, j = key
    a, b = int(rs[i]), int(rs[j])
    bx, by = sx[b] - sx[a], sy[b] - sy[a]
    theta = np.linspace(0.0, 2.0 * math.pi, HYPERBOLA_STEPS, endpoint=False)
    ux, uy = np.cos(theta), np.sin(theta)
    window = (min(runs[i].t[0], runs[j].t[0]), max(runs[i].t[-1], runs[j].t[-1]))
    parts: list[tuple[FloatArray, ...]] = []
    counts = [int(_count_at(pair.diffs, lag, tol)) for lag in pair.peaks]
    # coincidences any lag gets by chance in a dense burst (the differences spread over every
    # possible lag); a lag counts if it stands out of those and is not clearly below the best
    chance = len(pair.diffs) * 2.0 * tol / (2.0 * (math.hypot(bx, by) / c + tol))
    floor = max(
        MIN_PAIR_SHOTS, chance + 3.0 * math.sqrt(chance) + 1.0, counts[0] - 2.0 * math.sqrt(counts[0])
    )
    for lag, shots in zip(pair.peaks, counts, strict=True):
        d = c * lag
        # a lag of the whole baseline (a rival one shot off, as a rule) draws no curve but the
        # line beyond a sensor, where the samples of the scan fall in a heap
        if shots < floor or abs(d) >= math.hypot(bx, by) - c * tol:
            continue
        den = 2.0 * (ux * bx + uy * by + d)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (bx * bx + by * by - d * d) / den
        px, py = sx[a] + r * ux, sy[a] + r * uy
        rb = np.hypot(px - sx[b], py - sy[b])
        ok = np.isfinite(r) & (r > 0.0) & (r < HEARD_M) & (rb < HEARD_M)
        idx = np.flatnonzero(ok)
        if len(idx):
            quiet = heard.any_silent(px[idx], py[idx], np.minimum(r[idx], rb[idx]), window)
            ok[idx[quiet]] = False
        if not ok.any():
            continue
        # each point's stretch of curve: half the steps to its kept neighbours (a jump past an
        # asymptote is no stretch)
        step = np.hypot(np.roll(px, -1) - px, np.roll(py, -1) - py)
        step = np.where(ok & np.roll(ok, -1) & (step < ARC_SEGMENT_M), step, 0.0)
        length = 0.5 * (step + np.roll(step, 1))
        # the hyperbola's gradient |unit(p - b) - unit(p - a)|: across it, c * sigma_lag / |grad|
        with np.errstate(divide="ignore", invalid="ignore"):
            gx = (px - sx[b]) / rb - (px - sx[a]) / r
            gy = (py - sy[b]) / rb - (py - sy[a]) / r
        g = np.hypot(gx, gy)
        keep = ok & (length > 0.0) & (g > 1e-6)
        if not keep.any():
            continue
        sigma_lag = p.timing_sigma_s * math.sqrt(2.0 / shots)
        weight = length[keep] * _loudness_fit(runs[i], runs[j], amp, lag, tol, r[keep], rb[keep])
        weight *= _others_fit(
            sx, sy, (a, b), (runs[i].t, runs[j].t), (r[keep], rb[keep]), px[keep], py[keep], c, tol, heard
        )
        parts.append(
            (px[keep], py[keep], weight, gx[keep] / g[keep], gy[keep] / g[keep], c * sigma_lag / g[keep])
        )
    if not parts:
        return None
    x, y, w, nx, ny, sig = (np.concatenate(col) for col in zip(*parts, strict=True))
    if not np.isfinite(w).all() or w.sum() <= 0.0:
        return None
    return Arc(x, y, w / w.sum(), nx, ny, np.maximum(sig, PLACE_FLOOR_M))


def _others_fit(
    sx: FloatArray,
    sy: FloatArray,
    pair: tuple[int, int],
    times: tuple[FloatArray, FloatArray],
    ranges: tuple[FloatArray, FloatArray],
    px: FloatArray,
    py: FloatArray,
    c: float,
    tol: float,
    heard: _Heard,
) -> FloatArray:
    """How well each place explains the few arrivals of other sensors near it: from a place,
    the two sensors' arrivals give the shots' firing times, hence when each other sensor would
    hear them; an arrival of that sensor within `tol` of one is a shot it heard, which chance
    gives with probability q (the predicted times' share of their span), so each such arrival
    multiplies the place's likelihood by 1/q. A sensor that heard a shot or two of a burst, too
    few for a lag of its own, so tells apart the curves of the rival lags of the two that heard
    most (the nearly regular rhythm of a rifle gives rivals one shot off)."""
    out = np.ones(len(px))
    if not len(px):
        return out
    ta, tb = times
    ra, rb = ranges  # from each place to the two sensors
    # the span of firing times any place gives: where the other sensors' arrivals are looked up
    lo = min(float(ta.min() - ra.max() / c), float(tb.min() - rb.max() / c))
    hi = max(float(ta.max() - ra.min() / c), float(tb.max() - rb.min() / c))
    cx, cy = float(px.mean()), float(py.mean())
    spread = float(np.hypot(px - cx, py - cy).max())
    others = []
    for k in heard.tree.query_ball_point([cx, cy], spread + HEARD_M):
        if k in pair:
            continue
        rk = np.hypot(px - sx[k], py - sy[k])
        near = rk < HEARD_M
        if near.any():
            tk = heard.arrivals(k, lo + float(rk.min()) / c - tol, hi + float(rk.max()) / c + tol)
            if len(tk):
                others.append((rk, near, tk))
    if not others:
        return out  # no other sensor heard anything then: the firing times are not needed
    fired = np.sort(
        np.concatenate([ta[None, :] - ra[:, None] / c, tb[None, :] - rb[:, None] / c], axis=1), axis=1
    )
    # a shot heard at both sensors is one shot: those within tol of the one before are not counted
    shots = 1.0 + (np.diff(fired, axis=1) > tol).sum(axis=1)
    # chance that an arrival falls within tol of one of the shots, at each place (the shots'
    # span is the same at every sensor, shifted by its range)
    q = np.clip(shots * 2.0 * tol / (fired[:, -1] - fired[:, 0] + 2.0 * tol), 1e-3, 1.0)
    rows = np.arange(len(px))[:, None]
    n = fired.shape[1]
    for rk, near, tk in others:
        pred = fired + (rk / c)[:, None]  # when sensor k would hear each shot, from each place
        # arrivals within tol of a predicted time, for each place: the rows laid end to end, each
        # shifted past the one before, so that one binary search finds every arrival's neighbours
        width = float(pred.max() - pred.min()) + float(tk.max() - tk.min()) + 10.0
        shift = rows * width - float(pred.min())
        pos = np.searchsorted((pred + shift).ravel(), tk[None, :] + shift) - rows * n
        pos = np.clip(pos, 1, n - 1)
        gap = np.minimum(np.abs(pred[rows, pos - 1] - tk[None, :]), np.abs(pred[rows, pos] - tk[None, :]))
        matched = ((gap <= tol) & near[:, None]).sum(axis=1)
        out *= np.power(1.0 / q, matched)
    return out


def _loudness_fit(
    ra: _Run, rb: _Run, amp: FloatArray, lag: float, tol: float, range_a: FloatArray, range_b: FloatArray
) -> FloatArray:
    """How well each place explains the shots heard at both sensors: the likelihood of their mean
    log amplitude ratio, log(a/b) = log(range_b/range_a) under spreading; 1 where it is not
    measured."""
    k = np.clip(np.searchsorted(rb.t, ra.t + lag), 1, max(len(rb.t) - 1, 1))
    nearer = np.where(np.abs(rb.t[k - 1] - ra.t - lag) < np.abs(rb.t[k] - ra.t - lag), k - 1, k)
    both = np.abs(rb.t[nearer] - ra.t - lag) <= tol
    la, lb = amp[ra.idx[both]], amp[rb.idx[nearer[both]]]
    good = np.isfinite(la) & np.isfinite(lb) & (la > 0) & (lb > 0)
    if good.sum() < 2:
        return np.ones(len(range_a))
    ratio = np.log(la[good] / lb[good])
    var = float(np.var(ratio, ddof=1)) / len(ratio) + LOUDNESS_SITE_SIGMA**2
    dev = np.log(range_b / range_a) - float(ratio.mean())
    return np.asarray(np.exp(-0.5 * dev * dev / var))


def _fit(
    sx: FloatArray,
    sy: FloatArray,
    rs: IntArray,
    edges: FloatArray,
    c: float,
    start: tuple[float, float],
    bearings: FloatArray,
    spread: FloatArray,
) -> tuple[float, float, FloatArray] | None:
    """Least squares on the lags, lag = (|p - s_b| - |p - s_a|) / c, and on the arrays' bearings
    (rows of station, grid azimuth and sigma in radians), each with its sigma; `spread` (m²) is
    added to the fit's covariance."""
    a = rs[edges[:, 0].astype(int)]
    b = rs[edges[:, 1].astype(int)]
    lag, sigma = edges[:, 2], edges[:, 3]
    at = bearings[:, 0].astype(int)

    def residuals(v: FloatArray) -> FloatArray:
        ra = np.hypot(v[0] - sx[a], v[1] - sy[a])
        rb = np.hypot(v[0] - sx[b], v[1] - sy[b])
        to = np.arctan2(v[0] - sx[at], v[1] - sy[at])
        return np.concatenate([((rb - ra) / c - lag) / sigma, _wrap(to - bearings[:, 1]) / bearings[:, 2]])

    best = least_squares(residuals, np.array(start), method="lm", x_scale=1_000.0)
    if not best.success:
        return None
    dof = len(lag) + len(bearings) - 2
    chi2 = 2.0 * float(best.cost)
    # with no redundancy there is nothing to check the lags against
    if dof > 0 and chi2 / dof > 9.0:
        return None
    jac = best.jac
    try:
        cov = np.linalg.inv(jac.T @ jac)
    except np.linalg.LinAlgError:
        return None
    if dof > 0:
        cov *= max(1.0, chi2 / dof)
    cov = cov + spread + np.eye(2) * PLACE_FLOOR_M**2
    if not np.all(np.isfinite(cov)) or cov[0, 0] <= 0 or cov[1, 1] <= 0:
        return None
    # lags that hardly constrain the place (sensors nearly in line with it, or a lag one shot
    # off that the fit bends to) give an ellipse wider than the sensors that heard it are apart:
    # that is no location (on the armed-attack day one burst came out 69,000 km long)
    if semi_major_95(cov) > PAIR_M:
        return None
    return float(best.x[0]), float(best.x[1]), cov


def _empty() -> Bursts:
    z = np.zeros(0)
    return Bursts(
        z, z, z, z, np.zeros((0, 2, 2)), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), []
    )
