"""Observations of every kind as evidence the fusion can weigh: where, when, how sure.

Each observation says something about a place and a time, with its own uncertainty: a radar
track gives a point of origin and an impact with 95% ellipses; a monitor's sighting gives a
bearing and a distance band from the post, so a point with an uncertainty long along the
bearing and narrow across it; a crater gives the impact and an azimuth back towards the origin;
OSINT and allegations give a place within a few kilometres and a time within minutes. This
module turns each into the same few numbers in the geography's projected plane (metres): a
time window, a 2-D Gaussian for where it happened, and, where the kind says so, one for the
origin or a ray towards it. Pure: dicts in (the accepted JSON of each observation), arrays out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyproj

from garant.domain.observations import SIGHTING_DISTANCE_BANDS_M
from garant.geo.engine import Geography
from garant.verify._kernels import CHI2_95
from garant.verify.bursts import Arc, BurstParams, locate_bursts

FloatArray = npt.NDArray[np.float64]
GEOD = pyproj.Geod(ellps="WGS84")
SIGMA_PER_95 = 1.0 / CHI2_95  # a 2-D 95% radius in standard deviations
SIGHTING_BEARING_SIGMA_DEG = 5.0  # a monitor's bearing by compass and eye
# a post's distance band is off by one band this often (the rate the simulated posts err at;
# the mechanism's own patrol checks of sightings are the place to measure it)
BAND_MISJUDGED = 0.15
FLIGHT_DIRECTION_SIGMA_DEG = 15.0  # a projectile's direction of flight, judged by eye
DEFAULT_ARRAY_SIGMA_DEG = 4.0  # an array's azimuth when the detection states no uncertainty
DEFAULT_RAY_SIGMA_DEG = 15.0  # a crater's azimuth of origin when the analyst states none
# kinds whose sources are technical sensors: their grade comes from the sensor, not a person
TECHNICAL_KINDS = frozenset({"acoustic", "acoustic_burst", "radar_track", "air_track"})


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def cov_from_ellipse95(semi_major: float, semi_minor: float, azimuth_deg: float) -> FloatArray:
    """Covariance (east, north) of a 95% ellipse given by semi-axes and the major axis azimuth."""
    a, b = semi_major * SIGMA_PER_95, semi_minor * SIGMA_PER_95
    th = math.radians(azimuth_deg)
    u = np.array([math.sin(th), math.cos(th)])  # major axis, east-north
    v = np.array([math.cos(th), -math.sin(th)])
    return np.asarray(a * a * np.outer(u, u) + b * b * np.outer(v, v))


def cov_from_radius95(radius_m: float, floor_m: float = 5.0) -> FloatArray:
    s = max(radius_m, floor_m) * SIGMA_PER_95
    return np.eye(2) * s * s


def neighbouring_bands(lo: float, hi: float) -> tuple[float, float]:
    """Where a distance band misjudged by one lies: from the bottom of the band below to the top
    of the band above, in the sighting form's bands (none below the first, none above the last);
    for a band not on the form, bands of the same ratio."""
    bands = SIGHTING_DISTANCE_BANDS_M
    if lo in bands and hi in bands and bands.index(hi) == bands.index(lo) + 1:
        k = bands.index(lo)
        return bands[max(k - 1, 0)], bands[min(k + 2, len(bands) - 1)]
    return (lo * lo / hi if lo > 0.0 else 0.0), (hi * hi / lo if lo > 0.0 else 2.0 * hi)


@dataclass
class Ray:
    """The origin lies along a bearing from a point, between two distances (a crater's back-azimuth
    over the weapon's range; a post's bearing and distance band). `misjudged` is the chance that
    the distance is in a neighbouring band instead, between `far_min_m` and `r_min_m` or between
    `r_max_m` and `far_max_m` (a band misjudged by one), in equal shares where both exist."""

    x: float
    y: float
    azimuth_deg: float  # grid azimuth in the projected plane
    sigma_deg: float
    r_min_m: float
    r_max_m: float
    misjudged: float = 0.0
    far_min_m: float | None = None
    far_max_m: float | None = None

    def shares(self) -> tuple[float, float, float]:
        """Chance of the band below, the band itself and the band above."""
        has_below = self.far_min_m is not None and self.far_min_m < self.r_min_m
        has_above = self.far_max_m is not None and self.far_max_m > self.r_max_m
        sides = int(has_below) + int(has_above)
        each = self.misjudged / sides if sides else 0.0
        below, above = (each if has_below else 0.0), (each if has_above else 0.0)
        return below, 1.0 - below - above, above

    def cost(self, x: float, y: float, cov: FloatArray) -> float:
        """How far a place (a Gaussian) is from this bearing and band, as -2 log likelihood ratio
        against a place right on it: the bearing's squared deviation over its variance (the
        bearing's own, and the place's spread across it at its range), plus, for a place only in
        a neighbouring band, what misjudging the band costs; beyond those, infinite. A Gaussian as
        long as the band says both too little across the bearing far out and too much along it."""
        dx, dy = x - self.x, y - self.y
        r = math.hypot(dx, dy)
        if r < 1.0:
            return 0.0
        az = math.radians(self.azimuth_deg)
        along = np.array([math.sin(az), math.cos(az)])
        across = np.array([math.cos(az), -math.sin(az)])
        dev = math.atan2(float(dx * across[0] + dy * across[1]), float(dx * along[0] + dy * along[1]))
        var = math.radians(self.sigma_deg) ** 2 + float(across @ cov @ across) / (r * r)
        slack = 2.0 * math.sqrt(max(float(along @ cov @ along), 0.0))
        lo, hi = self.r_min_m, self.r_max_m
        below, inside, above = self.shares()
        if lo - slack <= r <= hi + slack:
            penalty = 0.0
        elif below > 0.0 and self.far_min_m is not None and self.far_min_m - slack <= r < lo:
            penalty = 2.0 * math.log(inside / below)
        elif above > 0.0 and self.far_max_m is not None and hi < r <= self.far_max_m + slack:
            penalty = 2.0 * math.log(inside / above)
        else:
            return math.inf
        return dev * dev / var + penalty

    def meets(self, other: Ray, samples: int = 32) -> float:
        """How well two bearings and bands agree on one place: the least summed `cost` of a point
        (no spread of its own) on either's bearing, within its bands. Against the other's
        Gaussian instead, as long as its band, a post's sighting 85 degrees off another from
        the same post, which meet only at the post, was let in."""
        point = np.zeros((2, 2))
        best = math.inf
        for a, b in ((self, other), (other, self)):
            lo = a.r_min_m if a.far_min_m is None else a.far_min_m
            hi = a.r_max_m if a.far_max_m is None else a.far_max_m
            az = math.radians(a.azimuth_deg)
            for d in np.linspace(max(lo, 1.0), hi, samples).tolist():
                x, y = a.x + d * math.sin(az), a.y + d * math.cos(az)
                best = min(best, a.cost(x, y, point) + b.cost(x, y, point))
        return best

    def distances(self, u: FloatArray) -> FloatArray:
        """Distances for uniform draws `u` in [0, 1): uniform within the band, else within the
        band below or above, in the shares of `shares`."""
        lo, hi = self.r_min_m, self.r_max_m
        below, inside, above = self.shares()
        far_lo = lo if self.far_min_m is None else self.far_min_m
        far_hi = hi if self.far_max_m is None else self.far_max_m
        segments = [(far_lo, lo, below), (lo, hi, inside), (hi, far_hi, above)]
        out = np.empty(len(u))
        start = 0.0
        for a, b, w in segments:
            sel = (u >= start) & (u < start + w)
            out[sel] = a + (b - a) * (u[sel] - start) / w if w > 0.0 else a
            start += w
        out[u >= start] = hi  # rounding at the top end
        return out


@dataclass
class Evidence:
    """One observation, reduced to what fusion weighs."""

    index: int  # row in the caller's observation list
    obs_id: str
    kind: str
    nation: str
    source: str
    t0: float  # window in epoch seconds (the stated time or window, widened by its precision)
    t1: float
    x: float  # where it happened (impact, position), projected metres; NaN if it says nothing
    y: float
    cov: FloatArray  # 2x2
    origin: tuple[float, float, FloatArray] | None = None  # Gaussian origin (x, y, cov)
    sight: Ray | None = None  # a placed sighting's bearing and band from its post
    ray: Ray | None = None
    arc: Arc | None = None  # a burst heard by two sensors alone: its place along their hyperbola
    weapon_class: str | None = None
    count: int = 1
    killed: int | None = None  # as a sighting, crater or interference report counted (None: not said)
    injured: int | None = None
    claimed: int | None = None  # an allegation's casualties: the party's claim, a lead only
    sighting_type: str | None = None
    observer: tuple[float, float] | None = None  # a sighting's post, for crossing bearings
    bearing_grid_deg: float | None = None
    accused: str | None = None
    reliability: str = "F"
    credibility: int = 6
    extra: dict[str, Any] = field(default_factory=dict)
    t: float = math.nan  # the stated time (`observed_at`)
    precision_s: float = 1.0

    @property
    def origin_law(self) -> Ray | Arc | None:
        """The origin as a bearing and a distance band, for a post that saw the fire leave, or as
        a hyperbola, for a burst two sensors alone heard: the Gaussian that fusion weighs spreads
        a misjudged band, or a curve, over both sides of the line."""
        if self.arc is not None:
            return self.arc
        return self.sight if self.sighting_type in ("outgoing", "burst") else None

    @property
    def places_origin(self) -> bool:
        """Its place is where the fire came from (a burst located by its shots, a post that saw
        it fired or leave), not where it fell."""
        if self.origin is None:
            return False
        return not math.isfinite(self.x) or (self.x == self.origin[0] and self.y == self.origin[1])

    @property
    def technical_grade(self) -> bool:
        """A high-grade technical source: a technical sensor, reliable (A-B) and credible (1-2)."""
        return self.kind in TECHNICAL_KINDS and self.reliability in "AB" and self.credibility <= 2


class Projector:
    """Geodesic-to-plane helpers bound to one geography (one transformer per process)."""

    def __init__(self, geo: Geography) -> None:
        self.geo = geo

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        x, y = self.geo.project(lon, lat)
        return float(x), float(y)

    def grid_azimuth(self, lon: float, lat: float, azimuth_deg: float) -> float:
        """A true azimuth at (lon, lat) turned into the plane's grid azimuth."""
        lon2, lat2, _ = GEOD.fwd(lon, lat, azimuth_deg, 1_000.0)
        x1, y1 = self.xy(lon, lat)
        x2, y2 = self.xy(lon2, lat2)
        return math.degrees(math.atan2(x2 - x1, y2 - y1)) % 360.0


