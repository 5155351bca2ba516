"""Analyst review of the verified bulletin: every act a record, every event keeps its id.

The CTBTO's practice applied to a ceasefire: the automatic bulletin first, then an analyst
confirms, rejects (with a reason), merges, splits (reassigns reports and blasts to a new event),
relocates, re-attributes or annotates each event, and may task a patrol to check it. Each act
is a row of `review_acts` (who, organisation, when, why, what it set) and a leaf of the
transparency log, written in the same transaction as its effect. An act that changes an event
makes it manual (`evaluation_mode`), so no later run of the pipeline moves it
(`garant.services.verification` holds its members out), and adds a revision.

Rules that protect the grade: an event resting only on allegations is never verified, however
many; an event reported by a single source that is not a high-grade technical one must be
corroborated (a patrol tasked, say) before it is confirmed. An act that changes what an event is
made of or where it is (merge, split, relocate, a patrol's reports joining it) judges it again
with the engine's own rules (`garant.verify.rebuild`): kind, level, technical flag, origin,
attribution (unless an analyst re-attributed it), violations at its place and severity; a
violation it no longer breaches is withdrawn, never deleted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, select

from garant.domain.access import Principal
from garant.domain.ids import new_ids
from garant.geo.engine import Geography
from garant.services.verification import _breaches, _row
from garant.store import log as log_store
from garant.store import verified as vstore
from garant.store.access import visible_ids
from garant.store.agreements import current_agreement
from garant.store.db import Database
from garant.store.events import get_event, visible_events
from garant.store.schema import event_observations, events, observations
from garant.transparency.leaves import review_act_leaf
from garant.verify.attribution import top_party
from garant.verify.bursts import BurstParams
from garant.verify.rebuild import NoEvent, Place, rebuild

ACTS = ("confirm", "reject", "relocate", "reattribute", "annotate", "merge", "split", "task", "task_outcome")
CHANGES_EVENT = frozenset({"confirm", "reject", "relocate", "reattribute", "merge", "split"})


class ReviewError(Exception):
    """A review act refused: HTTP status, the field at fault and why."""

    def __init__(self, status: int, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.status = status
        self.field = field
        self.reason = reason


@dataclass
class ReviewAct:
    """What an analyst asks for; which fields matter depends on `act`."""

    act: str
    reason: str = ""
    lon: float | None = None
    lat: float | None = None
    semi_major_m: float | None = None
    semi_minor_m: float | None = None
    azimuth_deg: float | None = None
    attribution: dict[str, float] | None = None
    undetermined: bool = False
    events: list[str] = field(default_factory=list)  # merge: the events folded into this one
    # split: reports to move out; task_outcome: the reports the patrol filed, which join the event
    observations: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)  # split: located blasts to move out
    assigned_to: str | None = None  # task
    instructions: str | None = None  # task
    task_id: str | None = None  # task_outcome: the task act it reports on
    found: bool | None = None  # task_outcome

    @property
    def why(self) -> str:
        """The reason recorded: a task's instructions stand for it when no reason is given."""
        if self.act == "task" and not self.reason.strip():
            return self.instructions or ""
        return self.reason


def _need(cond: bool, status: int, name: str, reason: str) -> None:
    if not cond:
        raise ReviewError(status, name, reason)


