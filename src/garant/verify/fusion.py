"""Fusion: evidence of every kind -> events, one per physical occurrence.

Why by hand: no library fuses a ceasefire's mixed reports (radar tracks, located blasts,
bearings from posts, craters, videos, complaints); the neighbour searches are SciPy's cKDTree
and the grouping its connected components, so nothing here compares all pairs.

Fire, in four steps:
1. **Radar tracks** of one firing position within a couple of minutes are one fire event (one
   battery's barrage): its origin is the information-weighted mean of the tracks' origins, with
   the battery's spread added, and its impact the mean of theirs.
2. **Located blasts** (the acoustic engine's events) close in space and time form blast
   groups. A group at a radar event's origin while it fires is its launch; one at its impact
   after it fired is its impact.
3. Groups no radar saw are paired **launch to impact** the way counter-battery crews pair
   shots and splashes: the impact group starts after the launch group by a flight time a
   projectile can have (`FLIGHT_SPEED_MS`), lies on the other party's side within range, and
   the rhythm of its blasts repeats the launch's. A pair gives an event with an origin; a group
   left alone gives an event located where it was heard, with no origin (attribution then says
   "undetermined"). Fewer than six blasts and nothing else are a stray, left out, unless a post's
   sighting or a crater confirms the round at the end it names (`_confirmable`).
4. Every other report (bursts of small-arms fire located from their arrivals' rhythm,
   sightings, craters, OSINT, allegations) joins the fire event it is
   consistent with: its place within the joint uncertainty (a chi-square gate on the two
   covariances) and its time window overlapping (a burst's, timed to the second, only while
   the event lasts). Reports that join none are grouped with each other the same way; two
   posts' bearings on one barrage so make one event located where the bearings cross (the
   information-weighted mean of two long, thin Gaussians). Allegations are grouped last, each
   joining the event its place and time fit best.

Weapons seen in place (moving forces apart), flights and interference are grouped by kind and
key (a flight's aircraft type, an interference's type; weapons in place by site alone, whatever
class each report names), time, and place as near as both reports' stated uncertainties and
the kind's spread allow (a chi-square gate, `_cluster_simple`); whose forces they are is what
the reports that name a party agree on (`FusedEvent.forces_party`), and if they disagree,
nobody's; their class is the reports' vote (`FusedEvent.weapon_class`). Allegations never move
an event's position, time or origin: they are leads, attached for the analysts and for tasking.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from garant.verify._kernels import CHI2_95
from garant.verify.acoustic import semi_major_95
from garant.verify.bursts import Arc
from garant.verify.evidence import (
    SIGMA_PER_95,
    AcousticEvents,
    Evidence,
    Ray,
    cov_from_ellipse95,
    cov_from_radius95,
)
from garant.verify.weapons import WeaponRules

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Place = tuple[float, float, FloatArray]  # x, y and covariance

GATE_CHI2 = 13.8  # 99.9% of a 2-D normal: a report outside is not the same occurrence
RADAR_ORIGIN_M = 1_500.0  # tracks of one battery: launchers spread a few hundred metres
BATTERY_SIGMA_M = 200.0  # spread between two launchers of one battery
_BATTERY = np.eye(2) * BATTERY_SIGMA_M**2
RADAR_GAP_S = 120.0
BLAST_GROUP_M = 1_200.0
BLAST_GAP_S = 60.0
LINK_M = 2_500.0  # a blast group this close to a radar event's origin or impact is its own
FLIGHT_SPEED_MS = (150.0, 1_100.0)  # mean speeds of tube and rocket artillery projectiles
MAX_FLIGHT_S = 400.0
MAX_RANGE_M = 100_000.0
BARRAGE_SIGMA_M = 300.0  # spread of a barrage's impacts around their mean
FIRE_WINDOW_S = (120.0, 600.0)  # a report may precede a fire event's first blast, or follow it
SALVO_INTERVAL_S = 1.0  # rounds this close (median) are a salvo: its impacts ripple like a burst
BURST_SLACK_S = 60.0  # beyond the stated windows, between a burst and the reports it may join
UNPLACED_RADIUS_M = 10_000.0  # a report with no bearing: within earshot of the post
MIN_ACOUSTIC_ONLY_BLASTS = 6  # fewer located blasts, with no other report, make no fire event
STRAY_PLACE_M = 1_000.0  # a stray's ends located this well (95% semi-major) at most, to be confirmed
CONFIRM_CHI2 = 5.99  # 95%: a stray is more often false than real, a report confirming it fits it well
# 95%: weapons in place, forces moving, flights and interference of one kind, key and time are
# one occurrence only if their places fit each other this well (the kind's spread included)
SAME_KIND_CHI2 = CHI2_95**2


@dataclass
class FusedEvent:
    """One occurrence and everything said about it."""

    kind: str  # fire | presence | advance | air | interference | allegation
    t_start: float
    t_end: float
    x: float  # where it happened (impact centre, position); NaN if unknown
    y: float
    cov: FloatArray
    # nobody saw where the rounds fell: the event is placed at its origin (`_finish`), and its
    # place is where the fire came from, not an impact
    placed_at_origin: bool = False
    origin: tuple[float, float, FloatArray] | None = None
    origin_law: Ray | Arc | None = None  # where the origin rests on one post's band or one hyperbola
    ray: Ray | None = None
    members: list[Evidence] = field(default_factory=list)
    # reports that joined at the impact: an origin they state is where rounds fell (a salvo's
    # impacts heard as a burst; a post that took impacts for a launch), never the event's origin
    at_impact: set[str] = field(default_factory=set)
    acoustic: list[int] = field(default_factory=list)  # rows of AcousticEvents
    launch_blasts: int = 0
    impact_blasts: int = 0
    rounds: int = 0

    def forces_party(self) -> str | None:
        """Whose forces (weapons seen, forces moving): the party that the reports naming one (not
        allegations) agree on; None if none names one or they disagree: not identified."""
        named = {m.extra.get("forces_party") for m in self.members if m.kind != "allegation"}
        named.discard(None)
        return str(next(iter(named))) if len(named) == 1 else None

    def weapon_class(self, rules: WeaponRules) -> str | None:
        """The reports' vote (a crater's counts twice). Where the fire is known only as heard or
        seen at an automatic weapon's cadence (a burst, `_automatic`), a heavy class is not
        believed: no gun of the withdrawal lists fires several rounds a second, and observers
        mistake one for another.
        A rocket launcher's ripple does, and is tracked by radar or heard launching and landing
        (a launch group paired with its impacts): with those, a burst is the ripple's sound and
        the reports' heavy class stands. A few rifle shots located as blasts are neither.
        An even vote goes to the class withdrawn farther (`WeaponRules`)."""
        ripple = (self.launch_blasts > 0 and self.impact_blasts > 0) or any(
            m.kind == "radar_track" for m in self.members
        )
        automatic = not ripple and any(_automatic(m) for m in self.members)
        votes: Counter[str] = Counter()
        for m in self.members:
            believed = not (automatic and m.weapon_class in rules.heavy)
            if m.weapon_class and m.kind != "allegation" and believed:
                votes[m.weapon_class] += 2 if m.kind == "crater" else 1
        if not votes:
            return None  # an allegation's claim of a weapon does not classify
        return max(votes, key=lambda c: (votes[c], rules.rank(c)))

    def killed(self) -> int:
        """The largest count any report gives: reports of one occurrence count the same dead,
        so they are never summed. An allegation's claim is not a count (see `casualties_claimed`)."""
        return max((m.killed or 0 for m in self.members if m.kind != "allegation"), default=0)

    def injured(self) -> int:
        return max((m.injured or 0 for m in self.members if m.kind != "allegation"), default=0)

    def casualties(self) -> int:
        return self.killed() + self.injured()

    def casualties_claimed(self) -> int | None:
        """The most any allegation joined to it claims (None: no claim), for the analysts."""
        return max((m.claimed for m in self.members if m.claimed is not None), default=None)


