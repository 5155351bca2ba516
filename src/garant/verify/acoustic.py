"""Acoustic association and location: detections from many sensors -> located events.

Arrays in, arrays out; no I/O. Each event is found from a *seed*, the earliest detection not
yet explained (usually at the sensor nearest the blast). Candidates are the unassigned
detections at sensors near the seed's sensor whose time difference with it is possible at the
speed of sound; a grid search, coarse to fine, over the disc where the source can be finds the
place where most sensors have an arrival consistent with the seed's origin time; least squares
(Gauss-Newton, arrival times and the arrays' azimuths) then picks each sensor's arrival within
four standard deviations and locates the event. Space is partitioned by the sensors'
neighbour lists and time by a sliding window over time-sorted detections: no step compares all
pairs. The covariance is that of the least-squares estimate with the network's timing
uncertainty, inflated by the reduced chi-square when the fit is worse than that uncertainty,
so the stated 95% ellipse holds what it claims.

Positions are worked in an oblique stereographic plane centred on the network, and each
sensor carries the plane's scale factor and grid-north angle, so planar distances and
azimuths are corrected to true ones (the plane is off by up to a few parts in 10^4 across a
1,000 km line: tens of milliseconds of sound at 30 km, which the correction removes).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
import pyproj
from scipy.spatial import cKDTree

from garant.verify._kernels import (
    CHI2_95,
    EV_CXX,
    EV_CXY,
    EV_CYY,
    EV_N,
    EV_RMS,
    EV_T,
    EV_X,
    EV_Y,
    N_EV_COLS,
    associate_kernel,
    locate_kernel,
    reassign_kernel,
    sibling_kernel,
    speed_at,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
CHI2_95_2D = CHI2_95  # 95% ellipse of a 2-D normal, in standard deviations
PARALLEL_MIN_DETECTIONS = 50_000  # fewer than this per thread: one pass, threads cost more
CROWD_M, CROWD_SPEED, CROWD_SLACK_S, CROWD_FACTOR = 3_000.0, 300.0, 0.5, 2.0  # see `crowd_variance`
# see `siblings`: a round is at most this far from its anchor, and not a second event of a
# blast already found (another event this close in time and place); the anchor's position
# uncertainty counts at most this much in the origin-time tolerance
SIBLING_RADIUS_M, SIBLING_POSITION_CAP_M = 1_000.0, 100.0
SIBLING_DUPLICATE_S, SIBLING_DUPLICATE_M = 1.0, 1_000.0


@dataclass(frozen=True)
class AssociationParams:
    """Tuning of the associator; the defaults suit sensors a few kilometres apart."""

    speed_ms: float = 343.0
    speed_by_hour_utc: tuple[float, ...] | None = None
    max_range_m: float = 20_000.0
    min_stations: int = 5
    timing_sigma_s: float = 0.025
    azimuth_sigma_deg: float = 4.0
    near_stations: int = 5
    score_stations: int = 12
    hypotheses: int = 4
    max_chi2: float = 4.0
    competition_rounds: int = 2
    sweep_near_stations: int = 8
    sibling_window_s: float = 90.0  # rounds sought within this time of a located event; 0: none
    sibling_min_stations: int = 4
    workers: int = 0  # threads of the seed pass; 0: one per core

    def __post_init__(self) -> None:
        if not (self.speed_ms > 0 and self.max_range_m > 0 and self.timing_sigma_s > 0):
            raise ValueError("speed, range and timing sigma must be positive")
        if self.speed_by_hour_utc is not None and (
            len(self.speed_by_hour_utc) != 24 or not all(200 <= v <= 450 for v in self.speed_by_hour_utc)
        ):
            raise ValueError("speed_by_hour_utc must be 24 speeds (m/s, 200-450), for 00:00 ... 23:00 UTC")
        if self.min_stations < 3 or self.sibling_min_stations < 3:
            raise ValueError("min_stations must be at least 3 (position and time are three unknowns)")

    def speeds(self) -> FloatArray:
        """Sound speed at each hour UTC (the same 24 times when it does not vary)."""
        if self.speed_by_hour_utc is None:
            return np.full(24, self.speed_ms)
        return np.asarray(self.speed_by_hour_utc, dtype=np.float64)


@dataclass
class Network:
    """Sensors in the working plane, with what corrects the plane to the ground."""

    lon: FloatArray
    lat: FloatArray
    x: FloatArray
    y: FloatArray
    scale: FloatArray
    north: FloatArray  # grid azimuth of true north at each sensor, degrees
    transformer: pyproj.Transformer
    _neighbours: dict[float, tuple[IntArray, IntArray]] = field(default_factory=dict)
    _tree: cKDTree | None = None

    @classmethod
    def from_lonlat(cls, lon: npt.ArrayLike, lat: npt.ArrayLike) -> Network:
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        if len(lon) == 0:
            raise ValueError("no stations")
        lon0, lat0 = float(np.mean([lon.min(), lon.max()])), float(np.mean([lat.min(), lat.max()]))
        crs = f"+proj=sterea +lat_0={lat0} +lon_0={lon0} +k=1 +datum=WGS84 +units=m +no_defs"
        tr = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        x, y = (np.asarray(v, dtype=np.float64) for v in tr.transform(lon, lat))
        geod = pyproj.Geod(ellps="WGS84")
        nlon, nlat, _ = geod.fwd(lon, lat, np.zeros_like(lon), np.full_like(lon, 1_000.0))
        nx, ny = (np.asarray(v, dtype=np.float64) for v in tr.transform(nlon, nlat))
        scale = np.hypot(nx - x, ny - y) / 1_000.0
        north = np.degrees(np.arctan2(nx - x, ny - y))
        return cls(lon, lat, x, y, scale, north, tr)

    def tree(self) -> cKDTree:
        """A KD-tree of the sensors in the working plane, built once."""
        if self._tree is None:
            self._tree = cKDTree(np.column_stack([self.x, self.y]))
        return self._tree

    def neighbours(self, radius_m: float) -> tuple[IntArray, IntArray]:
        """CSR lists of the stations within `radius_m` of each station (itself included)."""
        if radius_m not in self._neighbours:
            lists = self.tree().query_ball_point(
                np.column_stack([self.x, self.y]), radius_m * float(self.scale.max())
            )
            ptr = np.zeros(len(lists) + 1, dtype=np.int64)
            ptr[1:] = np.cumsum([len(v) for v in lists])
            idx = np.fromiter((s for v in lists for s in v), dtype=np.int64, count=int(ptr[-1]))
            self._neighbours[radius_m] = (ptr, idx)
        return self._neighbours[radius_m]

    def to_lonlat(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        lon, lat = self.transformer.transform(x, y, direction=pyproj.enums.TransformDirection.INVERSE)
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


@dataclass
class Events:
    """Located events, one row each; `assignment[i]` is the event row of detection i, or -1."""

    time: FloatArray
    lon: FloatArray
    lat: FloatArray
    semi_major_m: FloatArray
    semi_minor_m: FloatArray
    azimuth_deg: FloatArray
    n_detections: IntArray
    rms_s: FloatArray
    assignment: IntArray

    def __len__(self) -> int:
        return len(self.time)


def ellipse_95(
    cxx: FloatArray, cxy: FloatArray, cyy: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Semi-axes (m) and azimuth of the major axis (degrees from north) of the 95% ellipse."""
    tr = cxx + cyy
    det_term = np.sqrt(np.maximum(((cxx - cyy) / 2.0) ** 2 + cxy**2, 0.0))
    l1 = np.maximum(tr / 2.0 + det_term, 0.0)
    l2 = np.maximum(tr / 2.0 - det_term, 0.0)
    # major axis direction (east, north) = eigenvector of l1
    angle = 0.5 * np.arctan2(2.0 * cxy, cxx - cyy)  # from the east axis, counter-clockwise
    azimuth = np.mod(90.0 - np.degrees(angle), 180.0)
    return CHI2_95_2D * np.sqrt(l1), CHI2_95_2D * np.sqrt(l2), azimuth