def _validate(req: ReviewAct, parties: frozenset[str]) -> None:
    _need(req.act in ACTS, 422, "act", f"unknown act {req.act!r}; one of {', '.join(ACTS)}")
    _need(len(req.reason) <= 10_000, 422, "reason", "longer than 10,000 characters")
    if req.act != "task":  # a task's instructions are its why
        _need(bool(req.reason.strip()), 422, "reason", f"a {req.act} needs a reason")
    if req.act == "relocate" or (req.act == "split" and req.lon is not None):
        _need(req.lon is not None and -180 <= req.lon <= 180, 422, "lon", "a longitude in [-180, 180]")
        _need(req.lat is not None and -90 <= req.lat <= 90, 422, "lat", "a latitude in [-90, 90]")
        for name in ("semi_major_m", "semi_minor_m"):
            v = getattr(req, name)
            _need(v is None or (math.isfinite(v) and v >= 0), 422, name, "metres, zero or more")
        if req.semi_major_m is not None and req.semi_minor_m is not None:
            _need(req.semi_minor_m <= req.semi_major_m, 422, "semi_minor_m", "must not exceed semi_major_m")
    if req.act == "reattribute":
        if req.undetermined:
            _need(req.attribution is None, 422, "attribution", "give either attribution or undetermined")
        else:
            a = req.attribution
            _need(bool(a), 422, "attribution", "a probability per party (or undetermined: true)")
            assert a is not None
            unknown = sorted(set(a) - parties)
            _need(
                not unknown,
                422,
                "attribution",
                f"unknown party {unknown}; the agreement names {sorted(parties)}",
            )
            _need(all(0.0 <= p <= 1.0 for p in a.values()), 422, "attribution", "probabilities in [0, 1]")
            _need(abs(sum(a.values()) - 1.0) <= 1e-6, 422, "attribution", "probabilities must sum to 1")
    if req.act == "merge":
        _need(bool(req.events), 422, "events", "the ids of the events to fold into this one")
    if req.act == "split":
        _need(
            bool(req.observations or req.parts),
            422,
            "observations",
            "the reports or blasts to move to a new event",
        )
    if req.act == "task":
        _need(bool(req.assigned_to), 422, "assigned_to", "who is tasked (a patrol, a team)")
        _need(bool(req.instructions), 422, "instructions", "what to check")
    if req.act == "task_outcome":
        _need(bool(req.task_id), 422, "task_id", "the id of the task act this reports on")
        _need(req.found is not None, 422, "found", "whether the check found what the event says")
        _need(len(set(req.observations)) <= 1000, 422, "observations", "at most 1,000 reports")