def _components(n: int, pairs: IntArray) -> IntArray:
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if len(pairs) == 0:
        return np.arange(n, dtype=np.int64)
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(g, directed=False)
    return np.asarray(labels, dtype=np.int64)


def _groups(labels: IntArray) -> list[IntArray]:
    if len(labels) == 0:
        return []
    order = np.argsort(labels, kind="stable")
    cuts = np.flatnonzero(np.diff(labels[order])) + 1
    return [np.asarray(g) for g in np.split(order, cuts)]


def _space_time_groups(
    x: FloatArray,
    y: FloatArray,
    t: FloatArray,
    radius_m: float,
    gap_s: float,
    compatible: Callable[[IntArray], npt.NDArray[np.bool_]] | None = None,
    reach: FloatArray | None = None,
) -> list[IntArray]:
    """Connected components of points within `radius_m` and `gap_s` of each other (scaled so one
    ball holds both), and, where given, `compatible` (which of the pairs, rows of two indices,
    may be one thing). `reach` (m, one per point) replaces `radius_m` in space where points
    differ in how far a partner may lie: a pair is a candidate within the larger of its two,
    so one vague point widens only its own search."""
    pts = np.column_stack([x, y, (t - (t.min() if len(t) else 0.0)) * (radius_m / gap_s)])
    if not len(t):
        pairs = np.zeros((0, 2), dtype=np.int64)
    elif reach is None:
        pairs = cKDTree(pts).query_pairs(radius_m * math.sqrt(2.0), output_type="ndarray")
    else:
        # within the larger reach in space and gap_s in time: within its ball in the scaled 3-D
        hits = cKDTree(pts).query_ball_point(pts, np.hypot(reach, radius_m))
        a = np.repeat(np.arange(len(t), dtype=np.int64), [len(h) for h in hits])
        b = np.concatenate([np.asarray(h, dtype=np.int64) for h in hits])
        pairs = np.unique(np.column_stack([np.minimum(a, b), np.maximum(a, b)])[a != b], axis=0)
    if len(pairs):
        d = np.hypot(x[pairs[:, 0]] - x[pairs[:, 1]], y[pairs[:, 0]] - y[pairs[:, 1]])
        dt = np.abs(t[pairs[:, 0]] - t[pairs[:, 1]])
        limit = radius_m if reach is None else np.maximum(reach[pairs[:, 0]], reach[pairs[:, 1]])
        pairs = pairs[(d <= limit) & (dt <= gap_s)]
        if compatible is not None and len(pairs):
            pairs = pairs[compatible(pairs)]
    return _groups(_components(len(t), np.asarray(pairs, dtype=np.int64)))


def fuse_gaussians(
    items: Iterable[tuple[float, float, FloatArray]], spread_m: float = 0.0
) -> tuple[float, float, FloatArray]:
    """Information-weighted mean of 2-D Gaussians, plus a spread of the things averaged."""
    info = np.zeros((2, 2))
    vec = np.zeros(2)
    pts = []
    for x, y, c in items:
        w = np.linalg.inv(c + np.eye(2) * 1.0)
        info += w
        vec += w @ np.array([x, y])
        pts.append((x, y))
    cov = np.linalg.inv(info)
    mean = cov @ vec
    if spread_m > 0 and len(pts) > 1:
        p = np.array(pts)
        scatter = np.cov(p.T) if len(p) > 2 else np.eye(2) * spread_m**2
        cov = cov + scatter / len(p)
    return float(mean[0]), float(mean[1]), np.asarray(cov, dtype=np.float64)