def semi_major_95(cov: FloatArray) -> float:
    """The 95% ellipse's semi-major axis (m) of one 2x2 covariance."""
    return float(ellipse_95(cov[0, 0], cov[0, 1], cov[1, 1])[0])


def associate(
    network: Network,
    station: npt.ArrayLike,
    time_s: npt.ArrayLike,
    azimuth_deg: npt.ArrayLike | None = None,
    params: AssociationParams | None = None,
) -> Events:
    """Associate detections (station index, time in seconds, optional azimuth) into events."""
    p = params or AssociationParams()
    st = np.asarray(station, dtype=np.int64)
    t = np.asarray(time_s, dtype=np.float64)
    az = np.full(len(t), np.nan) if azimuth_deg is None else np.asarray(azimuth_deg, dtype=np.float64).copy()
    if not (len(st) == len(t) == len(az)):
        raise ValueError("station, time and azimuth must have the same length")
    if len(st) and (st.min() < 0 or st.max() >= len(network.x)):
        raise ValueError("station index out of range")
    order = np.argsort(t, kind="stable")
    ts, ss = t[order], st[order]
    # azimuths to the working plane's grid north
    azs = np.mod(az[order] + network.north[ss], 360.0)
    t_ref = float(ts[0]) if len(ts) else 0.0
    assigned = np.full(len(ts), -1, dtype=np.int64)
    rows = _new_events(network, p, ts - t_ref, ss, azs, assigned, t_ref)
    more = siblings(network, p, ts - t_ref, ss, azs, assigned, rows, np.arange(len(rows)), t_ref)
    rows = _drop_empty(np.concatenate([rows, more]) if len(more) else rows, assigned)
    assignment = np.full(len(t), -1, dtype=np.int64)
    assignment[order] = assigned
    return _events_from_rows(network, rows, assignment, t_ref)


