"""True events: what the parties really do, window by window, and which provisions it breaches.

An *incident* is one act by one party: a shot or a barrage from one firing position, heavy
weapons brought into a withdrawal zone, a flight, an interference with the monitors, forces
moved across the line. A fire incident fires *rounds*; each round makes up to two *blasts*
(the launch and the impact), which are what acoustic sensors hear.

Positions are drawn in the agreement's projected plane relative to the line (distance along
it, offset across it) and accepted only where the control areas agree: a firing position is
in the firing party's area, an impact in the other party's. The provisions breached come from
the agreement's provisions by kind, never from a list written here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from garant.domain.agreement import Agreement, AirspaceZone, Provision, ProvisionKind, WithdrawalZone
from garant.geo.engine import Geography
from garant.sim.network import LinePath
from garant.sim.physics import destination, geodesic
from garant.sim.scenario import Regime, Scenario

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

AIRCRAFT = ("drone", "helicopter", "military_aircraft")
AIRCRAFT_WEIGHTS = (0.7, 0.2, 0.1)
AIRCRAFT_SPEED_MS = {"drone": 30.0, "helicopter": 60.0, "military_aircraft": 200.0}
AIRCRAFT_ALTITUDE_M = {
    "drone": (300.0, 1500.0),
    "helicopter": (50.0, 300.0),
    "military_aircraft": (3000.0, 8000.0),
}
INTERFERENCE = ("jamming", "spoofing", "fire_at_uav", "access_denial", "fire_at_monitors")
INTERFERENCE_WEIGHTS = (0.4, 0.15, 0.15, 0.2, 0.1)
_RETRIES = 12


@dataclass
class Incident:
    """One act by one party (see the module docstring)."""

    id: str
    kind: str  # fire, presence, air, interference, advance, movement (forces behind their own line)
    party: str
    regime: str
    t0: float
    t1: float
    lon: float
    lat: float
    origin_lon: float
    origin_lat: float
    weapon_class: str = ""
    rounds: int = 0
    count: int = 0
    casualties: int = 0
    killed: int = 0  # of `casualties`; the others injured
    detail: str = ""
    victim: str = ""
    provisions: list[str] = field(default_factory=list)
    origin_line_distance_m: float = 0.0
    track: FloatArray | None = None  # air: columns t, lon, lat, altitude_m
    first_round: int = -1  # index of its first round in the window's Rounds


@dataclass
class Rounds:
    """The rounds fired in one window (columns), each tied to its incident by index."""

    incident: IntArray
    launch_t: FloatArray
    launch_lon: FloatArray
    launch_lat: FloatArray
    impact_t: FloatArray
    impact_lon: FloatArray
    impact_lat: FloatArray

    def __len__(self) -> int:
        return len(self.incident)


@dataclass
class Blasts:
    """Launch and impact blasts of one window: what acoustic sensors can hear."""

    ids: list[str]
    incident: IntArray
    round_index: IntArray
    is_launch: npt.NDArray[np.bool_]
    t: FloatArray
    lon: FloatArray
    lat: FloatArray
    calibre_mm: FloatArray
    loudness: FloatArray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Window:
    start: float
    end: float
    incidents: list[Incident]
    rounds: Rounds
    blasts: Blasts


def _empty_rounds() -> Rounds:
    f = np.zeros(0)
    return Rounds(np.zeros(0, dtype=np.int64), f, f, f, f, f, f)


class EventGenerator:
    """Draws the true incidents of each window from the scenario's regimes."""

    def __init__(self, scenario: Scenario, agreement: Agreement, geo: Geography, path: LinePath) -> None:
        self.scenario = scenario
        self.agreement = agreement
        self.geo = geo
        self.path = path
        self.parties = list(geo.parties)
        self.start = scenario.start.timestamp()
        self.prefix = scenario.prefix()
        self._incident_n = 0
        self._blast_n = 0
        self.ranges_km = {w.code: (w.max_range_km or 10.0) for w in agreement.weapon_classes}
        for code, phys in scenario.weapons.items():
            if phys.max_range_km:
                self.ranges_km[code] = phys.max_range_km
        self.withdrawal = {
            z.weapon_class: z.distance_km for z in agreement.zones if isinstance(z, WithdrawalZone)
        }
        self.classifier = ProvisionClassifier(agreement, geo)

    # ---------------------------------------------------------------- ids
    def _incident_id(self) -> str:
        self._incident_n += 1
        return f"{self.prefix}-i{self._incident_n:07d}"

    def _blast_ids(self, n: int) -> list[str]:
        ids = [f"{self.prefix}-b{k:08d}" for k in range(self._blast_n + 1, self._blast_n + n + 1)]
        self._blast_n += n
        return ids

    # ---------------------------------------------------------------- geometry
    def _side(self, party: str) -> float:
        return 1.0 if party == self.geo.positive_party else -1.0

    def _sector(self, regime: Regime) -> tuple[float, float]:
        if regime.sector_km is None:
            return 0.0, self.path.length_m
        lo, hi = regime.sector_km
        return min(lo * 1000.0, self.path.length_m), min(hi * 1000.0, self.path.length_m)

    def _place(
        self,
        rng: np.random.Generator,
        sector: tuple[float, float],
        side: FloatArray,
        dist_m: FloatArray,
        want_party: IntArray,
    ) -> tuple[FloatArray, FloatArray, FloatArray, npt.NDArray[np.bool_]]:
        """Sites at `dist_m` from the line on `side`, redrawn along the line until they fall in
        the wanted party's area; returns s, lon, lat and which succeeded."""
        n = len(side)
        s = np.zeros(n)
        lon = np.zeros(n)
        lat = np.zeros(n)
        ok = np.zeros(n, dtype=bool)
        for _ in range(_RETRIES):
            todo = ~ok
            if not todo.any():
                break
            k = int(todo.sum())
            s_try = rng.uniform(sector[0], sector[1], k)
            x, y = self.path.offset(s_try, side[todo], dist_m[todo])
            lo, la = self.geo.unproject(x, y)
            good = self.geo.party_index(lo, la) == want_party[todo]
            idx = np.flatnonzero(todo)[good]
            s[idx], lon[idx], lat[idx] = s_try[good], lo[good], la[good]
            ok[idx] = True
        return s, lon, lat, ok

    # ---------------------------------------------------------------- windows
    def window(self, index: int, start: float, end: float) -> Window:
        incidents: list[Incident] = []
        round_parts: list[Rounds] = []
        for r_index, regime in enumerate(self.scenario.regimes):
            a = self.start + regime.start_hour * 3600.0
            b = self.scenario.end.timestamp() if regime.hours is None else a + regime.hours * 3600.0
            lo, hi = max(a, start), min(b, end)
            if hi <= lo:
                continue
            rng = np.random.default_rng([self.scenario.seed, index, r_index, 11])
            frac = (hi - lo) / 86_400.0
            self._fire(rng, regime, lo, hi, frac, incidents, round_parts)
            self._presences(rng, regime, lo, hi, frac, incidents)
            self._air(rng, regime, lo, hi, frac, incidents)
            self._interference(rng, regime, lo, hi, frac, incidents)
            self._advance(rng, regime, lo, hi, frac, incidents)
            self._movements(index, r_index, regime, lo, hi, frac, incidents)
        rounds = _concat_rounds(round_parts)
        self._killed(index, incidents)
        self.classifier.classify(incidents)
        return Window(start, end, incidents, rounds, self._blasts(incidents, rounds))

    def _killed(self, index: int, incidents: list[Incident]) -> None:
        """Which casualties died, per incident, so every report of it gives the same figures; on a
        stream of its own, so the incidents drawn for a seed are those drawn before it existed."""
        rng = np.random.default_rng([self.scenario.seed, index, 0, 12])
        for inc in incidents:
            if inc.casualties:
                share = self.scenario.weapon(inc.weapon_class).killed_share
                inc.killed = int(rng.binomial(inc.casualties, share))

    def _party_draw(self, rng: np.random.Generator, regime: Regime, n: int) -> IntArray:
        if regime.kind == "armed_attack":
            a = self._aggressor(regime)
            others = [i for i in range(len(self.parties)) if i != a]
            pick_other = rng.random(n) >= regime.aggressor_share
            return np.where(pick_other, rng.choice(others, n), a).astype(np.int64)
        weights = np.array(
            [
                (regime.party_weights or {}).get(p, 1.0 if not regime.party_weights else 0.0)
                for p in self.parties
            ],
            dtype=np.float64,
        )
        return rng.choice(len(self.parties), n, p=weights / weights.sum()).astype(np.int64)

    def _aggressor(self, regime: Regime) -> int:
        aggressor = regime.aggressor or next(p for p in self.parties if p != self.geo.positive_party)
        return self.parties.index(aggressor)

    def _other(self, party: IntArray) -> IntArray:
        # the party across the line: with two parties, the other one
        return np.where(
            party == self.geo.positive_index, 1 - self.geo.positive_index, self.geo.positive_index
        )

    def _fire(
        self,
        rng: np.random.Generator,
        regime: Regime,
        lo: float,
        hi: float,
        frac: float,
        incidents: list[Incident],
        round_parts: list[Rounds],
    ) -> None:
        rate = float(regime.value("fire_per_day"))  # type: ignore[arg-type]
        n = int(rng.poisson(rate * frac))
        if n == 0:
            return
        mix = regime.value("weapon_mix")
        assert isinstance(mix, dict)
        codes = list(mix)
        p = np.array([mix[c] for c in codes], dtype=np.float64)
        weapon = rng.choice(len(codes), n, p=p / p.sum())
        party = self._party_draw(rng, regime, n)
        side = np.array([self._side(self.parties[i]) for i in party])
        rng_km = np.array([self.ranges_km[codes[w]] for w in weapon])
        ofrac = np.array([self.scenario.weapon(codes[w]).origin_range_fraction for w in weapon])
        d_origin = rng.uniform(ofrac[:, 0], ofrac[:, 1]) * rng_km * 1000.0
        sector = self._sector(regime)
        s, olon, olat, ok = self._place(rng, sector, side, d_origin, party)
        # impact: towards the line and across it, within the weapon's range
        ifrac = np.array([self.scenario.weapon(codes[w]).impact_range_fraction for w in weapon])
        reach = rng.uniform(ifrac[:, 0], ifrac[:, 1]) * rng_km * 1000.0
        reach = np.maximum(reach, d_origin + rng.uniform(300.0, 1500.0, n))
        _, _, nx, ny = self.path.point_and_normal(s)
        heading = np.degrees(np.arctan2(-side * nx, -side * ny)) + rng.uniform(-25.0, 25.0, n)
        ilon, ilat = destination(olon, olat, heading, reach)
        victim = self._other(party)
        ok &= self.geo.party_index(ilon, ilat) == victim
        t0 = np.sort(rng.uniform(lo, hi, n))
        n_rounds_before = sum(len(r) for r in round_parts)
        for k in np.flatnonzero(ok):
            code = codes[weapon[k]]
            phys = self.scenario.weapon(code)
            single = rng.random() < phys.single_probability
            n_rounds = 1 if single else int(rng.integers(phys.rounds[0], phys.rounds[1] + 1))
            n_launchers = int(rng.integers(phys.launchers[0], phys.launchers[1] + 1))
            launcher_az = rng.uniform(0.0, 360.0, n_launchers)
            launcher_d = np.abs(rng.normal(0.0, phys.battery_spread_m, n_launchers))
            llon, llat = destination(
                np.full(n_launchers, olon[k]), np.full(n_launchers, olat[k]), launcher_az, launcher_d
            )
            # a launcher the spread would put across the line stands at the battery's centre
            astray = self.geo.party_index(llon, llat) != party[k]
            llon[astray], llat[astray] = olon[k], olat[k]
            which = np.arange(n_rounds) % n_launchers
            gaps = phys.interval_s * rng.uniform(0.6, 1.4, n_rounds)
            gaps[0] = 0.0
            launch_t = t0[k] + np.cumsum(gaps)
            scatter_az = rng.uniform(0.0, 360.0, n_rounds)
            scatter_d = np.abs(rng.normal(0.0, phys.dispersion_m, n_rounds)) * math.sqrt(2.0 / math.pi) * 1.25
            rlon, rlat = destination(
                np.full(n_rounds, ilon[k]), np.full(n_rounds, ilat[k]), scatter_az, scatter_d
            )
            if self.geo.party_index(float(rlon.mean()), float(rlat.mean())) != victim[k]:
                continue  # the dispersion put the centre of the impacts back across the line: drop it
            _, _, flight_m = geodesic(llon[which], llat[which], rlon, rlat)
            impact_t = launch_t + flight_m / phys.speed_ms
            first = n_rounds_before
            n_rounds_before += n_rounds
            round_parts.append(
                Rounds(
                    np.full(n_rounds, len(incidents), dtype=np.int64),
                    launch_t,
                    llon[which],
                    llat[which],
                    impact_t,
                    rlon,
                    rlat,
                )
            )
            casualties = int(rng.poisson(phys.casualties_mean * math.sqrt(n_rounds)))
            centre_lon, centre_lat = float(llon[which].mean()), float(llat[which].mean())
            if self.geo.party_index(centre_lon, centre_lat) != party[k]:
                centre_lon, centre_lat = float(olon[k]), float(olat[k])
            incidents.append(
                Incident(
                    id=self._incident_id(),
                    kind="fire",
                    party=self.parties[party[k]],
                    regime=regime.kind,
                    t0=float(launch_t[0]),
                    t1=float(max(launch_t[-1], impact_t.max())),
                    lon=float(rlon.mean()),
                    lat=float(rlat.mean()),
                    origin_lon=centre_lon,
                    origin_lat=centre_lat,
                    weapon_class=code,
                    rounds=n_rounds,
                    casualties=casualties,
                    victim=self.parties[victim[k]],
                    origin_line_distance_m=float(self.geo.signed_distance_m(centre_lon, centre_lat)),
                    first_round=first,
                )
            )

    def _presences(
        self,
        rng: np.random.Generator,
        regime: Regime,
        lo: float,
        hi: float,
        frac: float,
        incidents: list[Incident],
    ) -> None:
        classes = [c for c in self.withdrawal if c in self.ranges_km]
        if not classes:
            return
        for violating, key in ((True, "presence_violations_per_day"), (False, "compliant_presence_per_day")):
            n = int(rng.poisson(float(regime.value(key)) * frac))  # type: ignore[arg-type]
            if n == 0:
                continue
            party = self._party_draw(rng, regime, n)
            side = np.array([self._side(self.parties[i]) for i in party])
            cls = rng.choice(len(classes), n)
            zone_m = np.array([self.withdrawal[classes[c]] * 1000.0 for c in cls])
            f = rng.uniform(0.2, 0.95, n) if violating else rng.uniform(1.15, 1.8, n)
            self._standing(
                rng, regime, "presence", party, side, zone_m * f, (lo, hi), (4.0, 24.0), (1, 7),
                [classes[c] for c in cls], incidents,
            )  # fmt: skip

    def _air(
        self,
        rng: np.random.Generator,
        regime: Regime,
        lo: float,
        hi: float,
        frac: float,
        incidents: list[Incident],
    ) -> None:
        n = int(rng.poisson(float(regime.value("air_per_day")) * frac))  # type: ignore[arg-type]
        if n == 0:
            return
        airspace = [z for z in self.agreement.zones if isinstance(z, AirspaceZone)]
        width_m = max((z.half_width_km for z in airspace), default=15.0) * 1000.0
        party = self._party_draw(rng, regime, n)
        side = np.array([self._side(self.parties[i]) for i in party])
        crossing = rng.random(n) < 0.8
        start_d = rng.uniform(width_m + 10_000.0, width_m + 25_000.0, n)
        turn_d = np.where(
            crossing,
            rng.uniform(-8_000.0, width_m * 0.7, n),
            rng.uniform(width_m + 3_000.0, width_m + 8_000.0, n),
        )
        s, slon, slat, ok = self._place(rng, self._sector(regime), side, start_d, party)
        kinds = rng.choice(len(AIRCRAFT), n, p=AIRCRAFT_WEIGHTS)
        t0 = np.sort(rng.uniform(lo, hi, n))
        for k in np.flatnonzero(ok):
            ds = rng.uniform(-10_000.0, 10_000.0)
            tx, ty = self.path.offset(np.array([s[k] + ds]), np.array([side[k]]), np.array([turn_d[k]]))
            tlon, tlat = self.geo.unproject(tx, ty)
            aircraft = AIRCRAFT[kinds[k]]
            _, _, leg_m = geodesic(slon[k : k + 1], slat[k : k + 1], tlon, tlat)
            leg_s = float(leg_m[0]) / AIRCRAFT_SPEED_MS[aircraft]
            steps = max(2, int(leg_s / self.scenario.air_surveillance.interval_s))
            frac_out = np.linspace(0.0, 1.0, steps)
            path_f = np.concatenate([frac_out, frac_out[-2::-1]])
            tlon0, tlat0 = float(tlon[0]), float(tlat[0])
            plon = slon[k] + path_f * (tlon0 - slon[k])
            plat = slat[k] + path_f * (tlat0 - slat[k])
            times = t0[k] + np.arange(len(path_f)) * (leg_s / (steps - 1))
            alt_lo, alt_hi = AIRCRAFT_ALTITUDE_M[aircraft]
            alt = np.full(len(path_f), rng.uniform(alt_lo, alt_hi))
            incidents.append(
                Incident(
                    id=self._incident_id(),
                    kind="air",
                    party=self.parties[party[k]],
                    regime=regime.kind,
                    t0=float(times[0]),
                    t1=float(times[-1]),
                    lon=tlon0,
                    lat=tlat0,
                    origin_lon=float(slon[k]),
                    origin_lat=float(slat[k]),
                    detail=aircraft,
                    origin_line_distance_m=float(self.geo.signed_distance_m(slon[k], slat[k])),
                    track=np.column_stack([times, plon, plat, alt]),
                )
            )

    def _interference(
        self,
        rng: np.random.Generator,
        regime: Regime,
        lo: float,
        hi: float,
        frac: float,
        incidents: list[Incident],
    ) -> None:
        n = int(rng.poisson(float(regime.value("interference_per_day")) * frac))  # type: ignore[arg-type]
        if n == 0:
            return
        party = self._party_draw(rng, regime, n)
        side = np.array([self._side(self.parties[i]) for i in party])
        _, lon, lat, ok = self._place(rng, self._sector(regime), side, rng.uniform(500.0, 8_000.0, n), party)
        kinds = rng.choice(len(INTERFERENCE), n, p=INTERFERENCE_WEIGHTS)
        t0 = np.sort(rng.uniform(lo, hi, n))
        dist = self.geo.signed_distance_m(lon, lat)
        for k in np.flatnonzero(ok):
            incidents.append(
                Incident(
                    id=self._incident_id(),
                    kind="interference",
                    party=self.parties[party[k]],
                    regime=regime.kind,
                    t0=float(t0[k]),
                    t1=float(t0[k] + rng.uniform(60.0, 3600.0)),
                    lon=float(lon[k]),
                    lat=float(lat[k]),
                    origin_lon=float(lon[k]),
                    origin_lat=float(lat[k]),
                    detail=INTERFERENCE[kinds[k]],
                    origin_line_distance_m=float(dist[k]),
                )
            )

    def _advance(
        self,
        rng: np.random.Generator,
        regime: Regime,
        lo: float,
        hi: float,
        frac: float,
        incidents: list[Incident],
    ) -> None:
        n = int(rng.poisson(float(regime.value("advance_per_day")) * frac))  # type: ignore[arg-type]
        if n == 0:
            return
        a = self._aggressor(regime)
        party = np.full(n, a, dtype=np.int64)
        victim = self._other(party)
        side = np.array([self._side(self.parties[i]) for i in victim])
        _, lon, lat, ok = self._place(rng, self._sector(regime), side, rng.uniform(300.0, 4_000.0, n), victim)
        t0 = np.sort(rng.uniform(lo, hi, n))
        dist = self.geo.signed_distance_m(lon, lat)
        for k in np.flatnonzero(ok):
            incidents.append(
                Incident(
                    id=self._incident_id(),
                    kind="advance",
                    party=self.parties[a],
                    regime=regime.kind,
                    t0=float(t0[k]),
                    t1=float(t0[k] + rng.uniform(1.0, 6.0) * 3600.0),
                    lon=float(lon[k]),
                    lat=float(lat[k]),
                    origin_lon=float(lon[k]),
                    origin_lat=float(lat[k]),
                    weapon_class=self.scenario.advance_weapon_class,
                    count=int(rng.integers(3, 21)),
                    victim=self.parties[victim[k]],
                    origin_line_distance_m=float(dist[k]),
                )
            )

    def _movements(
        self,
        index: int,
        r_index: int,
        regime: Regime,
        lo: float,
        hi: float,
        frac: float,
        incidents: list[Incident],
    ) -> None:
        """Forces moving well behind their own line (8 to 35 km): no violation, so that a
        bulletin which calls every column on the move an advance loses precision. On a stream
        of their own, so the incidents drawn for a seed are those drawn before they existed."""
        rng = np.random.default_rng([self.scenario.seed, index, r_index, 13])
        n = int(rng.poisson(float(regime.value("rear_movement_per_day")) * frac))  # type: ignore[arg-type]
        if n == 0:
            return
        party = self._party_draw(rng, regime, n)
        side = np.array([self._side(self.parties[i]) for i in party])
        behind = rng.uniform(8_000.0, 35_000.0, n)
        self._standing(
            rng, regime, "movement", party, side, behind, (lo, hi), (1.0, 6.0), (3, 21),
            [self.scenario.advance_weapon_class] * n, incidents,
        )  # fmt: skip

    def _standing(
        self,
        rng: np.random.Generator,
        regime: Regime,
        kind: str,
        party: IntArray,
        side: FloatArray,
        from_line_m: FloatArray,
        window: tuple[float, float],
        hours: tuple[float, float],
        counts: tuple[int, int],
        weapon_classes: list[str],
        incidents: list[Incident],
    ) -> None:
        """Incidents that stay at one place a while (weapons in place, columns behind the line):
        placed `from_line_m` from the line on each party's side, starting within `window`,
        lasting `hours`, `counts` weapons (both ranges half-open); in the draw order the seeds
        were made with."""
        n = len(party)
        _, lon, lat, ok = self._place(rng, self._sector(regime), side, from_line_m, party)
        t0 = np.sort(rng.uniform(window[0], window[1], n))
        span_h = rng.uniform(hours[0], hours[1], n)
        number = rng.integers(counts[0], counts[1], n)
        dist = self.geo.signed_distance_m(lon, lat)
        for k in np.flatnonzero(ok):
            incidents.append(
                Incident(
                    id=self._incident_id(),
                    kind=kind,
                    party=self.parties[party[k]],
                    regime=regime.kind,
                    t0=float(t0[k]),
                    t1=float(t0[k] + span_h[k] * 3600.0),
                    lon=float(lon[k]),
                    lat=float(lat[k]),
                    origin_lon=float(lon[k]),
                    origin_lat=float(lat[k]),
                    weapon_class=weapon_classes[k],
                    count=int(number[k]),
                    origin_line_distance_m=float(dist[k]),
                )
            )

    def _blasts(self, incidents: list[Incident], rounds: Rounds) -> Blasts:
        if len(rounds) == 0:
            z = np.zeros(0)
            return Blasts(
                [],
                np.zeros(0, dtype=np.int64),
                np.zeros(0, dtype=np.int64),
                np.zeros(0, dtype=bool),
                z,
                z,
                z,
                z,
                z,
            )
        phys = [self.scenario.weapon(incidents[i].weapon_class) for i in rounds.incident]
        calibre = np.array([p.calibre_mm for p in phys])
        launch_loud = np.array([p.launch_loudness for p in phys])
        impact_loud = np.array([p.impact_loudness for p in phys])
        idx = np.arange(len(rounds))
        has_l, has_i = launch_loud > 0, impact_loud > 0
        round_index = np.concatenate([idx[has_l], idx[has_i]])
        is_launch = np.concatenate([np.ones(int(has_l.sum()), bool), np.zeros(int(has_i.sum()), bool)])
        t = np.concatenate([rounds.launch_t[has_l], rounds.impact_t[has_i]])
        order = np.lexsort((~is_launch, round_index, t))
        round_index, is_launch, t = round_index[order], is_launch[order], t[order]
        lon = np.where(is_launch, rounds.launch_lon[round_index], rounds.impact_lon[round_index])
        lat = np.where(is_launch, rounds.launch_lat[round_index], rounds.impact_lat[round_index])
        loud = np.where(is_launch, launch_loud[round_index], impact_loud[round_index])
        return Blasts(
            self._blast_ids(len(t)),
            rounds.incident[round_index],
            round_index,
            is_launch,
            t,
            lon,
            lat,
            calibre[round_index],
            loud,
        )


