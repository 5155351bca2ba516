"""The automatic bulletin in the database: events, their observations, the pipeline watermark.

Reads that serve people go through the access choke point: an event is shown only to those
who may see every observation it is made of (`garant.domain.access.may_see_derived`), and
its observation list is then theirs to read. Reads that feed the pipeline run as the system.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, and_, exists, func, insert, literal_column, not_, or_, select, update

from garant.domain.access import Principal
from garant.store.access import visible_observations
from garant.store.schema import (
    event_observations,
    event_parts,
    events,
    log_leaves,
    observations,
    pipeline_state,
)

ACOUSTIC = "acoustic_detection"
_CHUNK = 500


@dataclass(frozen=True)
class Detection:
    """An acoustic detection as the pipeline needs it."""

    id: str
    time: datetime
    sensor: tuple[str, str, float, float]  # nation, sensor id, lon, lat: a sensor where it stood
    azimuth_deg: float | None


def _detection(row: Any) -> Detection:
    payload = orjson.loads(row.payload)
    az = payload.get("azimuth_deg")
    return Detection(
        row.id,
        row.observed_at,
        (row.nation, str(payload["sensor_id"]), float(row.lon), float(row.lat)),
        None if az is None else float(az),
    )


_DET_COLS = (
    observations.c.id,
    observations.c.observed_at,
    observations.c.nation,
    observations.c.lon,
    observations.c.lat,
    observations.c.payload,
)


def watermark(conn: Connection, name: str) -> int:
    """The transparency-log index up to which the named pipeline has taken records in (-1: none).

    The log, not the observations' sequence, is the watermark: leaves are numbered under the
    log head's lock, held to commit, so every snapshot sees a gap-free prefix of them. A
    sequence number is drawn before that lock and can commit out of order on PostgreSQL.
    """
    value = conn.execute(select(pipeline_state.c.last_leaf).where(pipeline_state.c.name == name)).scalar()
    return -1 if value is None else int(value)


def advance_watermark(conn: Connection, name: str, seen: int, to: int, now: datetime) -> bool:
    """Move the watermark from `seen` to `to`; False if another run moved it first."""
    if seen == -1:
        present = conn.execute(select(pipeline_state.c.name).where(pipeline_state.c.name == name)).first()
        if present is not None:
            return False
        conn.execute(insert(pipeline_state).values(name=name, last_leaf=to, updated_at=now))
        return True
    done = conn.execute(
        update(pipeline_state)
        .where(pipeline_state.c.name == name, pipeline_state.c.last_leaf == seen)
        .values(last_leaf=to, updated_at=now)
    )
    return done.rowcount == 1


def new_detections(conn: Connection, after_leaf: int, limit: int) -> tuple[list[Detection], int]:
    """Acoustic detections logged after leaf `after_leaf`, in log order, at most `limit`; and
    the leaf the caller has then seen up to (the last one read, or the log's end if none)."""
    leaves = (
        select(log_leaves.c.idx, log_leaves.c.record_id)
        .where(log_leaves.c.idx > after_leaf, log_leaves.c.record_type == "observation")
        .subquery()
    )
    q = (
        select(*_DET_COLS, leaves.c.idx)
        .join(leaves, leaves.c.record_id == observations.c.id)
        .where(observations.c.kind == ACOUSTIC)
        .order_by(leaves.c.idx)
        .limit(limit)
    )
    rows = conn.execute(q).all()
    if len(rows) == limit:
        return [_detection(r) for r in rows], int(rows[-1].idx)
    end = conn.execute(select(log_leaves.c.idx).order_by(log_leaves.c.idx.desc()).limit(1)).scalar()
    return [_detection(r) for r in rows], max(after_leaf, -1 if end is None else int(end))


def pending_count(conn: Connection, after_leaf: int) -> int:
    """How many acoustic detections were logged after leaf `after_leaf` (for a progress bar)."""
    q = (
        select(func.count())
        .select_from(log_leaves.join(observations, observations.c.id == log_leaves.c.record_id))
        .where(
            log_leaves.c.idx > after_leaf,
            log_leaves.c.record_type == "observation",
            observations.c.kind == ACOUSTIC,
        )
    )
    return int(conn.execute(q).scalar_one())


@dataclass
class StoredEvent:
    id: str
    time: datetime
    lon: float
    lat: float
    revision: int
    members: list[Detection]


def context(
    conn: Connection,
    events_from: datetime,
    events_to: datetime,
    free_from: datetime,
    free_to: datetime,
    taken_in_upto: int,
) -> tuple[list[StoredEvent], list[Detection]]:
    """What new detections may touch: the live automatic acoustic events with an origin time in
    [events_from, events_to] (with all their detections), and the detections of that kind in
    [free_from, free_to] that the pipeline has taken in (logged at or before leaf
    `taken_in_upto`) and no event has taken. Detections logged later are not free: they are
    a later batch's new ones, and would otherwise be linked twice."""
    ev_rows = conn.execute(
        select(events.c.id, events.c.time, events.c.lon, events.c.lat, events.c.revision)
        .where(
            events.c.kind == "acoustic",
            events.c.evaluation_mode == "automatic",  # an analyst's event is never moved by a re-run
            events.c.status != "rejected",
            events.c.time >= events_from,
            events.c.time <= events_to,
        )
        .order_by(events.c.seq)
    ).all()
    stored = {r.id: StoredEvent(r.id, r.time, r.lon, r.lat, r.revision, []) for r in ev_rows}
    ids = list(stored)
    for k in range(0, len(ids), _CHUNK):
        q = (
            select(*_DET_COLS, event_observations.c.event_id)
            .join(event_observations, event_observations.c.observation_id == observations.c.id)
            .where(event_observations.c.event_id.in_(ids[k : k + _CHUNK]))
        )
        for r in conn.execute(q):
            stored[r.event_id].members.append(_detection(r))
    taken = exists(
        select(literal_column("1")).where(event_observations.c.observation_id == observations.c.id)
    )
    seen = exists(
        select(literal_column("1")).where(
            log_leaves.c.record_type == "observation",
            log_leaves.c.record_id == observations.c.id,
            log_leaves.c.idx <= taken_in_upto,
        )
    )
    free = conn.execute(
        select(*_DET_COLS).where(
            observations.c.kind == ACOUSTIC,
            observations.c.observed_at >= free_from,
            observations.c.observed_at <= free_to,
            not_(taken),
            seen,
        )
    )
    return list(stored.values()), [_detection(r) for r in free]


def insert_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(events), list(rows))