def _window(o: dict[str, Any]) -> tuple[float, float]:
    t0 = epoch(o["observed_at"])
    t1 = epoch(o["observed_until"]) if o.get("observed_until") else t0
    p = float(o.get("time_precision_s", 1.0))
    return t0 - p, t1 + p


def _along_across_cov(az_deg: float, s_along: float, s_across: float) -> FloatArray:
    th = math.radians(az_deg)
    u = np.array([math.sin(th), math.cos(th)])
    v = np.array([math.cos(th), -math.sin(th)])
    return np.asarray(s_along**2 * np.outer(u, u) + s_across**2 * np.outer(v, v))


def from_observation(index: int, o: dict[str, Any], proj: Projector, ranges_m: dict[str, float]) -> Evidence:
    """The evidence of one accepted observation (its JSON as stored)."""
    kind = o["kind"]
    t0, t1 = _window(o)
    x, y = proj.xy(o["lon"], o["lat"])
    cov = cov_from_radius95(float(o.get("location_uncertainty_m", 0.0)))
    ev = Evidence(
        t=epoch(o["observed_at"]),
        precision_s=float(o.get("time_precision_s", 1.0)),
        index=index,
        obs_id=o.get("id") or o["client_id"],
        kind=kind,
        nation=o["nation"],
        source=o["source_id"],
        t0=t0,
        t1=t1,
        x=x,
        y=y,
        cov=cov,
        weapon_class=o.get("weapon_class"),
        reliability=o.get("reliability", "F"),
        credibility=int(o.get("credibility", 6)),
        killed=o.get("killed"),
        injured=o.get("injured"),
    )
    if kind == "radar_track":
        e = o["origin_ellipse"]
        ev.origin = (
            x,
            y,
            cov_from_ellipse95(e["semi_major_m"], e["semi_minor_m"], e.get("azimuth_deg", 0.0)),
        )
        imp = o.get("impact")
        if imp:
            ev.x, ev.y = proj.xy(imp["lon"], imp["lat"])
            ie = imp.get("ellipse")
            ev.cov = (
                cov_from_ellipse95(ie["semi_major_m"], ie["semi_minor_m"], ie.get("azimuth_deg", 0.0))
                if ie
                else cov_from_radius95(500.0)
            )
        else:
            ev.x = ev.y = math.nan
    elif kind == "sighting":
        _sighting(ev, o, proj, ranges_m)
    elif kind == "crater":
        ev.count = 1
        if o.get("azimuth_of_origin_deg") is not None:
            r_max = ranges_m.get(o.get("weapon_class") or "", max(ranges_m.values(), default=40_000.0))
            ev.ray = Ray(
                x,
                y,
                proj.grid_azimuth(o["lon"], o["lat"], float(o["azimuth_of_origin_deg"])),
                float(o.get("azimuth_uncertainty_deg") or DEFAULT_RAY_SIGMA_DEG) / 2.0,
                0.05 * r_max,
                r_max,
            )
    elif kind == "allegation":
        ev.accused = o.get("accused_party")
        ev.claimed = o.get("casualties_reported")
    elif kind == "weapon_presence":
        ev.count = int(o.get("count", 1))
        ev.extra["moving"] = bool(o.get("moving", False))
        ev.extra["forces_party"] = o.get("forces_party")  # whose forces, as the observer identified them
    elif kind == "air_track":
        pts = o.get("points") or [{"lon": o["lon"], "lat": o["lat"], "time": o["observed_at"]}]
        px, py = proj.geo.project(np.array([p["lon"] for p in pts]), np.array([p["lat"] for p in pts]))
        alt = np.array([np.nan if p.get("altitude_m") is None else p["altitude_m"] for p in pts])
        ev.extra["track"] = (np.asarray(px, dtype=np.float64), np.asarray(py, dtype=np.float64), alt)
        ev.extra["lonlat"] = (np.array([p["lon"] for p in pts]), np.array([p["lat"] for p in pts]))
        ev.extra["aircraft_type"] = o.get("aircraft_type")
        # where it went: the point of the track farthest from where it started
        far = int(np.argmax(np.hypot(px - px[0], py - py[0])))
        ev.origin = (float(px[0]), float(py[0]), cov)
        ev.x, ev.y = float(px[far]), float(py[far])
    elif kind == "interference":
        ev.extra["interference_type"] = o.get("interference_type")
    return ev


