"""The verified bulletin in the database: fused events, their members, violations, review acts.

A fused event is a row of `events` (kind fire, presence, advance, air, interference or
allegation) whose members are reports (`event_observations`) and located blasts, themselves
acoustic events (`event_parts`). Its violations are rows of `violations`, one per provision,
kept in step with the event (withdrawn, never deleted, when a later revision no longer
breaches). Review acts are append-only records. Reads for people go through the same choke
point as the acoustic bulletin (`garant.store.events.visible_events`, which also looks through
an event's blasts to their detections).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import orjson
from sqlalchemy import (
    Connection,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal_column,
    not_,
    or_,
    select,
    update,
)

from garant.domain.access import Principal
from garant.store.events import visible_events
from garant.store.schema import event_observations, event_parts, events, observations, review_acts, violations
from garant.verify.evidence import AcousticEvents

_CHUNK = 500
FUSED_KINDS = ("fire", "presence", "advance", "air", "interference", "allegation")


def reports_in(conn: Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Reports other than acoustic arrivals with a time in [start, end], that no later
    observation supersedes, as accepted (payload) with their `id`."""
    newer = observations.alias("newer")
    superseded = exists(select(literal_column("1")).where(newer.c.supersedes == observations.c.id))
    q = (
        select(observations.c.id, observations.c.payload)
        .where(
            observations.c.kind != "acoustic_detection",
            observations.c.observed_at >= start,
            observations.c.observed_at <= end,
            not_(superseded),
        )
        .order_by(observations.c.observed_at, observations.c.seq)
    )
    return [_with_id(r.id, r.payload) for r in conn.execute(q)]