def _new_events(
    network: Network,
    p: AssociationParams,
    t: FloatArray,
    st: IntArray,
    az: FloatArray,
    assigned: IntArray,
    t_ref: float,
) -> FloatArray:
    """Events among unassociated, time-sorted detections (`t` in seconds from `t_ref`): the
    seed-by-seed pass, then `competition_rounds` rounds in which every detection goes to the
    event that predicts it best (the last after a sweep with `sweep_near_stations`). Numbered
    from 0 with no empty rows; `assigned` (all -1 on entry) is set in place. Both the batch
    engine and the incremental one (over the stretch new detections touch) use it, so the
    server's bulletin is made the way `garant associate` makes it."""
    rows = _seed_events(network, p, t, st, az, assigned, t_ref, 0)
    sigma_t = p.timing_sigma_s
    for rnd in range(p.competition_rounds):
        if rnd == p.competition_rounds - 1 and p.sweep_near_stations > 0:
            wide = replace(p, near_stations=p.sweep_near_stations)
            more = _seed_events(network, wide, t, st, az, assigned, t_ref, len(rows))
            rows = np.concatenate([rows, more]) if len(more) else rows
        rows = reassign_kernel(
            t, st, az, network.x, network.y, network.scale, rows, assigned, p.speeds(), t_ref,
            p.max_range_m, 3.0 * sigma_t, sigma_t, math.radians(p.azimuth_sigma_deg), p.min_stations,
            p.max_chi2,
        )  # fmt: skip
    return _drop_empty(rows, assigned)


def _drop_empty(rows: FloatArray, assigned: IntArray) -> FloatArray:
    """The events that kept detections, renumbered from 0; `assigned` renumbered in place."""
    live = rows[:, EV_N] > 0
    if len(rows) and not live.all():
        renumber = np.cumsum(live) - 1
        assigned[:] = np.where(assigned >= 0, renumber[np.maximum(assigned, 0)], -1)
        rows = rows[live]
    return rows