@dataclass
class _BlastGroup:
    rows: IntArray
    x: float
    y: float
    cov: FloatArray
    t0: float
    t1: float
    times: FloatArray
    party: int
    used: bool = False


def fuse(
    evidence: list[Evidence],
    acoustic: AcousticEvents,
    acoustic_xy: tuple[FloatArray, FloatArray],
    acoustic_party: npt.NDArray[np.int16],
    bursts: Callable[[list[int]], list[Evidence]] | None = None,
    ranges: dict[str, float] | None = None,
) -> list[FusedEvent]:
    """All evidence -> fused events. `acoustic_xy` are the blasts' projected positions and
    `acoustic_party` the control area each lies in (index, -1 for none). `bursts`, given the
    rows of the located blasts that make no fire event (strays), locates the bursts among the
    loose arrivals and the strays' own: a rifleman's shots heard by four sensors are located one
    by one, and the rest of his burst is left without them. A burst that uses a stray's arrivals
    takes the stray whole (`extra["blast_rows"]`). `ranges` (m, by weapon class) bound how far a
    round confirmed by a report of its class flew (`_confirmable`)."""
    by_kind: dict[str, list[Evidence]] = {}
    for e in evidence:
        by_kind.setdefault(e.kind, []).append(e)
    events = _radar_events(by_kind.get("radar_track", []))
    groups = _blast_groups(acoustic, acoustic_xy, acoustic_party)
    _link_groups(events, groups)
    events += _paired_groups(groups)
    # a few blasts and nothing else is, in the simulated regimes, a false or stray event far
    # more often than an incident: such events stay in the acoustic bulletin, out of this one (a
    # report is not tied to them either: see `_attach`)
    strays = [ev for ev in events if not ev.members and len(ev.acoustic) < MIN_ACOUSTIC_ONLY_BLASTS]
    found_bursts = bursts(sorted(r for ev in strays for r in ev.acoustic)) if bursts is not None else []
    by_kind["acoustic_burst"] = by_kind.get("acoustic_burst", []) + found_bursts
    reports = [
        e for k in ("acoustic_burst", "crater", "sighting", "osint", "allegation") for e in by_kind.get(k, [])
    ]
    reports.sort(key=lambda e: (e.t0, e.obs_id))
    leftovers = _attach(events, reports, acoustic.t, _confirmable(strays, found_bursts), ranges)
    events = [ev for ev in events if ev.members or len(ev.acoustic) >= MIN_ACOUSTIC_ONLY_BLASTS]
    events += _report_events(leftovers)
    taken: set[int] = set()
    for ev in events:
        for m in ev.members:
            rows = [r for r in m.extra.get("blast_rows", []) if r not in taken]
            taken.update(rows)
            ev.acoustic += rows
    presence = by_kind.get("weapon_presence", [])
    # one site, whatever class each report names: observers mistake a class for its neighbour,
    # and a site seen ten times would otherwise make a second event (and a false P2) of the one
    # report that did; the event's class is the reports' vote (`FusedEvent.weapon_class`)
    events += _cluster_simple(
        "presence", [e for e in presence if not e.extra.get("moving")], 1_000.0, 12 * 3600.0, key=lambda e: ""
    )
    events += _cluster_simple(
        "advance", [e for e in presence if e.extra.get("moving")], 2_000.0, 6 * 3600.0, key=lambda e: ""
    )
    events += _cluster_simple(
        "air", by_kind.get("air_track", []), 3_000.0, 300.0, key=lambda e: str(e.extra.get("aircraft_type"))
    )
    events += _cluster_simple(
        "interference",
        by_kind.get("interference", []),
        5_000.0,
        1_800.0,
        key=lambda e: str(e.extra.get("interference_type")),
    )
    for ev in events:
        _finish(ev)
    events.sort(key=lambda ev: (ev.t_start, ev.x if math.isfinite(ev.x) else 0.0))
    return events


def _radar_events(tracks: list[Evidence]) -> list[FusedEvent]:
    if not tracks:
        return []
    ox = np.array([e.origin[0] for e in tracks if e.origin])
    oy = np.array([e.origin[1] for e in tracks if e.origin])
    ocov = np.array([e.origin[2] for e in tracks if e.origin])
    t = np.array([e.t0 for e in tracks])

    def one_battery(pairs: IntArray) -> npt.NDArray[np.bool_]:
        """Two tracks' origins as near as their ellipses and a battery's spread allow (two
        batteries 1.4 km apart, each tracked to 300 m, were one barrage, its origin between)."""
        i, j = pairs[:, 0], pairs[:, 1]
        cov = ocov[i] + ocov[j] + _BATTERY
        d = np.stack([ox[i] - ox[j], oy[i] - oy[j]], axis=1)
        chi2 = np.einsum("ni,ni->n", d, np.linalg.solve(cov, d[:, :, None])[:, :, 0])
        return np.asarray(chi2 <= GATE_CHI2)

    out = []
    for g in _space_time_groups(ox, oy, t, RADAR_ORIGIN_M, RADAR_GAP_S, one_battery):
        members = [tracks[i] for i in g.tolist()]
        origin = fuse_gaussians((m.origin for m in members if m.origin), spread_m=100.0)
        impacts = [(m.x, m.y, m.cov) for m in members if math.isfinite(m.x)]
        x, y, cov = (
            fuse_gaussians(impacts, spread_m=BARRAGE_SIGMA_M) if impacts else (math.nan, math.nan, np.eye(2))
        )
        out.append(
            FusedEvent(
                kind="fire",
                t_start=float(t[g].min()),
                t_end=float(t[g].max()),
                x=x,
                y=y,
                cov=cov,
                origin=origin,
                members=members,
                rounds=len(members),
            )
        )
    return out