def apply(
    db: Database, event_id: str, req: ReviewAct, actor: Principal, bursts: BurstParams | None = None
) -> dict[str, Any]:
    """Apply one act; returns the act as recorded (with `event` after it, and `new_event` for a split).
    `bursts`: the acoustic network's speed and timing, as the pipeline has them (the server's
    settings), for bursts located again when an act judges an event anew."""
    now = datetime.now(UTC)
    act_id, new_event_id = new_ids(2)
    with db.write() as conn:
        agreement = current_agreement(conn)
        parties = agreement.party_codes() if agreement else frozenset()
        _validate(req, parties)
        event = _event(conn, event_id, actor)
        payload: dict[str, Any] = {}
        joins = req.act == "task_outcome" and bool(req.observations)
        if event["status"] == "rejected":
            _need(
                req.act in ("annotate", "task", "task_outcome") and not joins,
                409,
                "act",
                "the event was rejected; only annotate it",
            )
        acts = vstore.acts_of(conn, event_id)
        relocated = any(a["act"] == "relocate" for a in acts)
        reattributed = any(a["act"] == "reattribute" for a in acts)
        changes: dict[str, Any] = {}
        assess = False
        if req.act == "confirm":
            refusal = _unconfirmable(event["kind"], event["level"], bool(event["technical"]))
            _need(refusal is None, 409, "act", refusal or "")
            changes = {"status": "confirmed", "level": "verified"}
        elif req.act == "reject":
            changes = {"status": "rejected", "level": "rejected", "status_reason": req.reason}
            vstore.set_violations(conn, event_id, [], iter(()), now)
        elif req.act == "relocate":
            changes = {"lon": req.lon, "lat": req.lat}
            for name in ("semi_major_m", "semi_minor_m", "azimuth_deg"):
                if getattr(req, name) is not None:
                    changes[name] = getattr(req, name)
            payload = dict(changes)
            relocated = assess = True
        elif req.act == "reattribute":
            probs = None if req.undetermined else req.attribution
            changes = {
                "attribution": None if probs is None else orjson.dumps(probs).decode(),
                "status_reason": req.reason if probs is None else None,
            }
            party, pp = top_party(probs)
            vstore.set_violation_party(conn, event_id, party, pp)
            payload = {"attribution": probs}
        elif req.act == "merge":
            payload = {"events": _merge(conn, event, req.events, actor, now)}
            assess = True
        elif req.act == "split":
            payload = {"new_event": new_event_id, **_split(conn, event, req, new_event_id, now, bursts)}
            assess = True
        elif req.act == "task":
            payload = {"assigned_to": req.assigned_to, "instructions": req.instructions}
        elif req.act == "task_outcome":
            task = next((a for a in acts if a["id"] == req.task_id and a["act"] == "task"), None)
            _need(task is not None, 422, "task_id", f"no task {req.task_id!r} on this event")
            payload = {"task_id": req.task_id, "found": req.found}
            if joins:
                payload["observations"] = _join(conn, event, req.observations, actor, now, bursts)
                assess = True
        if assess:
            place = _place({**event, **changes}) if relocated else None
            row, breaches = _reassess(conn, {**event, **changes}, place, reattributed, now, bursts=bursts)
            changes.update(row)
            vstore.set_violations(conn, event_id, breaches, iter(new_ids(len(breaches))), now)
            payload["assessment"] = _summary(row, breaches)
        if req.act in CHANGES_EVENT or joins:
            if req.act != "confirm" and req.act != "reject" and event["status"] == "preliminary":
                changes.setdefault("status", "reviewed")
            vstore.update_fused(conn, event_id, {**changes, "evaluation_mode": "manual", "updated_at": now})
        row = {
            "id": act_id,
            "event_id": event_id,
            "act": req.act,
            "actor": actor.name,
            "actor_org": actor.org,
            "at": now,
            "reason": req.why,
            "payload": orjson.dumps(payload).decode(),
        }
        vstore.insert_act(conn, row)
        leaf = review_act_leaf(act_id, event_id, req.act, actor.name, actor.org, now, req.why, payload)
        log_store.Appender.open(conn, enabled=db.logged).append([("review_act", act_id, leaf)])
        after = get_event(conn, event_id, actor)
    return {**row, "payload": payload, "event": after}


def _unconfirmable(kind: str, level: str, technical: bool) -> str | None:
    """Why an event with this kind and level may not be verified, or None."""
    if kind == "allegation":
        return "an event resting on allegations alone is never verified: task a check"
    if level not in ("corroborated", "verified") and not technical:
        return "reported by one source that is not a high-grade technical one: corroborate it first"
    return None


def _event(conn: Connection, event_id: str, actor: Principal) -> dict[str, Any]:
    event = get_event(conn, event_id, actor)
    if event is None or event["kind"] not in vstore.FUSED_KINDS:
        raise ReviewError(404, "event_id", f"no event with id {event_id!r} in the verified bulletin")
    return event


def _place(event: dict[str, Any]) -> Place:
    """An analyst's place of the event, as stored (after a relocation)."""
    ellipse = (event["semi_major_m"], event["semi_minor_m"], event["azimuth_deg"])
    return float(event["lon"]), float(event["lat"]), ellipse


