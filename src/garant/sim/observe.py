"""How the network sees the true events: one function per observation kind, with its errors.

Each returns observations as Garant intake JSON (one line each), their times (for ordering
the output), and the truth behind each: which incident or blast it came from, or none (a
false detection, a fabricated allegation). Acoustic detections, a million a day in an armed
attack, are built as columns and formatted in one pass; the other kinds are a few thousand a
day and are built one by one for clarity.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import orjson
from scipy.spatial import cKDTree

from garant.domain.agreement import Agreement
from garant.domain.observations import SIGHTING_DISTANCE_BANDS_M
from garant.geo.engine import Geography
from garant.sim.events import Incident, Window
from garant.sim.network import LinePath, Sites, place_rows
from garant.sim.physics import (
    destination,
    detection_probability,
    effective_speed,
    geodesic,
    hearing_radius_m,
    iso_times,
    logistic,
    loudness_factor,
)
from garant.sim.scenario import Regime, Scenario

FloatArray = npt.NDArray[np.float64]
DISTANCE_BANDS_M = SIGHTING_DISTANCE_BANDS_M  # the posts judge in the form's bands
CHI2_95_2D = math.sqrt(-2.0 * math.log(0.05))  # 2.4477: 95% ellipse of a 2-D normal, in sigmas
REAR_IDENTIFIED = 0.5  # share of the reports of a rear movement that say whose forces they are


@dataclass
class Batch:
    """Observations of one kind (or several) from one window, with their truth."""

    times: list[float] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    truth: list[tuple[str, str, str]] = field(default_factory=list)  # observation id, incident id, kind

    def add(self, t: float, obs: dict[str, object], incident_id: str) -> None:
        self.times.append(t)
        self.lines.append(orjson.dumps(obs).decode())
        self.truth.append((str(obs["client_id"]), incident_id, str(obs["kind"])))


@dataclass
class Network:
    sensors: Sites
    is_array: npt.NDArray[np.bool_]
    bias_s: FloatArray
    posts: Sites
    post_nations: list[str]
    radars: Sites


def build_network(scenario: Scenario, agreement: Agreement, geo: Geography, path: LinePath) -> Network:
    rng = np.random.default_rng([scenario.seed, 0, 0, 1])
    ac = scenario.acoustic
    sensors = place_rows(
        path,
        geo,
        rng,
        spacing_m=ac.spacing_km * 1000.0,
        offsets_m=[o * 1000.0 for o in ac.offsets_km],
        jitter_m=ac.position_jitter_m,
        prefix="ac",
        width=5,
    )
    is_array = rng.random(len(sensors)) < ac.array_fraction
    bias = rng.normal(0.0, ac.bias_sigma_s, len(sensors))
    posts = place_rows(
        path,
        geo,
        rng,
        spacing_m=scenario.posts.spacing_km * 1000.0,
        offsets_m=[scenario.posts.offset_km * 1000.0],
        jitter_m=200.0,
        prefix="op",
        width=3,
    )
    parties = agreement.party_codes()
    nations = (
        scenario.posts.nations or [g.code for g in agreement.guarantors if g.code not in parties] or ["MM"]
    )
    post_nations = [nations[i % len(nations)] for i in range(len(posts))]
    radars = place_rows(
        path,
        geo,
        rng,
        spacing_m=scenario.radar.spacing_km * 1000.0,
        offsets_m=[scenario.radar.offset_km * 1000.0],
        jitter_m=500.0,
        prefix="cbr",
        width=2,
    )
    return Network(sensors, is_array, bias, posts, post_nations, radars)


class Observer:
    """Everything the mechanism and the parties report, window by window."""

    def __init__(
        self, scenario: Scenario, agreement: Agreement, geo: Geography, path: LinePath, network: Network
    ) -> None:
        self.s = scenario
        self.agreement = agreement
        self.geo = geo
        self.path = path
        self.net = network
        self.prefix = scenario.prefix()
        self.parties = list(geo.parties)
        self._n: dict[str, int] = {}
        self._sensor_tree = cKDTree(np.column_stack([network.sensors.x, network.sensors.y]))
        self._last_arrival = np.full(len(network.sensors), -np.inf)
        self._pending: dict[str, npt.NDArray[np.generic]] = {}
        # weapon classes ordered by calibre: an observer's mistake is a neighbouring class
        self._by_calibre = [
            w.code
            for w in sorted(
                agreement.weapon_classes, key=lambda w: w.calibre_min_mm or w.calibre_max_mm or 0.0
            )
        ]
        self.allegation_truth: list[tuple[str, str, str, str, str]] = []
        self._craters_due: list[tuple[Incident, float, float, float, float, float]] = []
        self._lasting: list[Incident] = []

    # ---------------------------------------------------------------- helpers
    def _id(self, kind: str) -> str:
        n = self._n.get(kind, 0) + 1
        self._n[kind] = n
        return f"{self.prefix}-{kind}-{n:08d}"

    def _base(
        self,
        kind: str,
        abbrev: str,
        source: str,
        nation: str,
        t: float,
        lon: float,
        lat: float,
        uncertainty_m: float,
        reliability: str,
        credibility: int,
        precision_s: float = 1.0,
        time_unit: str = "s",
        until: float | None = None,
    ) -> dict[str, object]:
        obs: dict[str, object] = {
            "kind": kind,
            "client_id": self._id(abbrev),
            "source_id": source,
            "nation": nation,
            "observed_at": iso_times(np.array([t]), time_unit)[0],
        }
        if until is not None:
            obs["observed_until"] = iso_times(np.array([until]), "s")[0]
        obs.update(
            time_precision_s=round(precision_s, 1),
            lon=round(float(lon), 6),
            lat=round(float(lat), 6),
            location_uncertainty_m=round(float(uncertainty_m), 1),
            reliability=reliability,
            credibility=credibility,
            releasability=self.s.releasability_of(kind),
        )
        return obs

    def _casualties(self, inc: Incident, obs: dict[str, object]) -> None:
        """A report made at the impacts gives the incident's dead and injured, now and then (every
        report of one incident the same figures); drawn on a stream of the report's own, so the
        other draws of a seed stay as they were."""
        if not inc.casualties:
            return
        key = int.from_bytes(hashlib.sha256(str(obs["client_id"]).encode()).digest()[:8])
        if (
            np.random.default_rng([self.s.seed, key, 0, 14]).random()
            < self.s.patrols.casualty_report_probability
        ):
            obs.update(killed=inc.killed, injured=inc.casualties - inc.killed)

    def _confuse(self, rng: np.random.Generator, code: str, p: float) -> str:
        if not code or rng.random() >= p:
            return code
        i = self._by_calibre.index(code)
        j = i + (1 if (rng.random() < 0.5 and i + 1 < len(self._by_calibre)) or i == 0 else -1)
        return self._by_calibre[min(max(j, 0), len(self._by_calibre) - 1)]

    def _is_day(self, t: float) -> bool:
        hour = (t / 3600.0) % 24.0
        lo, hi = self.s.posts.day_hours_utc
        return lo <= hour < hi

    # ---------------------------------------------------------------- acoustic
    def acoustic(
        self, window: Window, rng: np.random.Generator
    ) -> tuple[FloatArray, list[str], list[str], list[str]]:
        """Detections decided in this window: times, JSON lines, detections.csv lines, truth lines.

        Arrival = origin time + geodesic distance / (sound speed + wind along the path) + the
        sensor's bias + timing noise. Dead time is paralysable: an arrival within `dead_time_s`
        of the previous one at the same sensor (heard or not) is lost. Arrivals after the window
        stay pending until every earlier arrival at their sensor is known.
        """
        ac = self.s.acoustic
        b = window.blasts
        sensors = self.net.sensors
        cols: dict[str, npt.NDArray[np.generic]] = {}
        if len(b):
            factor = loudness_factor(ac.detection, b.calibre_mm, b.loudness)
            bx, by = self.geo.project(b.lon, b.lat)
            radius = hearing_radius_m(ac.detection, factor) * (1.0 + 2.0 * self.geo.scale_error) + 1.0
            hits = self._sensor_tree.query_ball_point(np.column_stack([bx, by]), radius)
            counts = np.fromiter((len(h) for h in hits), dtype=np.int64, count=len(hits))
            blast_i = np.repeat(np.arange(len(b)), counts)
            sensor_i = np.fromiter((s for h in hits for s in h), dtype=np.int64, count=int(counts.sum()))
            az_sensor, az_blast, dist = geodesic(
                sensors.lon[sensor_i], sensors.lat[sensor_i], b.lon[blast_i], b.lat[blast_i]
            )
            heard = rng.random(len(dist)) < detection_probability(ac.detection, dist, factor[blast_i])
            blast_i, sensor_i = blast_i[heard], sensor_i[heard]
            az_sensor, az_blast, dist = az_sensor[heard], az_blast[heard], dist[heard]
            t_src = b.t[blast_i]
            speed = effective_speed(self.s.atmosphere, t_src, az_blast)
            arrival = (
                t_src
                + dist / speed
                + self.net.bias_s[sensor_i]
                + rng.normal(0.0, ac.timing_sigma_s, len(dist))
            )
            azimuth = np.mod(az_sensor + rng.normal(0.0, ac.azimuth_sigma_deg, len(dist)), 360.0)
            amplitude = factor[blast_i] * 1000.0 / np.maximum(dist, 50.0) * rng.lognormal(0.0, 0.3, len(dist))
            cols = {"sensor": sensor_i, "t": arrival, "az": azimuth, "amp": amplitude, "blast": blast_i}
            blast_ids = np.asarray(b.ids, dtype=object)
            cols["blast_id"] = blast_ids[blast_i]
        # false detections: a Poisson count per sensor, uniform over the window
        n_false = rng.poisson(ac.false_per_sensor_hour * (window.end - window.start) / 3600.0, len(sensors))
        f_sensor = np.repeat(np.arange(len(sensors)), n_false)
        false_cols: dict[str, npt.NDArray[np.generic]] = {
            "sensor": f_sensor,
            "t": rng.uniform(window.start, window.end, len(f_sensor)),
            "az": rng.uniform(0.0, 360.0, len(f_sensor)),
            "amp": rng.lognormal(-1.0, 0.5, len(f_sensor)),
            "blast": np.full(len(f_sensor), -1),
            "blast_id": np.full(len(f_sensor), "", dtype=object),
        }
        return self._acoustic_lines(self._decide([self._pending, cols, false_cols], window.end))

    def _decide(
        self, parts: list[dict[str, npt.NDArray[np.generic]]], until: float
    ) -> dict[str, npt.NDArray[np.generic]]:
        """Apply dead time to the arrivals before `until`, in time order; keep the later ones pending."""
        parts = [p for p in parts if p]
        merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[-1]}
        order = np.lexsort((merged["t"], merged["sensor"]))
        merged = {k: v[order] for k, v in merged.items()}
        sensor = merged["sensor"].astype(np.int64)
        t = merged["t"].astype(np.float64)
        prev = np.empty(len(t))
        if len(t):
            prev[1:] = t[:-1]
            first = np.ones(len(t), dtype=bool)
            first[1:] = sensor[1:] != sensor[:-1]
            prev[first] = self._last_arrival[sensor[first]]
        keep = (t - prev) >= self.s.acoustic.dead_time_s
        decided = t < until
        # the last arrival per sensor among the decided ones (heard or lost) carries over
        if decided.any():
            np.maximum.at(self._last_arrival, sensor[decided], t[decided])
        self._pending = {k: v[~decided] for k, v in merged.items()}
        sel = {k: v[decided & keep] for k, v in merged.items()}
        by_time = np.argsort(sel["t"], kind="stable")
        return {k: v[by_time] for k, v in sel.items()}

    def _acoustic_lines(
        self, sel: dict[str, npt.NDArray[np.generic]]
    ) -> tuple[FloatArray, list[str], list[str], list[str]]:
        ac = self.s.acoustic
        n = len(sel["t"])
        start = self._n.get("ac", 0)
        self._n["ac"] = start + n
        ids = [f"{self.prefix}-ac-{k:08d}" for k in range(start + 1, start + n + 1)]
        times = iso_times(sel["t"].astype(np.float64), "us")
        sensor = sel["sensor"].astype(np.int64)
        names = np.asarray(self.net.sensors.ids, dtype=object)[sensor]
        lon = self.net.sensors.lon[sensor]
        lat = self.net.sensors.lat[sensor]
        arr = self.net.is_array[sensor]
        az = sel["az"].astype(np.float64)
        amp = sel["amp"].astype(np.float64)
        head = '{"kind":"acoustic_detection","client_id":"'
        mid = (
            f'"nation":"{ac.nation}","time_precision_s":{ac.timing_sigma_s:g},'
            f'"location_uncertainty_m":10.0,"reliability":"A","credibility":2,"releasability":"{self.s.releasability_of("acoustic_detection")}"'
        )
        sigma_az = f"{ac.azimuth_sigma_deg:g}"
        lines = []
        csv_lines = []
        for k in range(n):
            extra = f',"azimuth_deg":{az[k]:.1f},"azimuth_uncertainty_deg":{sigma_az}' if arr[k] else ""
            lines.append(
                f'{head}{ids[k]}","source_id":"{names[k]}","sensor_id":"{names[k]}","observed_at":"{times[k]}",'
                f'"lon":{lon[k]:.6f},"lat":{lat[k]:.6f},{mid},"amplitude":{amp[k]:.4f}{extra}}}'
            )
            csv_lines.append(f"{ids[k]},{names[k]},{times[k]}" + (f",{az[k]:.1f}" if arr[k] else ","))
        blast_ids = sel["blast_id"]
        truth = [f"{ids[k]},{blast_ids[k]}" for k in range(n) if blast_ids[k]]
        return sel["t"].astype(np.float64), lines, csv_lines, truth

    def flush_acoustic(self) -> tuple[FloatArray, list[str], list[str], list[str]]:
        """The arrivals still pending after the last window (none can come before them now)."""
        if not self._pending or not len(self._pending["t"]):
            return np.zeros(0), [], [], []
        return self._acoustic_lines(self._decide([self._pending], math.inf))

    # ---------------------------------------------------------------- the other kinds
    def others(self, window: Window, rng: np.random.Generator) -> Batch:
        out = Batch()
        stops = self._patrol_stops(window, rng)
        self._sightings(window, stops, rng, out)
        self._radar(window, rng, out)
        self._craters(window, stops, rng, out)
        self._uav_and_patrol_presence(window, stops, rng, out)
        self._air_tracks(window, rng, out)
        self._interference(window, rng, out)
        self._allegations(window, rng, out)
        self._osint(window, rng, out)
        return out

    def _patrol_stops(
        self, window: Window, rng: np.random.Generator
    ) -> list[tuple[str, str, float, float, float, float]]:
        """(patrol id, nation, lon, lat, start, end) of the stops that start in this window in daylight."""
        p = self.s.patrols
        n = int(rng.poisson(p.stops_per_day * (window.end - window.start) / 86_400.0))
        stops = []
        nations = sorted(set(self.net.post_nations)) or ["MM"]
        for _ in range(n):
            t = float(rng.uniform(window.start, window.end))
            if not self._is_day(t):
                continue
            side = float(rng.choice([-1.0, 1.0]))
            x, y = self.path.offset(
                np.array([rng.uniform(0, self.path.length_m)]),
                np.array([side]),
                np.array([rng.uniform(*p.offset_km) * 1000.0]),
            )
            lon, lat = self.geo.unproject(x, y)
            if self.geo.party_index(lon, lat)[0] < 0:
                continue
            k = int(rng.integers(1, 40))
            stops.append(
                (
                    f"patrol-{k:02d}",
                    nations[k % len(nations)],
                    float(lon[0]),
                    float(lat[0]),
                    t,
                    t + p.stop_hours * 3600.0,
                )
            )
        return stops

    def _sightings(
        self,
        window: Window,
        stops: list[tuple[str, str, float, float, float, float]],
        rng: np.random.Generator,
        out: Batch,
    ) -> None:
        posts = self.net.posts
        po = self.s.posts
        observers = [
            (
                posts.ids[i],
                self.net.post_nations[i],
                float(posts.lon[i]),
                float(posts.lat[i]),
                -math.inf,
                math.inf,
                po.sight_km,
            )
            for i in range(len(posts))
        ]
        observers += [
            (sid, nat, lo, la, t0, t1, self.s.patrols.sight_km) for sid, nat, lo, la, t0, t1 in stops
        ]
        if not observers:
            return
        olon = np.array([o[2] for o in observers])
        olat = np.array([o[3] for o in observers])
        for inc in window.incidents:
            if inc.kind != "fire":
                continue
            phys = self.s.weapon(inc.weapon_class)
            r = window.rounds
            sl = slice(inc.first_round, inc.first_round + inc.rounds)
            parts = [("outgoing", inc.origin_lon, inc.origin_lat, r.launch_t[sl])]
            if phys.impact_loudness > 0:
                parts.append(("impact", inc.lon, inc.lat, r.impact_t[sl]))
            for part, plon, plat, times in parts:
                t_first = float(times.min())
                az, _, dist = geodesic(olon, olat, np.full(len(olon), plon), np.full(len(olon), plat))
                d50 = np.array([o[6] for o in observers]) * 1000.0 * (phys.calibre_mm / 122.0) ** 0.3
                if not self._is_day(t_first):
                    d50 = d50 * po.night_factor
                active = np.array([o[4] <= t_first <= o[5] for o in observers])
                seen = active & (rng.random(len(observers)) < logistic(dist, d50, po.max_probability))
                for j in np.flatnonzero(seen):
                    sighting = "burst" if phys.impact_loudness == 0 else part
                    if sighting != "burst" and rng.random() < po.direction_confusion:
                        sighting = "impact" if sighting == "outgoing" else "outgoing"
                    band = int(np.searchsorted(DISTANCE_BANDS_M, dist[j], side="right")) - 1
                    if rng.random() < po.band_error:
                        band += int(rng.choice([-1, 1]))
                    band = min(max(band, 0), len(DISTANCE_BANDS_M) - 2)
                    t_seen = t_first + abs(rng.normal(0.0, po.time_sigma_s))
                    t_end = max(float(times.max()), t_seen) + abs(rng.normal(0.0, po.time_sigma_s))
                    obs = self._base(
                        "sighting",
                        "si",
                        observers[j][0],
                        observers[j][1],
                        t_seen,
                        olon[j],
                        olat[j],
                        10.0,
                        "B",
                        2,
                        precision_s=max(po.time_sigma_s, 1.0),
                        until=t_end,
                    )
                    obs.update(
                        sighting_type=sighting,
                        count=max(1, int(rng.binomial(inc.rounds, po.count_detected))),
                        bearing_deg=round(
                            float(np.mod(az[j] + rng.normal(0.0, po.bearing_sigma_deg), 360.0)), 1
                        ),
                        distance_band={"min_m": DISTANCE_BANDS_M[band], "max_m": DISTANCE_BANDS_M[band + 1]},
                        weapon_class=self._confuse(rng, inc.weapon_class, po.weapon_confusion),
                    )
                    if part == "impact" and dist[j] <= self.s.patrols.casualty_sight_km * 1000.0:
                        self._casualties(inc, obs)
                    out.add(t_seen, obs, inc.id)

    def _radar(self, window: Window, rng: np.random.Generator, out: Batch) -> None:
        ra = self.s.radar
        radars = self.net.radars
        r = window.rounds
        if not len(r) or not len(radars):
            return
        calibre = np.array([self.s.weapon(window.incidents[i].weapon_class).calibre_mm for i in r.incident])
        tracked = np.flatnonzero(calibre >= ra.min_calibre_mm)
        for j in range(len(radars)):
            az, _, dist = geodesic(
                np.full(len(tracked), radars.lon[j]),
                np.full(len(tracked), radars.lat[j]),
                r.launch_lon[tracked],
                r.launch_lat[tracked],
            )
            seen = (dist <= ra.range_km * 1000.0) & (rng.random(len(tracked)) < ra.detect_probability)
            for k in np.flatnonzero(seen):
                i = int(tracked[k])
                inc = window.incidents[int(r.incident[i])]
                sigma = max(ra.min_error_m, ra.error_fraction * float(dist[k]))
                along, cross = rng.normal(0.0, sigma), rng.normal(0.0, sigma * ra.cross_range_factor)
                # error along the radar's line of sight and across it
                los = math.radians(float(az[k]))
                de, dn = (
                    along * math.sin(los) + cross * math.cos(los),
                    along * math.cos(los) - cross * math.sin(los),
                )
                err_az = math.degrees(math.atan2(de, dn))
                lon, lat = destination(
                    r.launch_lon[i : i + 1],
                    r.launch_lat[i : i + 1],
                    np.array([err_az]),
                    np.array([math.hypot(de, dn)]),
                )
                ilon, ilat = destination(
                    r.impact_lon[i : i + 1],
                    r.impact_lat[i : i + 1],
                    rng.uniform(0, 360, 1),
                    np.abs(rng.normal(0, sigma * 2, 1)),
                )
                obs = self._base(
                    "radar_track",
                    "rt",
                    radars.ids[j],
                    ra.nation,
                    float(r.launch_t[i]),
                    lon[0],
                    lat[0],
                    CHI2_95_2D * sigma * ra.cross_range_factor,
                    "A",
                    2,
                    precision_s=0.1,
                    time_unit="ms",
                )
                ellipse = {
                    "semi_major_m": round(CHI2_95_2D * sigma * ra.cross_range_factor, 1),
                    "semi_minor_m": round(CHI2_95_2D * sigma, 1),
                    "azimuth_deg": round((float(az[k]) + 90.0) % 180.0, 1),
                }
                obs.update(
                    origin_ellipse=ellipse,
                    impact={
                        "lon": round(float(ilon[0]), 6),
                        "lat": round(float(ilat[0]), 6),
                        "ellipse": {
                            "semi_major_m": round(CHI2_95_2D * sigma * 2, 1),
                            "semi_minor_m": round(CHI2_95_2D * sigma * 2, 1),
                        },
                    },
                    weapon_class=self._confuse(rng, inc.weapon_class, ra.weapon_confusion),
                )
                out.add(float(r.launch_t[i]), obs, inc.id)

    def _craters(
        self,
        window: Window,
        stops: list[tuple[str, str, float, float, float, float]],
        rng: np.random.Generator,
        out: Batch,
    ) -> None:
        p = self.s.patrols
        r = window.rounds
        for inc in window.incidents:
            phys = self.s.weapon(inc.weapon_class) if inc.kind == "fire" else None
            if phys is None or not phys.craters or phys.impact_loudness == 0:
                continue
            i = inc.first_round
            self._craters_due.append(
                (
                    inc,
                    float(r.impact_t[i]),
                    float(r.impact_lon[i]),
                    float(r.impact_lat[i]),
                    float(r.launch_lon[i]),
                    float(r.launch_lat[i]),
                )
            )
        still_due = []
        for item in self._craters_due:
            inc, t_imp, ilon, ilat, llon, llat = item
            if t_imp < window.start - p.crater_max_age_hours * 3600.0:
                continue
            found = False
            for sid, nation, slon, slat, t0, _ in stops:
                if t0 < t_imp:
                    continue
                _, _, d = geodesic(np.array([slon]), np.array([slat]), np.array([ilon]), np.array([ilat]))
                if d[0] > p.crater_radius_km * 1000.0:
                    continue
                found = True
                if rng.random() < p.crater_probability:
                    az, _, _ = geodesic(
                        np.array([ilon]), np.array([ilat]), np.array([llon]), np.array([llat])
                    )
                    start = t_imp - rng.uniform(0.0, 7200.0)
                    obs = self._base(
                        "crater",
                        "cr",
                        sid,
                        nation,
                        start,
                        ilon + rng.normal(0, 5e-5),
                        ilat + rng.normal(0, 5e-5),
                        10.0,
                        "B",
                        2,
                        precision_s=t0 - start,
                        until=t0,
                    )
                    sigma = p.crater_azimuth_sigma_deg
                    phys = self.s.weapon(inc.weapon_class)
                    obs.update(
                        azimuth_of_origin_deg=round(float(np.mod(az[0] + rng.normal(0.0, sigma), 360.0)), 1),
                        azimuth_uncertainty_deg=round(2.0 * sigma, 1),
                        calibre_mm=round(phys.calibre_mm * rng.uniform(0.9, 1.1), 0),
                        weapon_class=self._confuse(rng, inc.weapon_class, 0.2),
                    )
                    self._casualties(inc, obs)
                    out.add(start, obs, inc.id)
                break
            if not found:
                still_due.append(item)
        self._craters_due = still_due

    def _uav_and_patrol_presence(
        self,
        window: Window,
        stops: list[tuple[str, str, float, float, float, float]],
        rng: np.random.Generator,
        out: Batch,
    ) -> None:
        u = self.s.uav
        self._lasting = [i for i in self._lasting if i.t1 >= window.start]
        self._lasting += [i for i in window.incidents if i.kind in ("presence", "advance", "movement")]
        n = int(rng.poisson(u.sorties_per_day * (window.end - window.start) / 86_400.0))
        viewers = []
        for k in range(n):
            t = float(rng.uniform(window.start, window.end))
            x, y = self.path.offset(
                np.array([rng.uniform(0, self.path.length_m)]),
                np.array([rng.choice([-1.0, 1.0])]),
                np.array([rng.uniform(0.0, u.max_offset_km * 1000.0)]),
            )
            lon, lat = self.geo.unproject(x, y)
            viewers.append(
                (
                    f"uav-{k % 8 + 1:02d}",
                    u.nation,
                    float(lon[0]),
                    float(lat[0]),
                    t,
                    t + u.hours * 3600.0,
                    u.radius_km * 1000.0,
                    u.detect_probability,
                    u.position_sigma_m,
                )
            )
        viewers += [
            (
                sid,
                nat,
                lo,
                la,
                t0,
                t1,
                self.s.patrols.sight_km * 1000.0,
                self.s.patrols.presence_probability,
                self.s.patrols.position_sigma_m,
            )
            for sid, nat, lo, la, t0, t1 in stops
        ]
        # rear movements are seen on a stream of their own, so the other draws of a seed stay
        own = np.random.default_rng([self.s.seed, int(window.start), 0, 15])
        for inc in self._lasting:
            r = own if inc.kind == "movement" else rng
            for sid, nat, vlon, vlat, t0, t1, radius, prob, sigma in viewers:
                lo, hi = max(t0, inc.t0), min(t1, inc.t1)
                if hi < lo:
                    continue
                _, _, d = geodesic(
                    np.array([vlon]), np.array([vlat]), np.array([inc.lon]), np.array([inc.lat])
                )
                if d[0] > radius or r.random() >= prob:
                    continue
                t = float(r.uniform(lo, hi))
                lon, lat = destination(
                    np.array([inc.lon]),
                    np.array([inc.lat]),
                    r.uniform(0, 360, 1),
                    np.abs(r.normal(0, sigma, 1)),
                )
                obs = self._base(
                    "weapon_presence",
                    "wp",
                    sid,
                    nat,
                    t,
                    lon[0],
                    lat[0],
                    2.0 * sigma,
                    "B",
                    2,
                    precision_s=60.0,
                )
                obs.update(
                    weapon_class=self._confuse(r, inc.weapon_class, 0.1),
                    count=max(1, inc.count + int(r.integers(-1, 2))),
                    moving=inc.kind in ("advance", "movement"),
                )
                # who reports an advance has seen whose forces they are; a column far behind its
                # own line is identified by some monitors, not by others
                if inc.kind == "advance" or (inc.kind == "movement" and r.random() < REAR_IDENTIFIED):
                    obs["forces_party"] = inc.party
                out.add(t, obs, inc.id)

    def _air_tracks(self, window: Window, rng: np.random.Generator, out: Batch) -> None:
        a = self.s.air_surveillance
        for inc in window.incidents:
            if inc.kind != "air" or inc.track is None or rng.random() >= a.detect_probability:
                continue
            tr = inc.track
            n = len(tr)
            plon, plat = destination(
                tr[:, 1], tr[:, 2], rng.uniform(0, 360, n), np.abs(rng.normal(0, a.position_sigma_m, n))
            )
            times = iso_times(tr[:, 0], "s")
            points = [
                {
                    "lon": round(float(plon[k]), 6),
                    "lat": round(float(plat[k]), 6),
                    "time": times[k],
                    "altitude_m": round(float(tr[k, 3]), 0),
                }
                for k in range(n)
            ]
            obs = self._base(
                "air_track",
                "at",
                "air-surveillance",
                a.nation,
                float(tr[0, 0]),
                plon[0],
                plat[0],
                2.0 * a.position_sigma_m,
                "A",
                2,
                until=float(tr[-1, 0]),
            )
            obs.update(aircraft_type=inc.detail, points=points)
            out.add(float(tr[0, 0]), obs, inc.id)

    def _interference(self, window: Window, rng: np.random.Generator, out: Batch) -> None:
        for inc in window.incidents:
            if inc.kind != "interference" or rng.random() >= 0.9:
                continue
            uav = inc.detail in ("jamming", "spoofing", "fire_at_uav")
            nation = (
                self.s.uav.nation if uav else (self.net.post_nations[0] if self.net.post_nations else "MM")
            )
            sigma = {"jamming": 800.0, "spoofing": 1500.0, "fire_at_uav": 300.0}.get(inc.detail, 50.0)
            lon, lat = destination(
                np.array([inc.lon]),
                np.array([inc.lat]),
                rng.uniform(0, 360, 1),
                np.abs(rng.normal(0, sigma, 1)),
            )
            source = "uav-ops" if uav else "patrol-ops"
            obs = self._base(
                "interference",
                "if",
                source,
                nation,
                inc.t0,
                lon[0],
                lat[0],
                2.0 * sigma,
                "B",
                2,
                precision_s=60.0,
                until=inc.t1,
            )
            obs.update(interference_type=inc.detail, target="UAV" if uav else "patrol")
            out.add(inc.t0, obs, inc.id)

    def _allegation(
        self,
        rng: np.random.Generator,
        t: float,
        lon: float,
        lat: float,
        alleging: str,
        accused: str,
        weapon: str,
        casualties: int,
    ) -> dict[str, object]:
        al = self.s.allegations
        sigma = al.location_sigma_km * 1000.0
        plon, plat = destination(
            np.array([lon]), np.array([lat]), rng.uniform(0, 360, 1), np.abs(rng.normal(0, sigma, 1))
        )
        t_claim = t + rng.normal(0.0, al.time_sigma_min * 60.0)
        obs = self._base(
            "allegation",
            "al",
            f"liaison-{alleging}",
            alleging,
            t_claim,
            plon[0],
            plat[0],
            2.0 * sigma,
            al.reliability,
            int(rng.integers(al.credibility[0], al.credibility[1] + 1)),
            precision_s=max(al.time_sigma_min * 120.0, 1.0),
        )
        name = {"small_arms": "small-arms fire"}.get(
            weapon, f"fire ({weapon.replace('_', ' ')})" if weapon else "fire"
        )
        obs.update(
            alleging_party=alleging,
            accused_party=accused,
            description=f"{alleging} reports {name} by {accused} forces on its positions.",
            weapon_class=self._confuse(rng, weapon, al.weapon_confusion) or None,
            casualties_reported=casualties,
        )
        return {k: v for k, v in obs.items() if v is not None}

    def _allegations(self, window: Window, rng: np.random.Generator, out: Batch) -> None:
        al = self.s.allegations
        for inc in window.incidents:
            if inc.kind != "fire":
                continue
            if rng.random() < al.report_probability:
                obs = self._allegation(
                    rng, inc.t0, inc.lon, inc.lat, inc.victim, inc.party, inc.weapon_class, inc.casualties
                )
                out.add(inc.t0, obs, inc.id)
                self.allegation_truth.append((str(obs["client_id"]), "true", inc.id, inc.victim, inc.party))
            if rng.random() < al.blame_flip_probability:
                # the firing party says it was fired upon, where it fired from
                obs = self._allegation(
                    rng, inc.t0, inc.origin_lon, inc.origin_lat, inc.party, inc.victim, inc.weapon_class, 0
                )
                out.add(inc.t0, obs, "")
                self.allegation_truth.append(
                    (str(obs["client_id"]), "blame_flip", inc.id, inc.party, inc.victim)
                )
        n = int(rng.poisson(al.fabricated_per_day * (window.end - window.start) / 86_400.0))
        heavy = [w.code for w in self.agreement.weapon_classes if w.heavy]
        for _ in range(n):
            alleging = self.parties[int(rng.integers(len(self.parties)))]
            accused = next(p for p in self.parties if p != alleging)
            side = 1.0 if alleging == self.geo.positive_party else -1.0
            x, y = self.path.offset(
                np.array([rng.uniform(0, self.path.length_m)]),
                np.array([side]),
                np.array([rng.uniform(1_000, 15_000)]),
            )
            lon, lat = self.geo.unproject(x, y)
            t = float(rng.uniform(window.start, window.end))
            weapon = heavy[int(rng.integers(len(heavy)))] if heavy else ""
            obs = self._allegation(
                rng, t, float(lon[0]), float(lat[0]), alleging, accused, weapon, int(rng.poisson(1.0))
            )
            out.add(t, obs, "")
            self.allegation_truth.append((str(obs["client_id"]), "fabricated", "", alleging, accused))

    def _osint(self, window: Window, rng: np.random.Generator, out: Batch) -> None:
        regimes: dict[str, Regime] = {r.kind: r for r in self.s.regimes}
        for inc in window.incidents:
            if inc.kind != "fire":
                continue
            p = float(regimes[inc.regime].value("osint_probability"))  # type: ignore[arg-type]
            if rng.random() >= p:
                continue
            url = f"https://osint.example/{self.prefix}/{inc.id}"
            lon, lat = destination(
                np.array([inc.lon]),
                np.array([inc.lat]),
                rng.uniform(0, 360, 1),
                np.abs(rng.normal(0, 2_000, 1)),
            )
            t = inc.t0 + rng.uniform(0.0, 600.0)
            obs = self._base(
                "osint",
                "os",
                "osint-cell",
                self.s.acoustic.nation,
                t,
                lon[0],
                lat[0],
                4_000.0,
                "C",
                3,
                precision_s=600.0,
            )
            obs.update(
                url=url,
                content_sha256=hashlib.sha256(url.encode()).hexdigest(),
                description="Video of impacts posted on social media; place matched to landmarks.",
            )
            out.add(t, obs, inc.id)