def _blast_groups(
    ac: AcousticEvents, xy: tuple[FloatArray, FloatArray], party: npt.NDArray[np.int16]
) -> list[_BlastGroup]:
    if len(ac) == 0:
        return []
    x, y = xy
    out = []
    for g in _space_time_groups(x, y, ac.t, BLAST_GROUP_M, BLAST_GAP_S):
        covs = [
            (
                float(x[i]),
                float(y[i]),
                cov_from_ellipse95(ac.semi_major_m[i], ac.semi_minor_m[i], ac.azimuth_deg[i]),
            )
            for i in g.tolist()
        ]
        gx, gy, gcov = fuse_gaussians(covs, spread_m=BARRAGE_SIGMA_M)
        votes = Counter(int(p) for p in party[g])
        out.append(
            _BlastGroup(
                rows=g,
                x=gx,
                y=gy,
                cov=gcov,
                t0=float(ac.t[g].min()),
                t1=float(ac.t[g].max()),
                times=np.sort(ac.t[g]),
                party=votes.most_common(1)[0][0],
            )
        )
    return out


def _link_groups(events: list[FusedEvent], groups: list[_BlastGroup]) -> None:
    """Blast groups at a radar event's origin while it fired (launches) or at its impact after
    (impacts) belong to it."""
    if not events or not groups:
        return
    tree = cKDTree(np.array([[g.x, g.y] for g in groups]))
    for ev in events:
        assert ev.origin is not None
        for k in tree.query_ball_point([ev.origin[0], ev.origin[1]], LINK_M):
            g = groups[k]
            # as near as the tracks' origin and a battery's spread allow: another battery's
            # launches 2.2 km off, heard, had pulled this one's origin halfway to them
            near = _chi2(g.x - ev.origin[0], g.y - ev.origin[1], ev.origin[2] + g.cov + _BATTERY) <= GATE_CHI2
            if not g.used and near and ev.t_start - 30.0 <= g.t0 <= ev.t_end + 30.0:
                g.used = True
                ev.acoustic += g.rows.tolist()
                ev.launch_blasts += len(g.rows)
                ev.origin = fuse_gaussians([ev.origin, (g.x, g.y, g.cov)])
        if math.isfinite(ev.x):
            for k in tree.query_ball_point([ev.x, ev.y], LINK_M):
                g = groups[k]
                if not g.used and ev.t_start <= g.t0 <= ev.t_end + MAX_FLIGHT_S:
                    g.used = True
                    ev.acoustic += g.rows.tolist()
                    ev.impact_blasts += len(g.rows)


def _rhythm_cost(a: FloatArray, b: FloatArray) -> float:
    """How unlike two blast sequences are, once the second is shifted to start with the first:
    the count mismatch plus the mean gap (s) between each blast and its counterpart."""
    ra, rb = a - a[0], b - b[0]
    idx = np.clip(np.searchsorted(rb, ra), 1, max(len(rb) - 1, 1))
    if len(rb) == 1:
        gaps = np.abs(ra - rb[0])
    else:
        gaps = np.minimum(np.abs(ra - rb[idx - 1]), np.abs(ra - rb[np.minimum(idx, len(rb) - 1)]))
    count = abs(len(a) - len(b)) / max(len(a), len(b))
    return float(count + np.mean(np.minimum(gaps, 10.0)) / 10.0)


def _paired_groups(groups: list[_BlastGroup]) -> list[FusedEvent]:
    free = [g for g in groups if not g.used]
    if not free:
        return []
    free.sort(key=lambda g: g.t0)
    starts = np.array([g.t0 for g in free])
    tree = cKDTree(np.array([[g.x, g.y] for g in free]))
    candidates: list[tuple[float, float, int, int]] = []
    for i, a in enumerate(free):
        near = tree.query_ball_point([a.x, a.y], MAX_RANGE_M)
        lo, hi = np.searchsorted(starts, [a.t0 + 1.0, a.t0 + MAX_FLIGHT_S])
        window = set(range(int(lo), int(hi)))
        for j in near:
            if j not in window:
                continue
            b = free[j]
            if b.party == a.party or a.party < 0 or b.party < 0:
                continue
            d = math.hypot(b.x - a.x, b.y - a.y)
            speed = d / (b.t0 - a.t0)
            if not (FLIGHT_SPEED_MS[0] <= speed <= FLIGHT_SPEED_MS[1]) or d < 1_000.0:
                continue
            # at equal cost (one blast each end: the rhythm says nothing) the shorter flight
            # first, as fewer other blasts could have landed in it by chance
            candidates.append((_rhythm_cost(a.times, b.times), b.t0 - a.t0, i, j))
    candidates.sort()
    out = []
    for cost, _, i, j in candidates:
        a, b = free[i], free[j]
        if a.used or b.used or cost > 0.8:
            continue
        a.used = b.used = True
        out.append(
            FusedEvent(
                kind="fire",
                t_start=a.t0,
                t_end=max(a.t1, b.t1),
                x=b.x,
                y=b.y,
                cov=b.cov,
                origin=(a.x, a.y, a.cov),
                acoustic=a.rows.tolist() + b.rows.tolist(),
                launch_blasts=len(a.rows),
                impact_blasts=len(b.rows),
                rounds=max(len(a.rows), len(b.rows)),
            )
        )
    for g in free:
        if not g.used:
            # heard, but launch or impact cannot be told: located, origin unknown
            g.used = True
            out.append(
                FusedEvent(
                    kind="fire",
                    t_start=g.t0,
                    t_end=g.t1,
                    x=g.x,
                    y=g.y,
                    cov=g.cov,
                    acoustic=g.rows.tolist(),
                    rounds=len(g.rows),
                )
            )
    return out