def update_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """New location, uncertainty and count of events that gained observations; revision + 1."""
    for r in rows:
        conn.execute(
            update(events)
            .where(events.c.id == r["id"])
            .values(
                time=r["time"],
                lon=r["lon"],
                lat=r["lat"],
                semi_major_m=r["semi_major_m"],
                semi_minor_m=r["semi_minor_m"],
                azimuth_deg=r["azimuth_deg"],
                rms_s=r["rms_s"],
                n_observations=r["n_observations"],
                updated_at=r["updated_at"],
                revision=events.c.revision + 1,
            )
        )


def link(conn: Connection, pairs: Sequence[tuple[str, str]]) -> None:
    """(observation id, event id) pairs: the observation now explains that event."""
    if pairs:
        conn.execute(insert(event_observations), [{"observation_id": o, "event_id": e} for o, e in pairs])


# --- reads for people --------------------------------------------------------------------------


def visible_events(viewer: Principal) -> Any:
    """Events all of whose observations the viewer may see: its own, and for a fused event
    those of the located blasts it is made of."""
    member = observations.alias("member")
    hidden = exists(
        select(literal_column("1"))
        .select_from(event_observations.join(member, member.c.id == event_observations.c.observation_id))
        .where(event_observations.c.event_id == events.c.id, not_(visible_observations(viewer, member)))
    )
    part_obs = event_observations.alias("part_obs")
    part_member = observations.alias("part_member")
    hidden_part = exists(
        select(literal_column("1"))
        .select_from(
            event_parts.join(part_obs, part_obs.c.event_id == event_parts.c.part_id).join(
                part_member, part_member.c.id == part_obs.c.observation_id
            )
        )
        .where(event_parts.c.event_id == events.c.id, not_(visible_observations(viewer, part_member)))
    )
    return and_(not_(hidden), not_(hidden_part))


@dataclass(frozen=True)
class EventFilter:
    viewer: Principal
    start: datetime | None = None
    end: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None
    kinds: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    after: tuple[datetime, int] | None = None
    limit: int = 1000


def list_events(conn: Connection, f: EventFilter) -> list[dict[str, Any]]:
    """Events matching `f` that the viewer may see, in (time, seq) order, at most `f.limit`."""
    conds: list[Any] = [visible_events(f.viewer)]
    if f.start is not None:
        conds.append(events.c.time >= f.start)
    if f.end is not None:
        conds.append(events.c.time < f.end)
    if f.bbox is not None:
        x1, y1, x2, y2 = f.bbox
        conds += [events.c.lon >= x1, events.c.lon <= x2, events.c.lat >= y1, events.c.lat <= y2]
    if f.kinds:
        conds.append(events.c.kind.in_(f.kinds))
    if f.statuses:
        conds.append(events.c.status.in_(f.statuses))
    if f.after is not None:
        t, seq = f.after
        conds.append(or_(events.c.time > t, and_(events.c.time == t, events.c.seq > seq)))
    q = select(events).where(*conds).order_by(events.c.time, events.c.seq).limit(f.limit)
    return [dict(r._mapping) for r in conn.execute(q)]


def get_event(conn: Connection, event_id: str, viewer: Principal) -> dict[str, Any] | None:
    """One event with its observation ids, if it exists and the viewer may see it; else None."""
    row = conn.execute(select(events).where(events.c.id == event_id, visible_events(viewer))).first()
    if row is None:
        return None
    out = dict(row._mapping)
    q = (
        select(event_observations.c.observation_id)
        .join(observations, observations.c.id == event_observations.c.observation_id)
        .where(event_observations.c.event_id == event_id)
        .order_by(observations.c.observed_at, observations.c.seq)
    )
    out["observations"] = [o for (o,) in conn.execute(q)]
    if out["kind"] != "acoustic":
        parts = (
            select(event_parts.c.part_id)
            .where(event_parts.c.event_id == event_id)
            .order_by(event_parts.c.part_id)
        )
        out["parts"] = [p for (p,) in conn.execute(parts)]
    return out