def _sighting(ev: Evidence, o: dict[str, Any], proj: Projector, ranges_m: dict[str, float]) -> None:
    """A sighting locates what was seen along the bearing, inside the distance band; a direction
    of flight points back towards the origin, as a crater's azimuth does."""
    ev.count = int(o.get("count", 1))
    ev.sighting_type = o.get("sighting_type")
    post_x, post_y = ev.x, ev.y
    ev.observer = (post_x, post_y)
    b, band = o.get("bearing_deg"), o.get("distance_band")
    if b is None:
        ev.x = ev.y = math.nan  # heard, not placed: it counts in time only
        return
    lo, hi = (band["min_m"], band["max_m"]) if band else (0.0, 10_000.0)
    d = (lo + hi) / 2.0
    grid_b = proj.grid_azimuth(o["lon"], o["lat"], float(b))
    ev.bearing_grid_deg = grid_b
    ev.x += d * math.sin(math.radians(grid_b))
    ev.y += d * math.cos(math.radians(grid_b))
    # a band is misjudged by one band now and then: its width is about one standard deviation
    s_along = max(hi - lo, 500.0)
    s_across = max(d, 500.0) * math.tan(math.radians(SIGHTING_BEARING_SIGMA_DEG))
    ev.cov = _along_across_cov(grid_b, s_along, s_across)
    far_lo, far_hi = neighbouring_bands(lo, hi)
    ev.sight = Ray(post_x, post_y, grid_b, SIGHTING_BEARING_SIGMA_DEG, lo, hi, BAND_MISJUDGED, far_lo, far_hi)
    if ev.sighting_type in ("outgoing", "burst"):
        # seen leaving: the place is the origin; a burst of small arms is fired and lands close by
        ev.origin = (ev.x, ev.y, ev.cov)
    elif o.get("direction_of_flight_deg") is not None:
        seen_lon, seen_lat = proj.geo.unproject(ev.x, ev.y)
        back = (float(o["direction_of_flight_deg"]) + 180.0) % 360.0
        r_max = ranges_m.get(o.get("weapon_class") or "", max(ranges_m.values(), default=40_000.0))
        ev.ray = Ray(
            ev.x,
            ev.y,
            proj.grid_azimuth(float(seen_lon), float(seen_lat), back),
            FLIGHT_DIRECTION_SIGMA_DEG,
            0.0,
            r_max,
        )
    if ev.sighting_type == "outgoing":
        ev.x = ev.y = math.nan