def _chi2(dx: float, dy: float, cov: FloatArray) -> float:
    try:
        sol = np.linalg.solve(cov, np.array([dx, dy]))
    except np.linalg.LinAlgError:
        return math.inf
    return float(dx * sol[0] + dy * sol[1])


def _report_place(e: Evidence) -> tuple[float, float, FloatArray] | None:
    """Where a report puts the occurrence (the impact; for an outgoing sighting, the origin)."""
    if math.isfinite(e.x):
        return e.x, e.y, e.cov
    if e.origin is not None:
        return e.origin
    if e.observer is not None:  # heard or seen without a bearing: somewhere around the post
        return e.observer[0], e.observer[1], cov_from_radius95(UNPLACED_RADIUS_M)
    return None


def _event_place(ev: FusedEvent, origin: bool) -> tuple[float, float, FloatArray] | None:
    if origin or not math.isfinite(ev.x):
        return ev.origin
    if math.isfinite(ev.x):
        return ev.x, ev.y, ev.cov + np.eye(2) * BARRAGE_SIGMA_M**2
    return ev.origin


def _cadence(ev: FusedEvent, blast_t: FloatArray) -> float | None:
    """Median interval between an event's rounds, or None when fewer than three are timed: the
    radar's tracks', else the located blasts' (the two together would pair each round's track
    with its own launch blast, a few milliseconds apart). Intervals are taken within each radar's
    own tracks: two radars that track the same rounds give each round twice, at the same
    instant, and a mortar's three rounds would seem a ripple."""
    by_radar: dict[str, list[float]] = {}
    for m in ev.members:
        if m.kind == "radar_track":
            by_radar.setdefault(m.source, []).append(m.t0)
    gaps = [np.diff(np.sort(np.asarray(t, dtype=np.float64))) for t in by_radar.values() if len(t) >= 2]
    intervals = np.concatenate(gaps) if gaps else np.zeros(0)
    if len(intervals) < 2:
        intervals = np.diff(np.sort(np.asarray(blast_t[ev.acoustic], dtype=np.float64)))
    return float(np.median(intervals)) if len(intervals) >= 2 else None


def _automatic(r: Evidence) -> bool:
    """A report of fire at an automatic weapon's cadence: a burst heard, or seen."""
    return r.kind == "acoustic_burst" or (r.kind == "sighting" and r.sighting_type == "burst")


def _confirmable(strays: list[FusedEvent], found_bursts: list[Evidence]) -> list[FusedEvent]:
    """The strays that a post's sighting or a crater may confirm: heard launching and landing (a
    launch group paired with an impact group across the line at a projectile's speed), both ends
    located to `STRAY_PLACE_M`, and taken by no burst. Such a pair is one round of a mortar or a
    gun; with a report on it, it is no stray. A single round heard at both ends, that a post
    saw, had made an event of the sightings alone, with no origin and no attribution."""
    burst_rows = {r for b in found_bursts for r in b.extra.get("blast_rows", [])}
    return [
        ev
        for ev in strays
        if ev.launch_blasts
        and ev.impact_blasts
        and ev.origin is not None
        and max(semi_major_95(ev.cov), semi_major_95(ev.origin[2])) <= STRAY_PLACE_M
        and not burst_rows & set(ev.acoustic)
    ]


def _confirming_end(r: Evidence, stray: FusedEvent, ranges: dict[str, float]) -> Place | None:
    """Where a report may confirm a stray round (`_confirmable`): a crater or a post that saw
    the round land, at its impact; a post that saw it leave, at its launch; and only if the
    report names a weapon whose range covers the round's flight. Elsewhere a post may take one
    end for the other, but a round made of two blasts has no other evidence of which end is
    which: on the armed-attack day, a heavy round's impact, heard, was paired as the launch of
    a later blast 8 to 30 km away, and posts that saw the impact then confirmed it, the impact
    becoming a firing point in the buffer strip; two blasts of other fires, 15 to 46 km apart,
    were paired as a mortar's round, and a post's sighting of a mortar confirmed them."""
    reach = ranges.get(r.weapon_class or "")
    if reach is None or stray.origin is None:
        return None
    if math.hypot(stray.x - stray.origin[0], stray.y - stray.origin[1]) > reach:
        return None
    if r.kind == "crater" or (r.kind == "sighting" and r.sighting_type == "impact"):
        return _event_place(stray, origin=False)
    if r.kind == "sighting" and r.sighting_type == "outgoing":
        return stray.origin
    return None