def loose_detections_in(conn: Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Acoustic arrivals with a time in [start, end] that no located blast explains (they may be
    a fused event's, as a burst's arrivals), as accepted, with their `id`."""
    newer = observations.alias("newer")
    superseded = exists(select(literal_column("1")).where(newer.c.supersedes == observations.c.id))
    in_blast = exists(
        select(literal_column("1"))
        .select_from(event_observations.join(events, events.c.id == event_observations.c.event_id))
        .where(event_observations.c.observation_id == observations.c.id, events.c.kind == "acoustic")
    )
    q = (
        select(observations.c.id, observations.c.payload)
        .where(
            observations.c.kind == "acoustic_detection",
            observations.c.observed_at >= start,
            observations.c.observed_at <= end,
            not_(superseded),
            not_(in_blast),
        )
        .order_by(observations.c.observed_at, observations.c.seq)
    )
    return [_with_id(r.id, r.payload) for r in conn.execute(q)]


def detections_by_id(conn: Connection, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The acoustic detections with these ids, as accepted, with their `id` (the arrivals of
    located blasts that make no fire event, for the burst finder)."""
    out = []
    for k in range(0, len(ids), _CHUNK):
        q = select(observations.c.id, observations.c.payload).where(
            observations.c.id.in_(ids[k : k + _CHUNK]), observations.c.kind == "acoustic_detection"
        )
        out += [_with_id(r.id, r.payload) for r in conn.execute(q)]
    return out


def reports_by_id(conn: Connection, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The observations with these ids (any kind), as accepted, with their `id`, in intake order:
    the members of one event, to judge it again."""
    out = []
    for k in range(0, len(ids), _CHUNK):
        q = (
            select(observations.c.id, observations.c.payload)
            .where(observations.c.id.in_(ids[k : k + _CHUNK]))
            .order_by(observations.c.seq)
        )
        out += [_with_id(r.id, r.payload) for r in conn.execute(q)]
    return out


def blasts_by_id(conn: Connection, ids: Sequence[str]) -> AcousticEvents:
    """The located blasts (acoustic events) with these ids, in time order."""
    wanted = list(ids)
    rows: list[Any] = []
    for k in range(0, len(wanted), _CHUNK):
        rows += conn.execute(
            select(events).where(events.c.id.in_(wanted[k : k + _CHUNK]), events.c.kind == "acoustic")
        ).all()
    return _blasts(sorted(rows, key=lambda r: (r.time, r.seq)))


def _with_id(obs_id: str, payload: str | bytes) -> dict[str, Any]:
    out: dict[str, Any] = orjson.loads(payload)
    out["id"] = obs_id
    return out


def blasts_in(conn: Connection, start: datetime, end: datetime) -> AcousticEvents:
    """Located blasts (acoustic events not rejected) with an origin time in [start, end]."""
    rows = conn.execute(
        select(
            events.c.id,
            events.c.time,
            events.c.lon,
            events.c.lat,
            events.c.semi_major_m,
            events.c.semi_minor_m,
            events.c.azimuth_deg,
            events.c.n_observations,
        )
        .where(
            events.c.kind == "acoustic",
            events.c.status != "rejected",
            events.c.time >= start,
            events.c.time <= end,
        )
        .order_by(events.c.time, events.c.seq)
    ).all()
    return _blasts(rows)


def _blasts(rows: Sequence[Any]) -> AcousticEvents:
    if not rows:
        return AcousticEvents.empty()
    return AcousticEvents(
        ids=[r.id for r in rows],
        t=np.array([r.time.timestamp() for r in rows]),
        lon=np.array([r.lon for r in rows]),
        lat=np.array([r.lat for r in rows]),
        semi_major_m=np.array([r.semi_major_m for r in rows]),
        semi_minor_m=np.array([r.semi_minor_m for r in rows]),
        azimuth_deg=np.array([r.azimuth_deg for r in rows]),
        n_detections=np.array([r.n_observations for r in rows], dtype=np.int64),
        detections={},
    )


@dataclass
class StoredFused:
    id: str
    time: datetime
    evaluation_mode: str
    status: str
    revision: int
    signature: tuple[Any, ...] = ()  # what a revision would change (see `signature`)
    members: set[str] = field(default_factory=set)  # report ids and blast (acoustic event) ids


def signature(row: Any) -> tuple[Any, ...]:
    """The content of a fused event that makes a new revision when it changes."""
    return (
        row["kind"],
        round(float(row["lon"]), 6),
        round(float(row["lat"]), 6),
        row["level"],
        row["attribution"],
        None if row["severity"] is None else round(float(row["severity"]), 4),
        row["weapon_class"],
        row["rounds"],
        row["casualties"],
        row["fatalities"],
    )


def fused_in(conn: Connection, start: datetime, end: datetime) -> list[StoredFused]:
    """Fused events with a time in [start, end] (any mode or status), with their members."""
    rows = conn.execute(
        select(events)
        .where(events.c.kind.in_(FUSED_KINDS), events.c.time >= start, events.c.time <= end)
        .order_by(events.c.seq)
    ).all()
    out = {
        r.id: StoredFused(r.id, r.time, r.evaluation_mode, r.status, r.revision, signature(r._mapping))
        for r in rows
    }
    ids = list(out)
    for k in range(0, len(ids), _CHUNK):
        chunk = ids[k : k + _CHUNK]
        for oid, eid in conn.execute(
            select(event_observations.c.observation_id, event_observations.c.event_id).where(
                event_observations.c.event_id.in_(chunk)
            )
        ):
            out[eid].members.add(oid)
        for pid, eid in conn.execute(
            select(event_parts.c.part_id, event_parts.c.event_id).where(event_parts.c.event_id.in_(chunk))
        ):
            out[eid].members.add(pid)
    return list(out.values())


def members_of(conn: Connection, event_id: str) -> tuple[list[str], list[str]]:
    """(report ids, blast ids) of one fused event."""
    reports = [
        o
        for (o,) in conn.execute(
            select(event_observations.c.observation_id).where(event_observations.c.event_id == event_id)
        )
    ]
    parts = [
        p for (p,) in conn.execute(select(event_parts.c.part_id).where(event_parts.c.event_id == event_id))
    ]
    return reports, parts


def set_members(conn: Connection, event_id: str, reports: Iterable[str], parts: Iterable[str]) -> None:
    """The event is made of exactly these reports and blasts from now on (they leave any other)."""
    reports, parts = list(reports), list(parts)
    conn.execute(delete(event_observations).where(event_observations.c.event_id == event_id))
    conn.execute(delete(event_parts).where(event_parts.c.event_id == event_id))
    for k in range(0, len(reports), _CHUNK):
        chunk = reports[k : k + _CHUNK]
        conn.execute(delete(event_observations).where(event_observations.c.observation_id.in_(chunk)))
        conn.execute(insert(event_observations), [{"observation_id": o, "event_id": event_id} for o in chunk])
    for k in range(0, len(parts), _CHUNK):
        chunk = parts[k : k + _CHUNK]
        conn.execute(delete(event_parts).where(event_parts.c.part_id.in_(chunk)))
        conn.execute(insert(event_parts), [{"part_id": p, "event_id": event_id} for p in chunk])


def insert_fused(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(events), list(rows))


def update_fused(
    conn: Connection, event_id: str, values: dict[str, Any], *, automatic_only: bool = False
) -> bool:
    """New content for one event: revision + 1. With `automatic_only` (the pipeline's writes),
    only if no analyst has made it manual meanwhile; returns whether it was written."""
    q = update(events).where(events.c.id == event_id)
    if automatic_only:
        q = q.where(events.c.evaluation_mode == "automatic", events.c.status == "preliminary")
    return bool(conn.execute(q.values(**values, revision=events.c.revision + 1)).rowcount == 1)


def held_by_analysts(conn: Connection, members: Iterable[str]) -> set[str]:
    """Which of these reports and blasts belong to an event an analyst has taken over."""
    wanted: list[str] = list(members)
    out: set[str] = set()
    for k in range(0, len(wanted), _CHUNK):
        chunk = wanted[k : k + _CHUNK]
        for table, col in (
            (event_observations, event_observations.c.observation_id),
            (event_parts, event_parts.c.part_id),
        ):
            q = (
                select(col)
                .join(events, events.c.id == table.c.event_id)
                .where(col.in_(chunk), events.c.evaluation_mode == "manual")
            )
            out.update(m for (m,) in conn.execute(q))
    return out


def set_violations(
    conn: Connection, event_id: str, breaches: Sequence[dict[str, Any]], new_ids: Iterable[str], now: datetime
) -> None:
    """The event's violations are these (provision_id, agreement_key, probability, party,
    party_probability); others it had are withdrawn."""
    have = {
        r.provision_id: r for r in conn.execute(select(violations).where(violations.c.event_id == event_id))
    }
    ids = iter(new_ids)
    wanted = {b["provision_id"] for b in breaches}
    for b in breaches:
        values = {**b, "status": "active", "updated_at": now}
        if b["provision_id"] in have:
            conn.execute(
                update(violations)
                .where(violations.c.event_id == event_id, violations.c.provision_id == b["provision_id"])
                .values(**values)
            )
        else:
            conn.execute(insert(violations).values(id=next(ids), event_id=event_id, created_at=now, **values))
    for provision_id, row in have.items():
        if provision_id not in wanted and row.status != "withdrawn":
            conn.execute(
                update(violations)
                .where(violations.c.event_id == event_id, violations.c.provision_id == provision_id)
                .values(status="withdrawn", updated_at=now)
            )


def set_violation_party(
    conn: Connection, event_id: str, party: str | None, probability: float | None
) -> None:
    conn.execute(
        update(violations)
        .where(violations.c.event_id == event_id)
        .values(party=party, party_probability=probability)
    )


# --- review acts ---------------------------------------------------------------------------------


def insert_act(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(review_acts).values(**row))


def acts_of(
    conn: Connection, event_id: str, *, after: int | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """The event's acts, oldest first; `after` is the seq of the last act of the previous page."""
    q = select(review_acts).where(review_acts.c.event_id == event_id)
    if after is not None:
        q = q.where(review_acts.c.seq > after)
    q = q.order_by(review_acts.c.seq).limit(limit)
    return [dict(r._mapping) for r in conn.execute(q)]


# --- reads for people ----------------------------------------------------------------------------


QUEUE_STATUSES = ("preliminary", "reviewed")  # no analyst has confirmed or rejected them yet


def queue_tier() -> Any:
    """0 for an event that breaches a provision, 1 for a lead (an event resting on allegations
    alone: it breaches nothing until a check finds something, and is listed after)."""
    return case((events.c.kind == "allegation", 1), else_=0)


def review_queue(
    conn: Connection, viewer: Principal, limit: int, after: tuple[int, float, int] | None
) -> list[dict[str, Any]]:
    """Fused events no analyst has confirmed or rejected (status preliminary, or reviewed: moved,
    merged, split) that breach something, most severe first, then the leads; `after` is the
    (tier, severity, seq) of the last row of the previous page. Each row has `lead`."""
    tier = queue_tier()
    sev = func.coalesce(events.c.severity, 0.0)
    conds: list[Any] = [
        events.c.kind.in_(FUSED_KINDS),
        events.c.status.in_(QUEUE_STATUSES),
        or_(sev > 0, events.c.kind == "allegation"),
        visible_events(viewer),
    ]
    if after is not None:
        t, s, seq = after
        conds.append(or_(tier > t, and_(tier == t, or_(sev < s, and_(sev == s, events.c.seq > seq)))))
    q = select(events, tier.label("tier")).where(*conds).order_by(tier, sev.desc(), events.c.seq).limit(limit)
    return [{**r._mapping, "lead": r.tier == 1} for r in conn.execute(q)]


@dataclass(frozen=True)
class ViolationFilter:
    viewer: Principal
    start: datetime | None = None
    end: datetime | None = None
    provisions: tuple[str, ...] = ()
    parties: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    include_withdrawn: bool = False
    after: tuple[datetime, int] | None = None
    limit: int = 1000


_VIOLATION_COLS = (
    violations.c.seq,
    violations.c.id,
    violations.c.event_id,
    violations.c.provision_id,
    violations.c.agreement_key,
    violations.c.probability,
    violations.c.party,
    violations.c.party_probability,
    violations.c.status,
    violations.c.created_at,
    violations.c.updated_at,
    events.c.kind,
    events.c.time,
    events.c.lon,
    events.c.lat,
    events.c.level,
    events.c.status.label("event_status"),
    events.c.evaluation_mode,
    events.c.weapon_class,
    events.c.rounds,
    events.c.casualties,
    events.c.fatalities,
    events.c.severity,
    events.c.attribution,
)


def list_violations(conn: Connection, f: ViolationFilter) -> list[dict[str, Any]]:
    """Violations whose event the viewer may see, in (event time, seq) order."""
    conds: list[Any] = [visible_events(f.viewer)]
    if not f.include_withdrawn:
        conds.append(violations.c.status == "active")
    if f.start is not None:
        conds.append(events.c.time >= f.start)
    if f.end is not None:
        conds.append(events.c.time < f.end)
    if f.provisions:
        conds.append(violations.c.provision_id.in_(f.provisions))
    if f.parties:
        conds.append(violations.c.party.in_(f.parties))
    if f.levels:
        conds.append(events.c.level.in_(f.levels))
    if f.after is not None:
        t, seq = f.after
        conds.append(or_(events.c.time > t, and_(events.c.time == t, violations.c.seq > seq)))
    q = (
        select(*_VIOLATION_COLS)
        .join(events, events.c.id == violations.c.event_id)
        .where(*conds)
        .order_by(events.c.time, violations.c.seq)
        .limit(f.limit)
    )
    return [dict(r._mapping) for r in conn.execute(q)]
