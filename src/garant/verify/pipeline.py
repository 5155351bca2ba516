"""The verification pipeline, pure: observations and located blasts in, graded events out.

associate (the acoustic engine, run before) -> fuse -> locate origin -> attribute -> classify
against the agreement -> grade. Deterministic: the same input gives the same events in the same
order. No database and no files here: the server feeds it from the store, `garant verify`
from files, the benchmarks from the simulator.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from garant.domain.agreement import Agreement
from garant.geo.engine import Geography
from garant.verify.acoustic import ellipse_95
from garant.verify.attribution import Attribution, Attributor
from garant.verify.bursts import BurstParams
from garant.verify.classify import Breach, Classifier, severity
from garant.verify.evidence import AcousticEvents, Evidence, Projector, burst_evidence, from_observation
from garant.verify.fusion import FusedEvent, fuse
from garant.verify.grading import Grade, grade
from garant.verify.weapons import WeaponRules

FloatArray = npt.NDArray[np.float64]


@dataclass
class VerifiedEvent:
    """One event of the automatic bulletin, with everything the analysts review."""

    kind: str
    t_start: float
    t_end: float
    lon: float
    lat: float
    ellipse: tuple[float, float, float]  # 95%: semi-major, semi-minor (m), azimuth (deg)
    origin_lon: float
    origin_lat: float
    origin_ellipse: tuple[float, float, float] | None
    placed_at_origin: bool  # (lon, lat) is the origin: where the rounds fell is unknown
    attribution: Attribution
    breaches: list[Breach]
    grade: Grade
    severity: float
    weapon_class: str | None
    rounds: int
    casualties: int  # killed + injured, the largest figures any report (not an allegation) gives
    killed: int
    casualties_claimed: int | None  # the most an allegation joined to it claims
    observation_ids: list[str]
    acoustic_ids: list[str]
    agreement_key: str


def _ellipse(cov: FloatArray) -> tuple[float, float, float]:
    a, b, az = ellipse_95(np.array([cov[0, 0]]), np.array([cov[0, 1]]), np.array([cov[1, 1]]))
    return float(a[0]), float(b[0]), float(az[0])


def _lonlat(geo: Geography, x: float, y: float) -> tuple[float, float]:
    if not math.isfinite(x):
        return math.nan, math.nan
    lon, lat = geo.unproject(x, y)
    return float(lon), float(lat)


def run_pipeline(
    observations: Iterable[dict[str, Any]],
    acoustic: AcousticEvents,
    agreement: Agreement,
    geo: Geography | None = None,
    progress: Callable[[str], None] | None = None,
    loose_detections: list[dict[str, Any]] | None = None,
    bursts: BurstParams | None = None,
    detections_of: Callable[[list[str]], list[dict[str, Any]]] | None = None,
    later_versions: Sequence[Agreement] = (),
) -> list[VerifiedEvent]:
    """Build the automatic bulletin. `observations` are accepted observations (their JSON, with
    an `id`, else their `client_id`, naming them); acoustic detections among them are left to
    the acoustic engine, whose located blasts come in `acoustic`. `loose_detections` are the
    acoustic detections that no located blast explains: bursts of fire are located from them,
    and from the arrivals of the located blasts that make no fire event, which `detections_of`
    fetches by id (without it, from the loose arrivals alone).

    `agreement` is the version in force when the observations begin; `later_versions` are
    those that enter into force while they run, in order. Fusion works in `agreement`'s plane
    with its weapon ranges; each event is then attributed and classified under the version in
    force at its start, in that same plane, and names that version."""
    geo = geo or Geography.from_agreement(agreement)
    proj = Projector(geo)
    ranges = {w.code: w.max_range_km * 1000.0 for w in agreement.weapon_classes if w.max_range_km}
    say = progress or (lambda _s: None)
    evidence: list[Evidence] = [
        from_observation(i, o, proj, ranges)
        for i, o in enumerate(observations)
        if o["kind"] != "acoustic_detection"
    ]
    light = [w.max_range_km * 1000.0 for w in agreement.weapon_classes if w.max_range_km and not w.heavy]
    reach = min(light, default=2_000.0)
    located: list[Evidence] = []

    def locate(stray_rows: list[int]) -> list[Evidence]:
        owner = {d: r for r in stray_rows for d in acoustic.detections.get(acoustic.ids[r], [])}
        extra = detections_of(sorted(owner)) if detections_of is not None and owner else []
        found = burst_evidence([*(loose_detections or []), *extra], proj, bursts, reach)
        for e in found:  # a burst takes a stray blast whole, as the fire event's part
            ids = e.extra["observation_ids"]
            rows = sorted({owner[i] for i in ids if i in owner})
            if rows:
                e.extra["observation_ids"] = [i for i in ids if i not in owner]
                e.extra["blast_rows"] = rows
        located.extend(found)
        return found

    say(f"{len(evidence)} reports, {len(acoustic)} located blasts")
    ax, ay = geo.project(acoustic.lon, acoustic.lat)
    aparty = geo.party_index(acoustic.lon, acoustic.lat)
    events = fuse(evidence, acoustic, (np.asarray(ax), np.asarray(ay)), aparty, bursts=locate, ranges=ranges)
    say(f"{len(events)} fused events, {len(located)} bursts located")
    versions = [agreement, *later_versions]
    starts = [v.entry_into_force.timestamp() for v in versions]
    which = [max(bisect.bisect_right(starts, ev.t_start) - 1, 0) for ev in events]
    out: list[VerifiedEvent | None] = [None] * len(events)
    for k, version in enumerate(versions):
        rows = [i for i, w in enumerate(which) if w == k]
        if not rows:
            continue
        vgeo = geo if k == 0 else Geography.of(version, geo.crs)  # on the first version's plane
        group = [events[i] for i in rows]
        classifier = Classifier(version, vgeo)
        for i, ev, attr in zip(rows, group, Attributor(vgeo).attribute(group), strict=True):
            out[i] = verified_event(
                ev, attr, classifier.classify(ev, attr), geo, acoustic, version.key, classifier.weapons
            )
    return [v for v in out if v is not None]


def verified_event(
    ev: FusedEvent,
    attr: Attribution,
    breaches: list[Breach],
    geo: Geography,
    acoustic: AcousticEvents,
    key: str,
    weapons: WeaponRules,
) -> VerifiedEvent:
    """The bulletin's event from a fused event, its attribution and the provisions it breaches:
    place and 95% ellipses (impact, or the origin where nobody saw the rounds land) back in
    lon/lat, grade, severity, weapon class, casualties, and the ids of its reports and blasts.
    Shared by the pipeline and by `garant.verify.rebuild`, so an analyst's rebuilt event has the
    pipeline's shape. `weapons`: the agreement version's rules on weapon classes; `key`: its key."""
    x, y = (
        (ev.x, ev.y)
        if math.isfinite(ev.x)
        else (ev.origin[0], ev.origin[1])
        if ev.origin
        else (math.nan, math.nan)
    )
    lon, lat = _lonlat(geo, x, y)
    olon, olat = _lonlat(geo, ev.origin[0], ev.origin[1]) if ev.origin is not None else (math.nan, math.nan)
    oell = _ellipse(ev.origin[2]) if ev.origin is not None else None
    wclass = ev.weapon_class(weapons)
    return VerifiedEvent(
        kind=ev.kind,
        t_start=ev.t_start,
        t_end=ev.t_end,
        lon=float(lon),
        lat=float(lat),
        ellipse=_ellipse(ev.cov),
        origin_lon=float(olon),
        origin_lat=float(olat),
        origin_ellipse=oell,
        placed_at_origin=ev.placed_at_origin or (not math.isfinite(ev.x) and ev.origin is not None),
        attribution=attr,
        breaches=breaches,
        grade=grade(ev),
        severity=severity(ev, wclass in weapons.heavy, breaches),
        weapon_class=wclass,
        rounds=ev.rounds,
        casualties=ev.casualties(),
        killed=ev.killed(),
        casualties_claimed=ev.casualties_claimed(),
        observation_ids=[i for m in ev.members for i in m.extra.get("observation_ids", [m.obs_id])],
        acoustic_ids=[acoustic.ids[i] for i in ev.acoustic],
        agreement_key=key,
    )