def _attach(
    events: list[FusedEvent],
    reports: list[Evidence],
    blast_t: FloatArray,
    confirmable: list[FusedEvent] | None = None,
    ranges: dict[str, float] | None = None,
) -> list[Evidence]:
    """Each report joins the most consistent fire event; returns those that join none (`blast_t`:
    the located blasts' times). Sightings and craters may also join a `confirmable` stray, if
    they name a weapon class whose range (`ranges`, m) the round's flight is within."""
    # a few located blasts alone are more often stray than real (see MIN_ACOUSTIC_ONLY_BLASTS):
    # a report is not tied to them, it makes its own event (but see `_confirmable`)
    fire = [
        ev
        for ev in events
        if ev.kind == "fire" and (ev.members or len(ev.acoustic) >= MIN_ACOUSTIC_ONLY_BLASTS)
    ]
    class_ranges = ranges or {}
    seen_only = np.r_[np.zeros(len(fire), dtype=bool), np.ones(len(confirmable or []), dtype=bool)]
    fire += confirmable or []
    if not fire:
        return reports
    # both ends of each event are looked up: a launcher 30 km from where its rockets fell is
    # heard and seen where it fires (its bursts and "outgoing" sightings were never tried)
    ends_xy, owner = [], []
    for k, ev in enumerate(fire):
        for end in ((ev.x, ev.y), ev.origin[:2] if ev.origin else (math.nan, math.nan)):
            if math.isfinite(end[0]):
                ends_xy.append(end)
                owner.append(k)
    if not ends_xy:
        return reports
    t_lo = np.array([ev.t_start - FIRE_WINDOW_S[0] for ev in fire])
    t_hi = np.array([ev.t_end + FIRE_WINDOW_S[1] for ev in fire])
    # a burst's shots are timed to the second, and so are an event's blasts and tracks: a burst
    # joins only while the event lasts, give or take a minute (a rifleman firing back three
    # minutes after a salvo's last impact, 2 km off, was taken for its impacts)
    timed_lo, timed_hi = np.array([_timed_span(ev, blast_t) for ev in fire]).reshape(-1, 2).T
    timed_lo, timed_hi = timed_lo - BURST_SLACK_S, timed_hi + BURST_SLACK_S
    tree = cKDTree(np.array(ends_xy))
    of_end = np.array(owner, dtype=np.int64)
    left = []
    for r in reports:
        # a burst is where it was fired from, precisely; where its shots fell is only near it
        place = r.origin if r.kind == "acoustic_burst" else _report_place(r)
        if place is None:
            left.append(r)
            continue
        radius = 3.0 * math.sqrt(float(np.trace(place[2]))) + 5_000.0
        best, best_cost, best_at_impact = None, math.inf, False
        for k in np.unique(of_end[tree.query_ball_point([place[0], place[1]], radius)]).tolist():
            if r.t1 < t_lo[k] or r.t0 > t_hi[k]:
                continue
            if r.kind == "acoustic_burst" and (r.t1 < timed_lo[k] or r.t0 > timed_hi[k]):
                continue
            ev = fire[k]
            targets: tuple[Place | None, ...] = (_event_place(ev, origin=False), ev.origin)
            if seen_only[k]:
                targets = (_confirming_end(r, ev, class_ranges),)
            elif _automatic(r):
                # a burst is automatic fire: the same fire only as a salvo whose impacts and
                # launches ripple like one (a post may take either end for the other). An event
                # whose rounds come seconds apart is another weapon (the side under fire firing
                # back); one whose cadence is unknown, only at its firing point
                cadence = _cadence(ev, blast_t)
                if cadence is None:
                    targets = (ev.origin,) if ev.origin is not None else targets
                elif cadence > SALVO_INTERVAL_S:
                    continue
            gate = CONFIRM_CHI2 if seen_only[k] else GATE_CHI2
            for target in targets:
                if target is None:
                    continue
                c = _report_cost(r, place, target)
                if c <= gate and c < best_cost:
                    best, best_cost, best_at_impact = ev, c, target is not ev.origin
        if best is None:
            left.append(r)
        else:
            best.members.append(r)
            if best_at_impact:
                best.at_impact.add(r.obs_id)
    return left


def _timed_span(ev: FusedEvent, blast_t: FloatArray) -> tuple[float, float]:
    """When a fire event of tracks and blasts lasted: from its first to its last blast or track.
    A track is timed at the launch, and the ripple of the salvo's impacts may come a flight
    later: after its last track, the flight at the slowest a projectile flies is allowed too (an
    event of blasts alone holds its impacts' own times)."""
    lo, hi = ev.t_start, ev.t_end
    if ev.members:
        hi = max(hi, *(m.t1 for m in ev.members))
        if ev.origin is not None and math.isfinite(ev.x):
            hi += min(math.hypot(ev.x - ev.origin[0], ev.y - ev.origin[1]) / FLIGHT_SPEED_MS[0], MAX_FLIGHT_S)
    if ev.acoustic:
        t = blast_t[np.asarray(ev.acoustic, dtype=np.int64)]
        lo, hi = min(lo, float(t.min())), max(hi, float(t.max()))
    return lo, hi


def stated_time(members: list[Evidence]) -> float:
    """When an event of reports happened: the stated time of its most precise report (an
    allegation's only when nothing else speaks of it)."""
    pool = [m for m in members if m.kind != "allegation"] or members
    return min(pool, key=lambda m: (m.precision_s, m.t)).t


def _same_shooter(r: Evidence, ev: FusedEvent) -> bool:
    """A burst and the bursts of an event are one fire only if fired from one place: two
    firing points known to tens of metres, a kilometre apart, are two shooters."""
    if r.kind != "acoustic_burst" or r.origin is None:
        return True
    return all(
        _chi2(r.origin[0] - m.origin[0], r.origin[1] - m.origin[1], r.origin[2] + m.origin[2]) <= GATE_CHI2
        for m in ev.members
        if m.kind == "acoustic_burst" and m.origin is not None
    )


def _report_cost(r: Evidence, place: Place, target: Place) -> float:
    """How far a report is from a place: by its own bearing and band if it is a placed sighting
    (a Gaussian as long as the band is wide lets far places in along it and near ones out
    across it), else the chi-square of the two Gaussians."""
    if r.sight is not None:
        return r.sight.cost(*target)
    return _chi2(place[0] - target[0], place[1] - target[1], place[2] + target[2])


