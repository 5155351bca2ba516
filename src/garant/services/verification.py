"""The verified bulletin, kept up to date from the store: fuse, attribute, classify, grade.

Runs after the acoustic bulletin (`garant.services.bulletin`), on the same kind of watermark (a
transparency-log leaf). Each run takes the observations logged since the last one, and rebuilds
only the stretch of time they fall in: the **core** (their times ± `CORE_MARGIN`), from the
reports and located blasts of a slightly wider window (± `CONTEXT_MARGIN` more), so an event at
the core's edge still sees all of its members. History outside the core is not read again.

What an analyst decided is never touched: the members of a manual event (and of automatic
events outside the core) are held out of the run. The run's events are matched to the live
automatic events of the core by the members they share (most shared first): a match keeps its
id and gets a new revision; a new event gets a new id; a stored automatic event the run no
longer produces (its members went elsewhere) is closed — status rejected, with the reason —
never deleted. The engine runs outside any write transaction; the write checks the watermark
has not moved meanwhile (as the acoustic bulletin does).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import func, select

from garant.domain.agreement import Agreement
from garant.domain.ids import new_ids
from garant.geo.engine import Geography
from garant.store import events as ev_store
from garant.store import verified as vstore
from garant.store.agreements import agreements_in_force
from garant.store.db import Database
from garant.store.schema import log_leaves, observations
from garant.verify.attribution import top_party
from garant.verify.bursts import BurstParams
from garant.verify.pipeline import VerifiedEvent, run_pipeline

PIPELINE = "fusion"
CORE_MARGIN = timedelta(hours=1)
CONTEXT_MARGIN = timedelta(hours=1)
HOLD_BACK = timedelta(hours=12)  # how far back a stored event may start and still hold members
STEPS = 3  # read the store; fuse, attribute, classify, grade; write (the steps a bar counts)
StepHook = Callable[[int, int, str], None]


@dataclass
class FusionReport:
    observations: int = 0
    events_created: int = 0
    events_updated: int = 0
    events_closed: int = 0
    violations: int = 0
    created_ids: list[str] = field(default_factory=list)


class StaleFusion(RuntimeError):
    """Another run moved the verified bulletin while this one worked; this one rolled back."""


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def update_verification(
    db: Database,
    progress: Callable[[str], None] | None = None,
    bursts: BurstParams | None = None,
    steps: StepHook | None = None,
) -> FusionReport:
    """Bring the verified bulletin up to date with every observation logged since the last run.
    `bursts`: the speed of sound and timing of the acoustic network, for bursts of fire.
    `steps(done, total, next)`: how many of the run's `STEPS` steps are done and what comes
    next, for a progress bar (a retry after a stale write starts again from 0)."""
    step = steps or (lambda _d, _t, _w: None)
    for _attempt in range(5):
        try:
            step(0, STEPS, "reading the store")
            report = _run(db, progress or (lambda _s: None), bursts, step)
            step(STEPS, STEPS, "done")
            return report
        except StaleFusion:
            continue
    raise StaleFusion("the verified bulletin kept moving under this run; try again")


def _detections(db: Database, ids: list[str]) -> list[dict[str, Any]]:
    with db.read() as conn:
        return vstore.detections_by_id(conn, ids)


def _pending(conn: Any, seen: int) -> tuple[int, datetime | None, datetime | None, int]:
    row = conn.execute(
        select(
            func.count(),
            func.min(observations.c.observed_at),
            func.max(observations.c.observed_at),
        )
        .select_from(log_leaves.join(observations, observations.c.id == log_leaves.c.record_id))
        .where(log_leaves.c.idx > seen, log_leaves.c.record_type == "observation")
    ).one()
    end = conn.execute(select(func.max(log_leaves.c.idx))).scalar()
    return int(row[0]), row[1], row[2], -1 if end is None else int(end)


def _run(
    db: Database, say: Callable[[str], None], bursts: BurstParams | None, step: StepHook
) -> FusionReport:
    report = FusionReport()
    with db.read() as conn:
        seen = ev_store.watermark(conn, PIPELINE)
        n, t_min, t_max, upto = _pending(conn, seen)
        versions: list[Agreement] = []
        if n:
            assert t_min is not None and t_max is not None
            core = (t_min - CORE_MARGIN, t_max + CORE_MARGIN)
            window = (core[0] - CONTEXT_MARGIN, core[1] + CONTEXT_MARGIN)
            versions = agreements_in_force(conn, *window)
        if versions:
            reports = vstore.reports_in(conn, *window)
            blasts = vstore.blasts_in(conn, *window)
            loose = vstore.loose_detections_in(conn, *window)
            stored = vstore.fused_in(conn, window[0] - HOLD_BACK, window[1])
    if n == 0:
        if upto > seen:  # only records of other kinds were logged
            _advance(db, seen, upto)
        return report
    if not versions:
        return report  # no agreement to verify against yet: wait for one
    agreement = versions[0]
    live = [e for e in stored if e.evaluation_mode == "automatic" and e.status == "preliminary"]
    in_core = [e for e in live if core[0] <= e.time <= core[1]]
    core_ids = {e.id for e in in_core}
    held = set().union(*(e.members for e in stored if e.id not in core_ids and e.status != "rejected"))
    reports = [r for r in reports if r["id"] not in held]
    loose = [d for d in loose if d["id"] not in held]
    keep = [i for i, b in enumerate(blasts.ids) if b not in held]
    blasts = _subset(blasts, keep)
    say(
        f"{len(reports)} reports, {len(blasts)} located blasts and {len(loose)} loose arrivals, "
        f"{window[0]:%Y-%m-%d %H:%M} to {window[1]:%Y-%m-%d %H:%M}"
    )
    step(1, STEPS, "fusing, attributing, classifying")
    produced = [
        v
        for v in run_pipeline(
            reports,
            blasts,
            agreement,
            Geography.of(agreement),
            loose_detections=loose,
            bursts=bursts,
            detections_of=lambda ids: _detections(db, ids),
            later_versions=versions[1:],
        )
        if core[0].timestamp() <= v.t_start <= core[1].timestamp() and math.isfinite(v.lon)
    ]
    step(2, STEPS, "writing the events")
    matched = _match(produced, in_core)
    by_id = {e.id: e for e in in_core}
    now = datetime.now(UTC)
    fresh = iter(new_ids(len(produced)))
    violation_ids = iter(new_ids(sum(len(v.breaches) for v in produced)))
    with db.write() as conn:
        if not ev_store.advance_watermark(conn, PIPELINE, seen, upto, now):
            raise StaleFusion
        # what an analyst took over while this run worked stays theirs
        taken = vstore.held_by_analysts(
            conn, (m for v in produced for m in (*v.observation_ids, *v.acoustic_ids))
        )
        for k, v in enumerate(produced):
            if taken and taken & {*v.observation_ids, *v.acoustic_ids}:
                continue
            row = _row(v, now)
            if k in matched:
                eid = matched[k]
                before = by_id[eid]
                if before.members == {
                    *v.observation_ids,
                    *v.acoustic_ids,
                } and before.signature == vstore.signature(row):
                    continue  # unchanged: no new revision
                if not vstore.update_fused(conn, eid, row, automatic_only=True):
                    continue  # an analyst took it over while this run worked: theirs stands
                report.events_updated += 1
            else:
                eid = next(fresh)
                vstore.insert_fused(
                    conn,
                    [
                        {
                            **row,
                            "id": eid,
                            "evaluation_mode": "automatic",
                            "status": "preliminary",
                            "revision": 1,
                            "created_at": now,
                        }
                    ],
                )
                report.events_created += 1
                report.created_ids.append(eid)
            vstore.set_members(conn, eid, v.observation_ids, v.acoustic_ids)
            vstore.set_violations(conn, eid, _breaches(v), violation_ids, now)
            report.violations += len(v.breaches)
        for e in in_core:
            if e.id not in matched.values() and vstore.update_fused(
                conn,
                e.id,
                {"status": "rejected", "level": "rejected", "updated_at": now,
                 "status_reason": "a re-run of the pipeline gave its reports to other events"},
                automatic_only=True,
            ):  # fmt: skip
                vstore.set_members(conn, e.id, [], [])
                vstore.set_violations(conn, e.id, [], iter(()), now)
                report.events_closed += 1
    report.observations = n
    return report


def _advance(db: Database, seen: int, upto: int) -> None:
    with db.write() as conn:
        if not ev_store.advance_watermark(conn, PIPELINE, seen, upto, datetime.now(UTC)):
            raise StaleFusion


def _subset(blasts: Any, keep: list[int]) -> Any:
    from garant.verify.evidence import AcousticEvents

    if len(keep) == len(blasts):
        return blasts
    return AcousticEvents(
        ids=[blasts.ids[i] for i in keep],
        t=blasts.t[keep],
        lon=blasts.lon[keep],
        lat=blasts.lat[keep],
        semi_major_m=blasts.semi_major_m[keep],
        semi_minor_m=blasts.semi_minor_m[keep],
        azimuth_deg=blasts.azimuth_deg[keep],
        n_detections=blasts.n_detections[keep],
        detections={},
    )


def _match(produced: list[VerifiedEvent], stored: list[vstore.StoredFused]) -> dict[int, str]:
    """Produced event index -> stored event id, by the most members shared, one to one."""
    owner = {m: e.id for e in stored for m in e.members}
    pairs: dict[tuple[int, str], int] = {}
    for k, v in enumerate(produced):
        for m in (*v.observation_ids, *v.acoustic_ids):
            if m in owner:
                pairs[(k, owner[m])] = pairs.get((k, owner[m]), 0) + 1
    out: dict[int, str] = {}
    taken: set[str] = set()
    for (k, eid), _shared in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0])):
        if k not in out and eid not in taken:
            out[k] = eid
            taken.add(eid)
    return out


def _num(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _row(v: VerifiedEvent, now: datetime) -> dict[str, Any]:
    probs = v.attribution.probs
    oe = v.origin_ellipse
    return {
        "kind": v.kind,
        "time": _when(v.t_start),
        "end_time": _when(v.t_end),
        "lon": v.lon,
        "lat": v.lat,
        "semi_major_m": v.ellipse[0],
        "semi_minor_m": v.ellipse[1],
        "azimuth_deg": v.ellipse[2],
        "rms_s": None,
        "n_observations": len(v.observation_ids) + len(v.acoustic_ids),
        "origin_lon": _num(v.origin_lon),
        "origin_lat": _num(v.origin_lat),
        "origin_semi_major_m": oe[0] if oe else None,
        "origin_semi_minor_m": oe[1] if oe else None,
        "origin_azimuth_deg": oe[2] if oe else None,
        "attribution": None if probs is None else orjson.dumps(probs).decode(),
        "status_reason": v.attribution.reason or None,
        "level": v.grade.level,
        "technical": v.grade.technical,
        "severity": v.severity,
        "weapon_class": v.weapon_class,
        "rounds": v.rounds,
        "casualties": v.casualties,
        "fatalities": v.killed,
        "agreement_key": v.agreement_key,
        "updated_at": now,
    }


def _breaches(v: VerifiedEvent) -> list[dict[str, Any]]:
    party, pp = top_party(v.attribution.probs)
    return [
        {
            "provision_id": b.provision_id,
            "agreement_key": v.agreement_key,
            "probability": b.probability,
            "party": party,
            "party_probability": pp,
        }
        for b in v.breaches
    ]
