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
corroborated (a patrol tasked, say) before it is confirmed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, select

from garant.domain.access import Principal
from garant.domain.ids import new_ids
from garant.store import log as log_store
from garant.store import verified as vstore
from garant.store.agreements import current_agreement
from garant.store.db import Database
from garant.store.events import get_event
from garant.store.schema import events, observations, violations
from garant.transparency.leaves import review_act_leaf
from garant.verify.attribution import top_party

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
    observations: list[str] = field(default_factory=list)  # split: reports to move out
    parts: list[str] = field(default_factory=list)  # split: located blasts to move out
    assigned_to: str | None = None  # task
    instructions: str | None = None  # task
    task_id: str | None = None  # task_outcome: the task act it reports on
    found: bool | None = None  # task_outcome


def _need(cond: bool, status: int, name: str, reason: str) -> None:
    if not cond:
        raise ReviewError(status, name, reason)


def _validate(req: ReviewAct, parties: frozenset[str]) -> None:
    _need(req.act in ACTS, 422, "act", f"unknown act {req.act!r}; one of {', '.join(ACTS)}")
    _need(len(req.reason) <= 10_000, 422, "reason", "longer than 10,000 characters")
    if req.act in ("reject", "annotate", "relocate", "reattribute", "merge", "split"):
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


def apply(db: Database, event_id: str, req: ReviewAct, actor: Principal) -> dict[str, Any]:
    """Apply one act; returns the act as recorded (with `event` after it, and `new_event` for a split)."""
    now = datetime.now(UTC)
    act_id, new_event_id = new_ids(2)
    with db.write() as conn:
        agreement = current_agreement(conn)
        parties = agreement.party_codes() if agreement else frozenset()
        _validate(req, parties)
        event = _event(conn, event_id, actor)
        payload: dict[str, Any] = {}
        if event["status"] == "rejected":
            _need(
                req.act in ("annotate", "task", "task_outcome"),
                409,
                "act",
                "the event was rejected; only annotate it",
            )
        changes: dict[str, Any] = {}
        if req.act == "confirm":
            _need(
                event["kind"] != "allegation",
                409,
                "act",
                "an event resting on allegations alone is never verified: task a check",
            )
            _need(
                event["level"] == "corroborated" or bool(event["technical"]),
                409,
                "act",
                "reported by one source that is not a high-grade technical one: corroborate it first",
            )
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
            reports, parts = vstore.members_of(conn, event_id)
            changes = {"n_observations": len(reports) + len(parts)}
        elif req.act == "split":
            payload = {"new_event": new_event_id, **_split(conn, event, req, new_event_id, now)}
            reports, parts = vstore.members_of(conn, event_id)
            changes = {"n_observations": len(reports) + len(parts)}
        elif req.act == "task":
            payload = {"assigned_to": req.assigned_to, "instructions": req.instructions}
        elif req.act == "task_outcome":
            task = next(
                (a for a in vstore.acts_of(conn, event_id) if a["id"] == req.task_id and a["act"] == "task"),
                None,
            )
            _need(task is not None, 422, "task_id", f"no task {req.task_id!r} on this event")
            payload = {"task_id": req.task_id, "found": req.found}
        if req.act in CHANGES_EVENT:
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
            "reason": req.reason,
            "payload": orjson.dumps(payload).decode(),
        }
        vstore.insert_act(conn, row)
        leaf = review_act_leaf(act_id, event_id, req.act, actor.name, actor.org, now, req.reason, payload)
        log_store.Appender.open(conn, enabled=db.logged).append([("review_act", act_id, leaf)])
        after = get_event(conn, event_id, actor)
    return {**row, "payload": payload, "event": after}


def _event(conn: Connection, event_id: str, actor: Principal) -> dict[str, Any]:
    event = get_event(conn, event_id, actor)
    if event is None or event["kind"] not in vstore.FUSED_KINDS:
        raise ReviewError(404, "event_id", f"no event with id {event_id!r} in the verified bulletin")
    return event


def _merge(
    conn: Connection, event: dict[str, Any], others: list[str], actor: Principal, now: datetime
) -> list[str]:
    """Fold `others` into `event`: their members and violations move over, they are closed."""
    reports, parts = vstore.members_of(conn, event["id"])
    breaches = {b["provision_id"]: b for b in _active(conn, event["id"])}
    folded = []
    for oid in dict.fromkeys(others):
        _need(oid != event["id"], 422, "events", "an event cannot be merged into itself")
        other = _event(conn, oid, actor)
        _need(other["status"] != "rejected", 409, "events", f"event {oid} was rejected")
        r, p = vstore.members_of(conn, oid)
        reports += r
        parts += p
        for b in _active(conn, oid):
            if b["probability"] > breaches.get(b["provision_id"], {"probability": -1.0})["probability"]:
                breaches[b["provision_id"]] = b
        vstore.set_members(conn, oid, [], [])
        vstore.set_violations(conn, oid, [], iter(()), now)
        vstore.update_fused(
            conn,
            oid,
            {"status": "rejected", "level": "rejected", "evaluation_mode": "manual",
             "status_reason": f"merged into {event['id']}", "updated_at": now},
        )  # fmt: skip
        folded.append(oid)
    vstore.set_members(conn, event["id"], reports, parts)
    vstore.set_violations(conn, event["id"], list(breaches.values()), iter(new_ids(len(breaches))), now)
    return folded


def _breach(v: Any) -> dict[str, Any]:
    return {
        "provision_id": v.provision_id,
        "agreement_key": v.agreement_key,
        "probability": v.probability,
        "party": v.party,
        "party_probability": v.party_probability,
    }


def _active(conn: Connection, event_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(violations).where(violations.c.event_id == event_id, violations.c.status == "active")
    )
    return [_breach(v) for v in rows]


def _split(
    conn: Connection, event: dict[str, Any], req: ReviewAct, new_id: str, now: datetime
) -> dict[str, Any]:
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
    lon, lat = req.lon, req.lat
    if lon is None or lat is None:
        first = moving_r[0] if moving_r else None
        table, key = (observations, first) if first else (events, moving_p[0])
        row = conn.execute(select(table.c.lon, table.c.lat).where(table.c.id == key)).one()
        lon, lat = float(row.lon), float(row.lat)
    src = conn.execute(select(events).where(events.c.id == event["id"])).one()._mapping
    copy = {k: src[k] for k in src if k not in ("seq", "id")}
    copy.update(
        id=new_id,
        lon=lon,
        lat=lat,
        evaluation_mode="manual",
        status="reviewed",
        revision=1,
        n_observations=len(moving_r) + len(moving_p),
        created_at=now,
        updated_at=now,
        status_reason=f"split from {event['id']}",
    )
    vstore.insert_fused(conn, [copy])
    vstore.set_members(
        conn, event["id"], [r for r in reports if r not in moving_r], [p for p in parts if p not in moving_p]
    )
    vstore.set_members(conn, new_id, moving_r, moving_p)
    kept = _active(conn, event["id"])
    vstore.set_violations(conn, new_id, kept, iter(new_ids(len(kept))), now)
    return {"observations": moving_r, "parts": moving_p}