def _grouping_cost(r: Evidence, place: Place, ev: FusedEvent, target: Place) -> float:
    """How far a report is from a group of reports: `_report_cost`, except against a group that
    rests on sightings alone, whose bearings and bands must each agree with the report (a seen
    launch or burst with a heard burst's firing point), and except for a post that saw the
    fire leave, whose bearing and band are compared with the firing point of the group's heard
    bursts. A burst's landing place is kilometres wide: against the sighting's Gaussian, a burst
    3 km off the post's bearing was gated in."""
    substantive = [m for m in ev.members if m.kind != "allegation"]
    if r.sight is not None and r.origin_law is not None:
        # a post that saw the fire leave against a heard burst's firing point, not against the
        # kilometres where its shots may have landed (an exchange of fire 1.4 km apart, across
        # the line, was made one event)
        heard = [m.origin for m in substantive if m.kind == "acoustic_burst" and m.origin is not None]
        if heard:
            return r.sight.cost(*fuse_gaussians(heard))
    sights = [m for m in substantive if m.sight is not None]
    if not sights or len(sights) < len(substantive):
        return _report_cost(r, place, target)
    if r.sight is not None:
        # a post's sighting against posts' sightings: each pair of bearings and bands must meet
        return max(_report_cost(r, place, target), *(r.sight.meets(m.sight) for m in sights if m.sight))
    fired = r.origin if r.kind == "acoustic_burst" and r.origin is not None else place
    return max(m.sight.cost(*(fired if m.origin_law is not None else place)) for m in sights if m.sight)


def _report_events(reports: list[Evidence]) -> list[FusedEvent]:
    """Reports that matched no fire event, grouped with each other by the same gate. Reports
    whose time is good to the second or to a minute (bursts, sightings, craters) are grouped
    first; an OSINT (a video dated to ten minutes, placed to kilometres) then joins the group
    it fits best, or groups with the OSINT left; the allegations come last: each joins the
    most consistent of the events the others make, or groups with other allegations. Grouped
    in time order with the rest, by the opening of its window, a vague report made an event
    first: an allegation (its time good to forty minutes) kept a burst heard a minute before
    its stated time from joining it, two events of one fire; a video of fire at 15:45 took a
    post's sighting of other fire at 15:40, and the burst heard at 15:45 stood apart."""
    events, spans = _group_reports([r for r in reports if r.kind not in ("osint", "allegation")])
    videos = [r for r in reports if r.kind == "osint" and not _join_group(r, events, spans)]
    more, more_spans = _group_reports(videos)
    events, spans = events + more, spans + more_spans
    leads = [r for r in reports if r.kind == "allegation" and not _join_group(r, events, spans)]
    lead_events, _ = _group_reports(leads)
    for ev in lead_events:
        ev.kind = "allegation"
    return events + lead_events


def _window_overlaps(r: Evidence, ev: FusedEvent, span: list[float]) -> bool:
    """A report's window meets an event's. A burst's shots are timed to the second: with it,
    the reports' own stated windows decide, plus a minute (a post's report of another burst
    three minutes earlier was taken for the same fire)."""
    timed = r.kind == "acoustic_burst" or any(m.kind == "acoustic_burst" for m in ev.members)
    before, after = (BURST_SLACK_S, BURST_SLACK_S) if timed else FIRE_WINDOW_S
    return not (r.t0 > span[1] + after or r.t1 < span[0] - before)


def _span(members: list[Evidence]) -> list[float]:
    """The window of an event of reports. Once a burst is among them, the bursts' (timed to the
    second: an OSINT's ten minutes had let a post's sighting of another burst five minutes
    later join). Else where all its reports' windows meet, since each says when the one
    occurrence was (where they do not meet, the most precise report's): their union let a
    post's sighting, joined by a video dated to ±10 minutes, take fire 24 minutes later."""
    timed = [m for m in members if m.kind == "acoustic_burst"]
    if timed:
        return [min(m.t0 for m in timed), max(m.t1 for m in timed)]
    lo, hi = max(m.t0 for m in members), min(m.t1 for m in members)
    if lo <= hi:
        return [lo, hi]
    best = min(members, key=lambda m: (m.precision_s, m.t1 - m.t0))
    return [best.t0, best.t1]


def _best_group(
    r: Evidence, place: Place | None, events: list[FusedEvent], spans: list[list[float]]
) -> tuple[FusedEvent, list[float]] | None:
    """The group a report fits best, not the first that it fits: the chi-square of the places
    within the gate, plus the squared time from the report's stated time to the group's window
    in the report's own standard deviations (a quarter of its window: an allegation's window is
    two of them each side). Taken first-come, a report that two groups let in joined the older,
    whatever its stated time said."""
    if place is None:
        return None
    sigma_t = max((r.t1 - r.t0) / 4.0, 1.0)
    best, best_cost = None, math.inf
    for ev, span in zip(events, spans, strict=True):
        if not math.isfinite(ev.x) or not _window_overlaps(r, ev, span) or not _same_shooter(r, ev):
            continue
        c = _grouping_cost(r, place, ev, (ev.x, ev.y, ev.cov))
        if c > GATE_CHI2:
            continue
        c += (max(span[0] - r.t, r.t - span[1], 0.0) / sigma_t) ** 2
        if c < best_cost:
            best, best_cost = (ev, span), c
    return best


def _add_to_group(r: Evidence, ev: FusedEvent, span: list[float]) -> None:
    """A report joins a group of reports: the group's place is all their places fused (an
    allegation's never counts), its window `_span`."""
    ev.members.append(r)
    ev.t_start = stated_time(ev.members)
    if r.kind != "allegation":
        placed = [(m, p) for m in ev.members if (p := _report_place(m)) is not None]
        ev.x, ev.y, ev.cov = fuse_gaussians([p for _, p in placed])
        ev.placed_at_origin = all(m.places_origin for m, _ in placed)
        # its vague time must not stretch the event to others
        ev.t_end = max(ev.t_end, r.t1)
        span[:] = _span(ev.members)