@dataclass
class AcousticEvents:
    """Located blasts from the acoustic engine (one row each) and the detections each explains."""

    ids: list[str]
    t: FloatArray
    lon: FloatArray
    lat: FloatArray
    semi_major_m: FloatArray
    semi_minor_m: FloatArray
    azimuth_deg: FloatArray
    n_detections: npt.NDArray[np.int64]
    detections: dict[str, list[str]]  # event id -> detection observation ids

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def empty(cls) -> AcousticEvents:
        z = np.zeros(0)
        return cls([], z, z, z, z, z, z, np.zeros(0, dtype=np.int64), {})


def burst_evidence(
    detections: list[dict[str, Any]],
    proj: Projector,
    params: BurstParams | None = None,
    reach_m: float = 2_000.0,
) -> list[Evidence]:
    """Acoustic arrivals that no located blast explains -> one piece of evidence per located burst
    (`garant.verify.bursts`): the place where the shots were fired, as an origin; where they
    landed, somewhere within `reach_m` of it (the lightest weapon's range: a 95% radius); the
    window of the shots, and the arrivals it rests on (`extra["observation_ids"]`)."""
    if not detections:
        return []
    # in time order, so that the same arrivals give the same bursts however they were listed
    when = [epoch(o["observed_at"]) for o in detections]
    order = sorted(
        range(len(detections)),
        key=lambda k: (when[k], str(detections[k].get("id") or detections[k].get("client_id"))),
    )
    detections = [detections[k] for k in order]
    t = np.array([when[k] for k in order])
    sensors: dict[str, int] = {}
    sxy: list[tuple[float, float]] = []
    north: list[float] = []  # the grid azimuth of true north at each sensor
    station = np.empty(len(detections), dtype=np.int64)
    for k, o in enumerate(detections):
        key = str(o.get("sensor_id") or f"{o['lon']:.6f},{o['lat']:.6f}")
        if key not in sensors:
            sensors[key] = len(sxy)
            sxy.append(proj.xy(float(o["lon"]), float(o["lat"])))
            north.append(proj.grid_azimuth(float(o["lon"]), float(o["lat"]), 0.0))
        station[k] = sensors[key]
    amp = np.array([o.get("amplitude") or math.nan for o in detections], dtype=np.float64)
    # an array's azimuths, turned to the plane's grid north
    az = (
        np.array(
            [math.nan if o.get("azimuth_deg") is None else float(o["azimuth_deg"]) for o in detections],
            dtype=np.float64,
        )
        + np.array(north)[station]
    )
    az_sigma = np.array(
        [float(o.get("azimuth_uncertainty_deg") or DEFAULT_ARRAY_SIGMA_DEG) for o in detections],
        dtype=np.float64,
    )
    xy = np.array(sxy)
    found = locate_bursts(xy[:, 0], xy[:, 1], station, t, amp, params, az, az_sigma)
    out = []
    for k in range(len(found)):
        members = [detections[i] for i in found.members[k].tolist()]
        ids = [str(o.get("id") or o.get("client_id")) for o in members]
        first = members[0]
        out.append(
            Evidence(
                index=-1,
                obs_id=ids[0],
                kind="acoustic_burst",
                nation=str(first.get("nation") or ""),
                source=str(first.get("source_id") or ""),
                t0=float(found.t0[k]),
                t1=float(found.t1[k]),
                x=float(found.x[k]),
                y=float(found.y[k]),
                cov=np.asarray(found.cov[k]) + cov_from_radius95(reach_m),
                origin=(float(found.x[k]), float(found.y[k]), np.asarray(found.cov[k])),
                count=int(found.rounds[k]),
                reliability=min(str(o.get("reliability") or "F") for o in members),
                credibility=min(int(o.get("credibility") or 6) for o in members),
                arc=found.arcs[k],
                extra={"observation_ids": ids, "sensors": int(found.n_stations[k])},
                t=float(found.t0[k]),
                precision_s=0.1,
            )
        )
    return out