def _reassess(
    conn: Connection,
    event: dict[str, Any],
    place: Place | None,
    keep_attribution: bool,
    now: datetime,
    members: tuple[Sequence[str], Sequence[str]] | None = None,
    bursts: BurstParams | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The event judged again from its members (or `members`) by the pipeline's own code: the
    columns to write and its breaches. An analyst's place (`place`) and attribution (when
    `keep_attribution`) stand; a confirmed event that no longer qualifies goes back to reviewed."""
    reports, parts = members if members is not None else vstore.members_of(conn, event["id"])
    agreement = current_agreement(conn, event["time"])
    if agreement is None:
        raise ReviewError(409, "act", "no agreement is loaded to judge the event against")
    try:
        v = rebuild(
            vstore.reports_by_id(conn, list(reports)),
            vstore.blasts_by_id(conn, list(parts)),
            agreement,
            Geography.of(agreement),
            place,
            bursts,
        )
    except NoEvent as e:
        raise ReviewError(422, "observations", str(e)) from e
    row = _row(v, now)
    row["n_observations"] = len(reports) + len(parts)
    if place is not None or not math.isfinite(v.lon):
        for name in ("lon", "lat", "semi_major_m", "semi_minor_m", "azimuth_deg"):
            row.pop(name)
    breaches = _breaches(v)
    if keep_attribution:
        row.pop("attribution")
        row.pop("status_reason")
        party, pp = top_party(orjson.loads(event["attribution"]) if event["attribution"] else None)
        breaches = [{**b, "party": party, "party_probability": pp} for b in breaches]
    if event["status"] == "confirmed":
        if _unconfirmable(row["kind"], row["level"], bool(row["technical"])) is None:
            row["level"] = "verified"
        else:
            row["status"] = "reviewed"
    return row, breaches


def _summary(row: dict[str, Any], breaches: list[dict[str, Any]]) -> dict[str, Any]:
    """What a re-assessment set, for the act's record."""
    return {
        "kind": row["kind"],
        "level": row["level"],
        "technical": bool(row["technical"]),
        "provisions": sorted(b["provision_id"] for b in breaches),
    }


def _merge(
    conn: Connection, event: dict[str, Any], others: list[str], actor: Principal, now: datetime
) -> list[str]:
    """Fold `others` into `event`: their members move over, they are closed (their violations
    withdrawn); the event is then judged again from all its members (by the caller)."""
    reports, parts = vstore.members_of(conn, event["id"])
    folded = []
    for oid in dict.fromkeys(others):
        _need(oid != event["id"], 422, "events", "an event cannot be merged into itself")
        other = _event(conn, oid, actor)
        _need(other["status"] != "rejected", 409, "events", f"event {oid} was rejected")
        r, p = vstore.members_of(conn, oid)
        reports += r
        parts += p
        _close(conn, oid, f"merged into {event['id']}", now)
        folded.append(oid)
    vstore.set_members(conn, event["id"], reports, parts)
    return folded


def _close(
    conn: Connection, event_id: str, reason: str, now: datetime, *, automatic_only: bool = False
) -> None:
    """An event left with nothing: closed (rejected, with the reason), never deleted."""
    values = {"status": "rejected", "level": "rejected", "status_reason": reason, "updated_at": now}
    if not automatic_only:
        values["evaluation_mode"] = "manual"
    if vstore.update_fused(conn, event_id, values, automatic_only=automatic_only):
        vstore.set_members(conn, event_id, [], [])
        vstore.set_violations(conn, event_id, [], iter(()), now)


