"""Attribution: the probability that an event's origin lies in each party's controlled area.

The origin is a distribution, not a point: a 2-D Gaussian (radar, located launch blasts, crossed
bearings), a ray (a crater's azimuth of origin over the weapon's range) or an arc (the hyperbola
of a burst two sensors alone heard). Its mass in each control polygon of the agreement version
in force is integrated by Monte Carlo with one fixed set of quasi-random draws (a scrambled
Sobol' sequence from SciPy, so the same event gives the same numbers on every run), counting
draws with the geography's vectorised point-in-polygon. An origin whose whole 6-sigma ellipse
lies in one area gets that party with probability 1 without sampling (most of them, far behind
the line). Draws falling in no area (sea, beyond a border) are left out of the normalisation; if
all do, the party is undetermined. No origin, no attribution: the event says "undetermined"
rather than guess from where it landed.

Who answers for what: fire and flights are attributed to whoever holds the ground they came
from; interference to whoever holds the ground it is on; weapons and forces (in place or moving)
to the party the monitors identified them as (`forces_party`: markings, insignia, unit), wherever
they stand, else to whoever holds the ground they are on. Forces are never presumed to be the
other side's because they stand near the line: a column moving behind one party's line is that
party's until someone identifies it otherwise. Where the place lies is kept (`Attribution.ground`)
for the no-advance provision: identified forces on ground their party does not hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import ndtri
from scipy.stats import qmc

from garant.geo.engine import Geography
from garant.verify.bursts import Arc
from garant.verify.evidence import Ray
from garant.verify.fusion import FusedEvent

FloatArray = npt.NDArray[np.float64]
N_DRAWS = 1024
CERTAIN_SIGMAS = 6.0
FORCES = ("presence", "advance")  # weapons or forces seen in place, forces seen moving


@dataclass
class Attribution:
    """Probability per party (sums to 1), or None when undetermined; and the draws used."""

    probs: dict[str, float] | None
    draws_x: FloatArray | None = None
    draws_y: FloatArray | None = None
    reason: str = ""
    # where the place or origin lies: probability per party's area (None: in no area, or none
    # drawn); equals `probs` but for identified forces, which answer to their own party
    ground: dict[str, float] | None = None


class Attributor:
    def __init__(self, geo: Geography, n_draws: int = N_DRAWS) -> None:
        self.geo = geo
        u = qmc.Sobol(d=2, scramble=True, seed=20260106).random(n_draws)
        self._z = ndtri(np.clip(u, 1e-9, 1 - 1e-9))  # standard normal pairs
        self._u = u

    def _source(self, ev: FusedEvent) -> tuple[float, float, FloatArray] | Ray | Arc | None:
        """What the event is attributed by: the place it is on (weapons, interference, forces
        moving; a flight with no known start), else its origin (a Gaussian or a ray)."""
        if ev.kind in ("presence", "interference", "advance") or (ev.kind == "air" and ev.origin is None):
            return (ev.x, ev.y, ev.cov) if math.isfinite(ev.x) else None
        if ev.origin_law is not None:
            return ev.origin_law
        return ev.origin if ev.origin is not None else ev.ray

    def _draws(self, source: tuple[float, float, FloatArray] | Ray | Arc) -> tuple[FloatArray, FloatArray]:
        if isinstance(source, Ray):
            return self._ray(source)
        if isinstance(source, Arc):
            return source.draws(self._u[:, 0], self._z[:, 1])
        return self._gaussian(*source)

    def _gaussian(self, x: float, y: float, cov: FloatArray) -> tuple[FloatArray, FloatArray]:
        w, v = np.linalg.eigh(cov)
        a = v * np.sqrt(np.maximum(w, 0.0))
        d = self._z @ a.T
        return x + d[:, 0], y + d[:, 1]

    def _ray(self, r: Ray) -> tuple[FloatArray, FloatArray]:
        az = np.radians(r.azimuth_deg + r.sigma_deg * self._z[:, 0])
        dist = r.distances(self._u[:, 1])
        return r.x + dist * np.sin(az), r.y + dist * np.cos(az)

    def attribute(self, events: list[FusedEvent]) -> list[Attribution]:
        out: list[Attribution] = []
        parties = self.geo.parties
        sources = [self._source(ev) for ev in events]
        # quick path: an origin whose whole ellipse lies far from the line (rays always sample)
        gauss = [(src[0], src[1]) if isinstance(src, tuple) else (math.nan, math.nan) for src in sources]
        cx = np.array([g[0] for g in gauss])
        cy = np.array([g[1] for g in gauss])
        ok = np.isfinite(cx)
        lon, lat = self.geo.unproject(np.where(ok, cx, 0.0), np.where(ok, cy, 0.0))
        dist = np.where(ok, self.geo.distance_m(lon, lat), np.nan)
        pidx = self.geo.party_index(lon, lat)
        for k, (ev, src) in enumerate(zip(events, sources, strict=True)):
            if src is None:
                out.append(Attribution(None, reason="no evidence of where it came from"))
                continue
            draws = self._draws(src)
            spread = (
                math.sqrt(float(np.max(np.linalg.eigvalsh(src[2])))) if isinstance(src, tuple) else math.inf
            )
            if dist[k] > CERTAIN_SIGMAS * spread and pidx[k] >= 0:
                p = {c: 0.0 for c in parties}
                p[parties[int(pidx[k])]] = 1.0
                out.append(self._forces(ev, Attribution(p, *draws, ground=p)))
                continue
            dl, da = self.geo.unproject(*draws)
            idx = self.geo.party_index(dl, da)
            counts = np.bincount(idx[idx >= 0].astype(np.int64), minlength=len(parties))
            if counts.sum() == 0:
                where = "the place" if ev.kind in FORCES else "the origin"
                out.append(
                    self._forces(ev, Attribution(None, *draws, reason=f"{where} lies in no party's area"))
                )
                continue
            probs = counts / counts.sum()
            p = {c: float(probs[i]) for i, c in enumerate(parties)}
            out.append(self._forces(ev, Attribution(p, *draws, ground=p)))
        return out

    def _forces(self, ev: FusedEvent, a: Attribution) -> Attribution:
        """Weapons and forces answer to the party they were identified as, wherever they stand
        (whose forces they are took the position). Unidentified, they answer to the ground they
        are on, and nobody is presumed to have advanced: the record says so."""
        if ev.kind not in FORCES:
            return a
        party = ev.forces_party()
        if party is None or party not in self.geo.parties:
            if ev.kind != "advance":
                return a
            why = (
                "forces not identified"
                if party is None
                else f"forces identified as {party}, not a party of this agreement version"
            )
            note = f"{why}: attributed to the ground they are on; no advance presumed"
            reason = f"{a.reason}; {note}" if a.reason else note
            return Attribution(a.probs, a.draws_x, a.draws_y, reason, a.ground)
        p = {c: 0.0 for c in self.geo.parties}
        p[party] = 1.0
        return Attribution(p, a.draws_x, a.draws_y, ground=a.ground)


def top_party(probs: dict[str, float] | None) -> tuple[str | None, float | None]:
    """The most probable party and its probability (ties: the later code), or (None, None)."""
    if not probs:
        return None, None
    return max(probs.items(), key=lambda kv: (kv[1], kv[0]))