def _concat_rounds(parts: list[Rounds]) -> Rounds:
    if not parts:
        return _empty_rounds()
    return Rounds(*(np.concatenate([getattr(p, f) for p in parts]) for f in Rounds.__dataclass_fields__))


class ProvisionClassifier:
    """Which provisions of the agreement an incident breaches, from its kind and geometry.

    Rules by provision kind: cessation_of_fire — any fire; heavy_weapons_withdrawal — a weapon of
    a zone's class fired from, or present in, that zone; airspace — a prohibited aircraft inside
    a listed zone (below its ceiling); no_advance — a party's forces (weapons in place, an
    advance, a movement) on ground it does not hold; non_interference — any interference;
    buffer_zone — a firing position, weapons or forces inside a listed zone.
    """

    def __init__(self, agreement: Agreement, geo: Geography) -> None:
        self.agreement = agreement
        self.geo = geo
        self.zone_index = {zid: i for i, zid in enumerate(geo.zone_ids)}
        self.zones = {z.id: z for z in agreement.zones}

    def classify(self, incidents: list[Incident]) -> None:
        if not incidents:
            return
        lon = np.array([i.origin_lon if i.kind == "fire" else i.lon for i in incidents])
        lat = np.array([i.origin_lat if i.kind == "fire" else i.lat for i in incidents])
        inside = self.geo.zones_containing(lon, lat)
        ground = self.geo.party_index(lon, lat)
        parties = list(self.geo.parties)
        for k, inc in enumerate(incidents):
            across = (
                inc.kind in ("presence", "advance", "movement")
                and inc.party in parties
                and ground[k] >= 0
                and int(ground[k]) != parties.index(inc.party)
            )
            inc.provisions = [
                p.id for p in self.agreement.provisions if self._breaches(p, inc, inside[k], across)
            ]

    def _breaches(
        self, provision: Provision, inc: Incident, inside: npt.NDArray[np.bool_], across: bool = False
    ) -> bool:
        kind = provision.kind
        in_zone = [inside[self.zone_index[z]] for z in provision.zones if z in self.zone_index]
        if kind == ProvisionKind.CESSATION_OF_FIRE:
            return inc.kind == "fire"
        if kind == ProvisionKind.HEAVY_WEAPONS_WITHDRAWAL:
            if inc.kind not in ("fire", "presence"):
                return False
            return any(
                inside[self.zone_index[z]]
                for z in provision.zones
                if isinstance(self.zones.get(z), WithdrawalZone)
                and self.zones[z].weapon_class == inc.weapon_class  # type: ignore[union-attr]
            )
        if kind == ProvisionKind.AIRSPACE:
            return inc.kind == "air" and self._air_breach(provision.zones, inc)
        if kind == ProvisionKind.NO_ADVANCE:
            return across
        if kind == ProvisionKind.NON_INTERFERENCE:
            return inc.kind == "interference"
        if kind == ProvisionKind.BUFFER_ZONE:
            return inc.kind in ("fire", "presence", "advance", "movement") and any(in_zone)
        return False

    def _air_breach(self, zone_ids: list[str], inc: Incident) -> bool:
        assert inc.track is not None
        inside = self.geo.zones_containing(inc.track[:, 1], inc.track[:, 2])
        for z in zone_ids:
            zone = self.zones.get(z)
            if not isinstance(zone, AirspaceZone) or inc.detail not in zone.prohibited:
                continue
            below = inc.track[:, 3] < zone.ceiling_m if zone.ceiling_m else np.ones(len(inc.track), bool)
            if np.any(inside[:, self.zone_index[z]] & below):
                return True
        return False