def _seed_events(
    network: Network,
    p: AssociationParams,
    t: FloatArray,
    st: IntArray,
    az: FloatArray,
    assigned: IntArray,
    t_ref: float,
    first_event: int,
) -> FloatArray:
    """The seed-by-seed pass over time-sorted detections (`t` in seconds from `t_ref`).

    A long input is cut in time into one part per worker thread (the compiled kernel releases
    the GIL); around each cut, the events the parts made within a window's reach are undone
    and the stretch is passed again in one piece, so a blast heard on both sides of a cut is
    judged whole, as in a single pass."""
    workers = min(p.workers or os.cpu_count() or 1, max(len(t) // PARALLEL_MIN_DETECTIONS, 1))

    ptr, idx = network.neighbours(2.0 * p.max_range_m)
    sigma = p.timing_sigma_s

    def part(lo: int, hi: int, first: int) -> FloatArray:
        """One compiled pass over detections lo:hi (`assigned` is a view, updated in place)."""
        return associate_kernel(
            t[lo:hi], st[lo:hi], az[lo:hi], network.x, network.y, network.scale, ptr, idx, assigned[lo:hi],
            p.speeds(), t_ref, p.max_range_m, p.near_stations, p.score_stations, p.hypotheses, p.max_chi2,
            0.5, 0.2, 2.0 * sigma,  # tolerances of the hypothesis stages (s) and the score's scale
            sigma, math.radians(p.azimuth_sigma_deg), 3.0 * sigma, p.min_stations, first,
        )  # fmt: skip

    if workers <= 1:
        return part(0, len(t), first_event)
    reach = 2.0 * p.max_range_m / float(p.speeds().min())
    cuts = np.searchsorted(t, np.quantile(t, np.linspace(0.0, 1.0, workers + 1)[1:-1])).tolist()
    edges = [0, *cuts, len(t)]
    # each part numbers its events from its own base, far apart; then they are made consecutive
    base = [first_event + k * len(t) for k in range(workers)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(lambda k: part(edges[k], edges[k + 1], base[k]), range(workers)))
    renumber = np.full(workers * len(t), -1, dtype=np.int64)
    sizes = np.cumsum([0] + [len(rows) for rows in parts])
    for k in range(workers):
        renumber[base[k] - first_event :][: sizes[k + 1] - sizes[k]] = first_event + np.arange(
            sizes[k], sizes[k + 1]
        )
    new = assigned >= first_event
    assigned[new] = renumber[assigned[new] - first_event]
    rows = np.concatenate(parts)
    for cut in cuts:
        tc = float(t[cut])
        lo, hi = (int(np.searchsorted(t, tc + d * reach, side="left" if d < 0 else "right")) for d in (-1, 1))
        undone = np.unique(assigned[lo:hi][assigned[lo:hi] >= first_event])
        rows[undone - first_event, EV_N] = 0
        assigned[np.isin(assigned, undone)] = -1
        lo, hi = (int(np.searchsorted(t, tc + d * reach, side="left" if d < 0 else "right")) for d in (-2, 2))
        rows = np.concatenate([rows, part(lo, hi, first_event + len(rows))])
    # the undone events leave no row: numbers stay consecutive, every row has its detections
    live = rows[:, EV_N] > 0
    number = first_event + np.cumsum(live) - 1
    new = assigned >= first_event
    assigned[new] = number[assigned[new] - first_event]
    return rows[live]


def siblings(
    network: Network,
    p: AssociationParams,
    t: FloatArray,
    st: IntArray,
    az: FloatArray,
    assigned: IntArray,
    rows: FloatArray,
    near: IntArray,
    t_ref: float,
) -> FloatArray:
    """New events for the rounds a located source fired again, heard by too few sensors to be
    found alone (fewer than `min_stations`, at least `sibling_min_stations`).

    A gun, a mortar or a target area is struck more than once: rounds minutes apart come from,
    or fall on, the same place. Once one round is located from five sensors or more (an
    *anchor*), the place is known, and each unexplained arrival at a sensor within range gives
    an origin time (arrival minus travel time from the anchor). Arrivals of one round agree on
    it within three standard deviations either side (timing error, plus the anchor's position
    error, at most `SIBLING_POSITION_CAP_M`, over the speed of sound); one per sensor is kept
    (the nearest the group's median), and a group from
    enough sensors is located again freely from the anchor's place. It is a new event when
    the fit is as good as any event's (`max_chi2`), it stays within `SIBLING_RADIUS_M` of the
    anchor, and no event lies within `SIBLING_DUPLICATE_S` and `SIBLING_DUPLICATE_M` (the
    leftover arrivals of a blast already found are not a second blast).

    With the place known only the origin time is free, so four arrivals give three checks
    where a free fit of four gives one. Measured on the quiet day (seed 1, `garant eval
    --level blast`): allowing four-sensor events everywhere (`min_stations` 4) drops precision
    from 0.991 to 0.904; this pass keeps it at 0.992 and raises recall from 0.859 to 0.961.
    `near` are the event rows that may anchor and that a new event is compared with; returns
    the new rows, numbered after `rows`, and updates `assigned` in place."""
    if p.sibling_window_s <= 0 or not len(near) or not len(t):
        return np.zeros((0, N_EV_COLS))
    return sibling_kernel(
        t, st, az, network.x, network.y, network.scale, rows, near.astype(np.int64), assigned, p.speeds(),
        t_ref, p.max_range_m, p.sibling_window_s, p.timing_sigma_s, math.radians(p.azimuth_sigma_deg),
        p.sibling_min_stations, p.min_stations, SIBLING_RADIUS_M, p.max_chi2, SIBLING_DUPLICATE_S,
        SIBLING_DUPLICATE_M, SIBLING_POSITION_CAP_M, len(rows),
    )  # fmt: skip


def crowd_variance(rows: FloatArray) -> FloatArray:
    """Extra variance (m², isotropic) of each event that has a neighbour whose arrivals could be
    taken for its own: within `CROWD_M`, and close enough in time that at some sensor the two
    arrive together (|dt| <= distance / `CROWD_SPEED` + `CROWD_SLACK_S`). In a barrage a
    handful of sensors cannot tell such arrivals apart, the fit does not show it, and the
    location is then off by about the distance between the two; that distance (times
    `CROWD_FACTOR`) is added as a standard deviation.

    Measured on the armed-attack day (first 6 hours, each event against the blast most of its
    detections came from): events made of one blast's arrivals had 98% coverage of their 95%
    ellipse, mixed ones 23% (41% of all), 67% overall."""
    out = np.zeros(len(rows))
    live = np.flatnonzero(rows[:, EV_N] > 0)
    if len(live) < 2:
        return out
    x, y, t = rows[live, EV_X], rows[live, EV_Y], rows[live, EV_T]
    window = CROWD_M / CROWD_SPEED + CROWD_SLACK_S
    pts = np.column_stack([x, y, t * (CROWD_M / window)])
    tree = cKDTree(pts)
    pairs = tree.query_pairs(CROWD_M * math.sqrt(2.0), output_type="ndarray")
    if not len(pairs):
        return out
    a, b = pairs[:, 0], pairs[:, 1]
    dist = np.hypot(x[a] - x[b], y[a] - y[b])
    ok = (dist <= CROWD_M) & (np.abs(t[a] - t[b]) <= dist / CROWD_SPEED + CROWD_SLACK_S)
    a, b, dist = a[ok], b[ok], dist[ok]
    nearest = np.full(len(live), np.inf)
    np.minimum.at(nearest, a, dist)
    np.minimum.at(nearest, b, dist)
    has = np.isfinite(nearest)
    out[live[has]] = (CROWD_FACTOR * nearest[has]) ** 2
    return out


def _events_from_rows(network: Network, rows: FloatArray, assignment: IntArray, t_ref: float) -> Events:
    """Kernel rows (working plane, seconds from `t_ref`) as events on the ground."""
    lon, lat = network.to_lonlat(rows[:, EV_X], rows[:, EV_Y])
    # covariance from the plane to the ground: divide by the scale factor there (squared)
    near = _nearest_station(network, rows[:, EV_X], rows[:, EV_Y])
    k2 = network.scale[near] ** 2
    crowd = crowd_variance(rows)
    major, minor, azim = ellipse_95(
        (rows[:, EV_CXX] + crowd) / k2, rows[:, EV_CXY] / k2, (rows[:, EV_CYY] + crowd) / k2
    )
    north = network.north[near]
    return Events(
        time=rows[:, EV_T] + t_ref,
        lon=lon,
        lat=lat,
        semi_major_m=major,
        semi_minor_m=minor,
        azimuth_deg=np.mod(azim - north, 180.0),
        n_detections=rows[:, EV_N].astype(np.int64),
        rms_s=rows[:, EV_RMS],
        assignment=assignment,
    )


def _nearest_station(network: Network, x: FloatArray, y: FloatArray) -> IntArray:
    """Where an event's plane-to-ground corrections are read: its nearest sensor."""
    if not len(x):
        return np.zeros(0, dtype=np.int64)
    _, i = network.tree().query(np.column_stack([x, y]))
    return np.asarray(i, dtype=np.int64)


class IncrementalAssociator:
    """Association that takes detections as they come, late ones included.

    `add` first offers each new detection to the events already found: it joins the one that
    predicts it best (within three standard deviations, at a sensor the event does not have
    yet), and that event is located again but keeps its id. The detections still unexplained
    within the maximum travel time of the new ones (new and older alike) are then associated
    into new events, with fresh ids. Nothing outside that time span is touched, so history is
    not reprocessed.
    """

    def __init__(self, network: Network, params: AssociationParams | None = None) -> None:
        self.network = network
        self.params = params or AssociationParams()
        self._t = np.zeros(0)
        self._st = np.zeros(0, dtype=np.int64)
        self._az = np.zeros(0)
        self._number = np.zeros(0, dtype=np.int64)  # order of arrival of each detection
        self._assigned = np.zeros(0, dtype=np.int64)
        self._rows = np.zeros((0, N_EV_COLS))
        self._t_ref: float | None = None

    def restore(
        self,
        station: npt.ArrayLike,
        time_s: npt.ArrayLike,
        azimuth_deg: npt.ArrayLike | None,
        event: npt.ArrayLike,
        event_lon: npt.ArrayLike,
        event_lat: npt.ArrayLike,
        event_time_s: npt.ArrayLike,
    ) -> None:
        """Start from a state kept elsewhere (the server's bulletin): detections, the event
        each belongs to (`event[i]`, an index into the event arrays, or -1) and where those
        events were. Each event is located again from its detections, starting there, so a
        restored associator continues exactly as the one that made the state would have.
        Event ids are the indices of the event arrays; later `add` calls continue after them."""
        if len(self._t):
            raise ValueError("restore needs a fresh associator")
        st = np.asarray(station, dtype=np.int64)
        t = np.asarray(time_s, dtype=np.float64)
        ev = np.asarray(event, dtype=np.int64)
        az = np.full(len(t), np.nan) if azimuth_deg is None else np.asarray(azimuth_deg, dtype=np.float64)
        e_lon, e_lat, e_t = (np.asarray(v, dtype=np.float64) for v in (event_lon, event_lat, event_time_s))
        if not (len(st) == len(t) == len(az) == len(ev)) or not (len(e_lon) == len(e_lat) == len(e_t)):
            raise ValueError("detection arrays and event arrays must each have one length")
        if len(st) and (st.min() < 0 or st.max() >= len(self.network.x)):
            raise ValueError("station index out of range")
        if len(ev) and (ev.min() < -1 or ev.max() >= len(e_t)):
            raise ValueError("event index out of range")
        if not len(t):
            return
        self._t_ref = float(min(t.min(), e_t.min() if len(e_t) else t.min()))
        order = np.argsort(t, kind="stable")
        self._t = t[order] - self._t_ref
        self._st = st[order]
        self._az = np.mod(az[order] + self.network.north[self._st], 360.0)
        self._number = order.astype(np.int64)
        self._assigned = ev[order]
        x, y = self.network.transformer.transform(e_lon, e_lat)
        self._rows = np.zeros((len(e_t), N_EV_COLS))
        self._rows[:, EV_X], self._rows[:, EV_Y], self._rows[:, EV_T] = x, y, e_t - self._t_ref
        self._relocate(set(range(len(e_t))))

    def add(
        self, station: npt.ArrayLike, time_s: npt.ArrayLike, azimuth_deg: npt.ArrayLike | None = None
    ) -> tuple[list[int], list[int]]:
        """Take new detections; returns (ids of events that gained detections, ids of new events)."""
        p = self.params
        st = np.asarray(station, dtype=np.int64)
        t = np.asarray(time_s, dtype=np.float64)
        az = np.full(len(t), np.nan) if azimuth_deg is None else np.asarray(azimuth_deg, dtype=np.float64)
        if not (len(st) == len(t) == len(az)):
            raise ValueError("station, time and azimuth must have the same length")
        if len(st) == 0:
            return [], []
        if st.min() < 0 or st.max() >= len(self.network.x):
            raise ValueError("station index out of range")
        if self._t_ref is None:
            self._t_ref = float(t.min())
        numbers = np.arange(len(self._number), len(self._number) + len(t))
        t_all = np.concatenate([self._t, t - self._t_ref])
        order = np.argsort(t_all, kind="stable")
        self._t = t_all[order]
        self._st = np.concatenate([self._st, st])[order]
        self._az = np.concatenate([self._az, np.mod(az + self.network.north[st], 360.0)])[order]
        self._number = np.concatenate([self._number, numbers])[order]
        self._assigned = np.concatenate([self._assigned, np.full(len(t), -1, dtype=np.int64)])[order]
        is_new = self._number >= numbers[0]
        sigma = p.timing_sigma_s
        gained = self._attach(np.flatnonzero(is_new), 3.0 * sigma)
        # new events from what is still unexplained near the new detections
        reach = 2.0 * p.max_range_m / float(p.speeds().min())
        lo = np.searchsorted(self._t, self._t[is_new].min() - reach)
        hi = np.searchsorted(self._t, self._t[is_new].max() + reach, side="right")
        span = np.arange(lo, hi)
        span = span[self._assigned[span] < 0]
        sub_assigned = np.full(len(span), -1, dtype=np.int64)
        first = len(self._rows)
        rows = _new_events(
            self.network, p, self._t[span], self._st[span], self._az[span], sub_assigned, self._t_ref
        )
        sub_assigned[sub_assigned >= 0] += first
        rows = np.concatenate([self._rows, rows])
        # rounds of sources located in (or near) this stretch, as in `associate`
        if len(span):
            t_lo, t_hi = self._t[span[0]] - p.sibling_window_s - reach, self._t[span[-1]] + p.sibling_window_s
            near = np.flatnonzero((rows[:, EV_N] > 0) & (rows[:, EV_T] >= t_lo) & (rows[:, EV_T] <= t_hi))
            span_t, span_st, span_az = self._t[span], self._st[span], self._az[span]
            more = siblings(self.network, p, span_t, span_st, span_az, sub_assigned, rows, near, self._t_ref)
            rows = np.concatenate([rows, more]) if len(more) else rows
        self._assigned[span] = sub_assigned
        self._rows = rows
        return sorted(gained), list(range(first, len(self._rows)))

    def _attach(self, new: IntArray, tol: float) -> set[int]:
        p = self.params
        rows = self._rows
        if not len(rows) or not len(new):
            return set()
        net = self.network
        t_ref = self._t_ref or 0.0
        by_time = np.argsort(rows[:, EV_T])
        taus = rows[by_time, EV_T]
        gained: set[int] = set()
        for k in new:
            lo = np.searchsorted(taus, self._t[k] - p.max_range_m / float(p.speeds().min()) - tol)
            hi = np.searchsorted(taus, self._t[k] + tol, side="right")
            cand = by_time[lo:hi]
            if not len(cand):
                continue
            s = self._st[k]
            d = np.hypot(rows[cand, EV_X] - net.x[s], rows[cand, EV_Y] - net.y[s]) / net.scale[s]
            c = np.array([speed_at(p.speeds(), float(tau) + t_ref) for tau in rows[cand, EV_T]])
            r = np.abs(self._t[k] - d / c - rows[cand, EV_T])
            for j in np.argsort(r):
                if r[j] > tol:
                    break
                e = int(cand[j])
                members = np.flatnonzero(self._assigned == e)
                if s in self._st[members]:
                    continue
                self._assigned[k] = e
                gained.add(e)
                break
        self._relocate(gained)
        return gained

    def _relocate(self, events: set[int]) -> None:
        p = self.params
        net = self.network
        t_ref = self._t_ref or 0.0
        wanted = np.fromiter(events, dtype=np.int64, count=len(events))
        rows = np.flatnonzero(np.isin(self._assigned, wanted))
        if not len(rows):
            return
        rows = rows[np.argsort(self._assigned[rows], kind="stable")]
        ids, starts = np.unique(self._assigned[rows], return_index=True)
        for e, members in zip(ids, np.split(rows, starts[1:]), strict=True):
            self._rows[e] = locate_kernel(
                self._rows[e],
                members,
                self._t,
                self._st,
                self._az,
                net.x,
                net.y,
                net.scale,
                p.speeds(),
                t_ref,
                p.timing_sigma_s,
                math.radians(p.azimuth_sigma_deg),
            )

    def events(self) -> tuple[list[int], Events]:
        """Every event found so far, with its id; `assignment` follows the order detections came in."""
        assignment = np.full(len(self._number), -1, dtype=np.int64)
        assignment[self._number] = self._assigned
        return list(range(len(self._rows))), _events_from_rows(
            self.network, self._rows, assignment, self._t_ref or 0.0
        )