def _split(
    conn: Connection,
    event: dict[str, Any],
    req: ReviewAct,
    new_id: str,
    now: datetime,
    bursts: BurstParams | None,
) -> dict[str, Any]:
    """Move some members to a new manual event, judged from those alone (with its own breaches);
    the rest stay (the caller judges the event again)."""
    reports, parts = vstore.members_of(conn, event["id"])
    strangers = sorted((set(req.observations) - set(reports)) | (set(req.parts) - set(parts)))
    _need(not strangers, 422, "observations", f"not members of this event: {strangers}")
    moving_r = [r for r in reports if r in set(req.observations)]
    moving_p = [p for p in parts if p in set(req.parts)]
    _need(
        len(moving_r) + len(moving_p) < len(reports) + len(parts),
        422,
        "observations",
        "a split must leave something in the event",
    )
    place: Place | None = None
    if req.lon is not None and req.lat is not None:
        ellipse = None
        if req.semi_major_m is not None:
            minor = req.semi_minor_m if req.semi_minor_m is not None else req.semi_major_m
            ellipse = (req.semi_major_m, minor, req.azimuth_deg or 0.0)
        place = (req.lon, req.lat, ellipse)
    first = moving_r[0] if moving_r else None
    table, key = (observations, first) if first else (events, moving_p[0])
    at = conn.execute(select(table.c.lon, table.c.lat).where(table.c.id == key)).one()
    src = conn.execute(select(events).where(events.c.id == event["id"])).one()._mapping
    copy = {k: src[k] for k in src if k not in ("seq", "id")}
    copy.update(
        id=new_id,
        lon=float(at.lon) if place is None else place[0],
        lat=float(at.lat) if place is None else place[1],
        status="reviewed",
        evaluation_mode="manual",
    )
    row, breaches = _reassess(conn, copy, place, False, now, (moving_r, moving_p), bursts)
    copy.update(row)
    if place is not None and place[2] is not None:
        copy.update(semi_major_m=place[2][0], semi_minor_m=place[2][1], azimuth_deg=place[2][2])
    copy.update(
        status="reviewed",
        revision=1,
        created_at=now,
        updated_at=now,
        status_reason=row.get("status_reason") or f"split from {event['id']}",
    )
    vstore.insert_fused(conn, [copy])
    vstore.set_members(
        conn, event["id"], [r for r in reports if r not in moving_r], [p for p in parts if p not in moving_p]
    )
    vstore.set_members(conn, new_id, moving_r, moving_p)
    vstore.set_violations(conn, new_id, breaches, iter(new_ids(len(breaches))), now)
    return {"observations": moving_r, "parts": moving_p, "new_assessment": _summary(row, breaches)}


def _join(
    conn: Connection,
    event: dict[str, Any],
    wanted: list[str],
    actor: Principal,
    now: datetime,
    bursts: BurstParams | None,
) -> list[str]:
    """A patrol's reports join the event (the caller judges it again). They must be accepted
    observations the analyst may see, and not acoustic arrivals; an automatic event they were
    fused into keeps the rest of its members (judged again) or, left with none, is closed. An
    event an analyst holds keeps its own: merge it instead."""
    ids = list(dict.fromkeys(wanted))
    seen = visible_ids(conn, actor, ids)
    unknown = [i for i in ids if i not in seen]
    _need(not unknown, 422, "observations", f"no accepted observation you may see with id {unknown}")
    kinds = dict(
        conn.execute(select(observations.c.id, observations.c.kind).where(observations.c.id.in_(ids))).all()
    )
    arrivals = [i for i in ids if kinds[i] == "acoustic_detection"]
    _need(not arrivals, 422, "observations", f"acoustic arrivals are not a patrol's report: {arrivals}")
    holders = conn.execute(
        select(events.c.id, events.c.evaluation_mode)
        .join(event_observations, event_observations.c.event_id == events.c.id)
        .where(event_observations.c.observation_id.in_(ids), events.c.id != event["id"])
        .distinct()
    ).all()
    held = sorted(h.id for h in holders if h.evaluation_mode == "manual")
    if held:  # name only the events this analyst may see
        shown = set(
            conn.execute(select(events.c.id).where(events.c.id.in_(held), visible_events(actor))).scalars()
        )
        hidden = len(held) - len(shown)
        named = f"{sorted(shown)}" + (f" and {hidden} you may not see" if hidden else "")
        raise ReviewError(
            409, "observations", f"already in events an analyst holds: {named}; merge them instead"
        )
    reports, parts = vstore.members_of(conn, event["id"])
    vstore.set_members(conn, event["id"], [*reports, *(i for i in ids if i not in reports)], parts)
    for h in holders:
        left = vstore.members_of(conn, h.id)
        if not left[0] and not left[1]:
            _close(conn, h.id, f"its reports joined event {event['id']} on a patrol's check", now,
                   automatic_only=True)  # fmt: skip
            continue
        other = conn.execute(select(events).where(events.c.id == h.id)).one()._mapping
        row, breaches = _reassess(conn, dict(other), None, False, now, left, bursts)
        if vstore.update_fused(conn, h.id, row, automatic_only=True):
            vstore.set_violations(conn, h.id, breaches, iter(new_ids(len(breaches))), now)
    return ids
