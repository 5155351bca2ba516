"""One event rebuilt from the members an analyst fixed, by the pipeline's own code.

After a merge, a split, a relocation or a patrol's reports joining an event, the event must be
judged again as the pipeline would judge it: fused, attributed, classified at its place and
origin, graded by who reported it. The analyst, not the engine, decided what belongs together,
so where fusion would make several events of the members they are forced into one (their
places and origins combined with fusion's own information-weighted mean, their rounds added);
an analyst's place, when one was given, replaces the fused place before attribution and the
zone checks. Pure like the pipeline: no database here.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from garant.domain.agreement import Agreement
from garant.geo.engine import Geography
from garant.verify.attribution import Attributor
from garant.verify.bursts import BurstParams
from garant.verify.classify import Classifier
from garant.verify.evidence import (
    AcousticEvents,
    Projector,
    burst_evidence,
    cov_from_ellipse95,
    from_observation,
)
from garant.verify.fusion import BARRAGE_SIGMA_M, FusedEvent, fuse, fuse_gaussians
from garant.verify.pipeline import VerifiedEvent, verified_event

Place = tuple[float, float, tuple[float, float, float] | None]  # lon, lat, 95% ellipse (m, m, deg)


class NoEvent(ValueError):
    """The members left make no event (a few arrivals no burst can be located from, alone)."""


def rebuild(
    reports: list[dict[str, Any]],
    acoustic: AcousticEvents,
    agreement: Agreement,
    geo: Geography,
    place: Place | None = None,
    bursts: BurstParams | None = None,
) -> VerifiedEvent:
    """The event made of exactly these reports (accepted observations with their `id`; acoustic
    arrivals among them are a burst's, located again from them) and located blasts. `place` is an
    analyst's (lon, lat and, if given, the ellipse): it stands instead of the fused place."""
    proj = Projector(geo)
    ranges = {w.code: w.max_range_km * 1000.0 for w in agreement.weapon_classes if w.max_range_km}
    light = [w.max_range_km * 1000.0 for w in agreement.weapon_classes if w.max_range_km and not w.heavy]
    arrivals = [o for o in reports if o["kind"] == "acoustic_detection"]
    evidence = [
        from_observation(i, o, proj, ranges)
        for i, o in enumerate(reports)
        if o["kind"] != "acoustic_detection"
    ]
    evidence += burst_evidence(arrivals, proj, bursts, min(light, default=2_000.0))
    ax, ay = geo.project(acoustic.lon, acoustic.lat)
    axy = (np.asarray(ax, dtype=np.float64), np.asarray(ay, dtype=np.float64))
    parts = fuse(evidence, acoustic, axy, geo.party_index(acoustic.lon, acoustic.lat), ranges=ranges)
    ev = _one(parts, evidence, acoustic, axy)
    if place is not None:
        ev.x, ev.y = proj.xy(place[0], place[1])
        if place[2] is not None:
            ev.cov = cov_from_ellipse95(*place[2])
        ev.placed_at_origin = False
    (attr,) = Attributor(geo).attribute([ev])
    classifier = Classifier(agreement, geo)
    breaches = classifier.classify(ev, attr)
    return verified_event(ev, attr, breaches, geo, acoustic, agreement.key, classifier.weapons)


def _one(
    parts: list[FusedEvent],
    evidence: list[Any],
    acoustic: AcousticEvents,
    axy: tuple[Any, Any],
) -> FusedEvent:
    """The fused events of the members as one: itself when fusion made one of everything."""
    rows = {r for p in parts for r in p.acoustic}
    if len(parts) == 1 and len(parts[0].members) == len(evidence) and len(rows) == len(acoustic):
        return parts[0]
    stray = [r for r in range(len(acoustic)) if r not in rows]  # blasts fusion left out
    if not parts and not stray:
        raise NoEvent("these members make no event: too few acoustic arrivals to locate, and nothing else")
    kinds = Counter(p.kind for p in parts if p.kind != "allegation")
    kind = kinds.most_common(1)[0][0] if kinds else ("fire" if stray or not parts else parts[0].kind)
    placed = [(p.x, p.y, p.cov) for p in parts if math.isfinite(p.x) and not p.placed_at_origin]
    if not placed:
        placed = [(p.x, p.y, p.cov) for p in parts if math.isfinite(p.x)]
    placed += [
        (
            float(axy[0][r]),
            float(axy[1][r]),
            cov_from_ellipse95(acoustic.semi_major_m[r], acoustic.semi_minor_m[r], acoustic.azimuth_deg[r]),
        )
        for r in stray
    ]
    x, y, cov = fuse_gaussians(placed, BARRAGE_SIGMA_M) if placed else (math.nan, math.nan, np.eye(2))
    origins = [p for p in parts if p.origin is not None]
    rays = [p.ray for p in parts if p.ray is not None]
    times = [p.t_start for p in parts] + [float(acoustic.t[r]) for r in stray]
    ends = [p.t_end for p in parts] + [float(acoustic.t[r]) for r in stray]
    return FusedEvent(
        kind=kind,
        t_start=min(times),
        t_end=max(ends),
        x=x,
        y=y,
        cov=cov,
        placed_at_origin=all(p.placed_at_origin for p in parts) and bool(origins) and not stray,
        origin=fuse_gaussians(p.origin for p in origins if p.origin is not None) if origins else None,
        origin_law=origins[0].origin_law if len(origins) == 1 else None,
        ray=None if origins or not rays else min(rays, key=lambda r: r.sigma_deg),
        members=[m for p in parts for m in p.members],
        at_impact={i for p in parts for i in p.at_impact},
        acoustic=sorted(rows | set(stray)),
        launch_blasts=sum(p.launch_blasts for p in parts),
        impact_blasts=sum(p.impact_blasts for p in parts),
        rounds=sum(p.rounds for p in parts) + len(stray),
    )