def _join_group(r: Evidence, events: list[FusedEvent], spans: list[list[float]]) -> bool:
    """A vague report (a video, an allegation) joins the group it fits best among all
    (`_best_group`), not only the last ones: the groups are not in its time order. An
    allegation joins without moving it (`_add_to_group`). Returns whether it joined one."""
    if not events:
        return False
    # those whose windows may meet its own (`_window_overlaps` decides): a wider slack first
    slack = max(*FIRE_WINDOW_S, BURST_SLACK_S)
    bounds = np.array(spans)
    near = np.flatnonzero((bounds[:, 0] - slack <= r.t1) & (bounds[:, 1] + slack >= r.t0)).tolist()
    best = _best_group(r, _report_place(r), [events[k] for k in near], [spans[k] for k in near])
    if best is None:
        return False
    _add_to_group(r, *best)
    return True


def _group_reports(reports: list[Evidence]) -> tuple[list[FusedEvent], list[list[float]]]:
    """Reports of one kind of standing (all substantive, or all allegations) grouped in time
    order: each joins a recent event within the gate, or starts one. Returns the events and
    their windows (their reports' windows: an OSINT's time may be good to ten minutes, and a
    burst a few minutes before its stated time is still within it)."""
    events: list[FusedEvent] = []
    spans: list[list[float]] = []
    for r in reports:
        place = _report_place(r)
        best = _best_group(r, place, events[-50:], spans[-50:])
        if best is not None:
            _add_to_group(r, *best)
        else:
            # an allegation's window, among allegations, runs from its stated time
            spans.append([r.t if r.kind == "allegation" else r.t0, r.t1])
            x, y, cov = place if place is not None else (math.nan, math.nan, np.eye(2))
            events.append(
                FusedEvent(
                    kind="fire",
                    t_start=r.t,
                    t_end=r.t1,
                    x=x,
                    y=y,
                    cov=cov,
                    members=[r],
                    placed_at_origin=r.places_origin and r.kind != "allegation",
                )
            )
    return events, spans


def _cluster_simple(
    kind: str, items: list[Evidence], spread_m: float, gap_s: float, key: Callable[[Evidence], str]
) -> list[FusedEvent]:
    """Same kind, same key (aircraft, interference type; weapons by site: no key), windows opening within
    `gap_s`, and places as near as both reports' uncertainties and the kind's spread allow: the
    separation's chi-square on the two covariances plus a circle whose 95% radius is `spread_m`
    at most `SAME_KIND_CHI2`. Two exact reports so link within `spread_m`, as every pair did
    when only that radius counted; a report placed to 4 km now joins a precise one 3 km away,
    and two reports placed to 50 m link no farther than the kind's spread allows."""
    spread = np.eye(2) * (spread_m * SIGMA_PER_95) ** 2
    out = []
    by_key: dict[str, list[Evidence]] = {}
    for e in items:
        by_key.setdefault(key(e), []).append(e)
    for members in by_key.values():
        x = np.array([m.x for m in members])
        y = np.array([m.y for m in members])
        t = np.array([m.t0 for m in members])
        cov = np.array([m.cov for m in members], dtype=np.float64).reshape(-1, 2, 2)
        # the gate's chi-square is at least d² over the joint covariance's largest eigenvalue,
        # at most spread² + both reports' largest: so no pair in the gate lies beyond the larger
        # of the two reaches
        widest = np.linalg.eigvalsh(cov)[:, -1] if len(cov) else np.zeros(0)
        reach = np.sqrt(SAME_KIND_CHI2 * (spread[0, 0] + 2.0 * np.maximum(widest, 0.0)))

        def fits(
            pairs: IntArray, x: FloatArray = x, y: FloatArray = y, cov: FloatArray = cov
        ) -> npt.NDArray[np.bool_]:
            a, b = pairs[:, 0], pairs[:, 1]
            d = np.column_stack([x[a] - x[b], y[a] - y[b]])
            sol = np.linalg.solve(cov[a] + cov[b] + spread, d[:, :, None])[:, :, 0]
            return np.asarray(np.einsum("ij,ij->i", d, sol) <= SAME_KIND_CHI2)

        for g in _space_time_groups(x, y, t, spread_m, gap_s, fits, reach):
            ms = [members[i] for i in g.tolist()]
            gx, gy, gcov = fuse_gaussians((m.x, m.y, m.cov) for m in ms)
            origins = [m.origin for m in ms if m.origin is not None]
            out.append(
                FusedEvent(
                    kind=kind,
                    t_start=min(m.t for m in ms),
                    t_end=max(m.t1 for m in ms),
                    x=gx,
                    y=gy,
                    cov=gcov,
                    origin=fuse_gaussians(origins) if origins else None,
                    members=ms,
                    rounds=0,
                )
            )
    return out


def _finish(ev: FusedEvent) -> None:
    """Origin from the reports where the blasts and radar gave none; rounds from what was counted."""
    if ev.kind != "fire":
        return
    if ev.origin is None:
        sources = [
            m
            for m in ev.members
            if m.origin is not None and m.kind != "allegation" and m.obs_id not in ev.at_impact
        ]
        if sources:
            ev.origin = fuse_gaussians(m.origin for m in sources if m.origin is not None)
            if len(sources) == 1:
                ev.origin_law = sources[0].origin_law
        else:
            rays = [m.ray for m in ev.members if m.ray is not None]
            if rays:
                ev.ray = min(rays, key=lambda r: r.sigma_deg)
    counted = [m.count for m in ev.members if m.kind in ("sighting", "radar_track", "acoustic_burst")]
    ev.rounds = max([ev.rounds, ev.launch_blasts, ev.impact_blasts, *counted])
    if ev.origin is not None and (ev.placed_at_origin or not math.isfinite(ev.x)):
        # known only where it was fired from: placed there exactly, with the origin's ellipse
        ev.x, ev.y, ev.cov = ev.origin
        ev.placed_at_origin = True
