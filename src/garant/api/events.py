"""`/api/v1/events`: the bulletin as GeoJSON (filters, keyset pagination), and its review.

Two layers share the list: located blasts (kind `acoustic`) and the verified bulletin's fused
events (kind fire, presence, advance, air, interference, allegation), which add the origin,
the attribution (probability per party, or null with the reason), the verification level and
the severity. An event is listed only to callers who may see every observation it is made of
(through its blasts too); for the others it does not exist (404 alike). Uncertainties are 95%
ellipses in metres. Analysts act on fused events with `POST /api/v1/events/{id}/acts`; the
queue of events awaiting review is `/api/v1/review-queue`, the violations `/api/v1/violations`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from garant.api.auth import Reader, audit, require
from garant.api.observations import (
    GEOJSON,
    _aware,
    _csv_values,
    _json,
    _parse_bbox,
    decode_cursor,
    feature_page,
    pack_cursor,
    unpack_cursor,
)
from garant.api.problems import Problem, json_body, pointer, validation_problem
from garant.api.state import AppState, app_state
from garant.domain.access import Permission, Principal
from garant.services import review
from garant.services.bulletin_views import act_json, event_feature
from garant.services.review import ACTS, ReviewAct
from garant.store import events as ev_store
from garant.store import verified as vstore

router = APIRouter(prefix="/api/v1/events", tags=["events"])


@router.get("", summary="List bulletin events as GeoJSON (filters, keyset pagination)")
def list_events(
    request: Request,
    who: Reader,
    state: AppState = Depends(app_state),
    start: Annotated[datetime | None, Query(description="origin time >= start (ISO 8601, offset)")] = None,
    end: Annotated[datetime | None, Query(description="origin time < end (ISO 8601 with offset)")] = None,
    bbox: Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat (WGS84)")] = None,
    kind: Annotated[
        list[str] | None,
        Query(description="event kind(s): acoustic, fire, presence, advance, air, interference, allegation"),
    ] = None,
    status: Annotated[
        list[str] | None, Query(description="preliminary, confirmed, reviewed, rejected")
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    chosen = ev_store.EventFilter(
        viewer=who,
        start=_aware("start", start, request.query_params.get("start")),
        end=_aware("end", end, request.query_params.get("end")),
        bbox=_parse_bbox(bbox) if bbox else None,
        kinds=_csv_values(kind),
        statuses=_csv_values(status),
        after=decode_cursor(cursor) if cursor else None,
        limit=limit + 1,
    )
    with state.db.read() as conn:
        rows = ev_store.list_events(conn, chosen)
    more, rows = len(rows) > limit, rows[:limit]
    if rows and who.authenticated:
        audit(state, request, who, "read_events", "ok", {"ids": [r["id"] for r in rows]})
    return feature_page(request, [event_feature(r) for r in rows], rows, more, "time")


@router.get("/{event_id}", summary="One bulletin event with the ids of its observations")
def get_event(event_id: str, request: Request, who: Reader, state: AppState = Depends(app_state)) -> Response:
    with state.db.read() as conn:
        row = ev_store.get_event(conn, event_id, who)
    if row is None:  # absent, or made of something not released to the caller: the same answer
        raise Problem(404, f"no event with id {event_id!r}")
    if who.authenticated:
        audit(state, request, who, "read_events", "ok", {"ids": [row["id"]]})
    return _json(event_feature(row), media_type=GEOJSON)


class ActIn(BaseModel):
    """A review act; which fields it needs depends on `act` (docs/verification.md)."""

    model_config = ConfigDict(extra="forbid")

    act: str = Field(description=f"one of {', '.join(ACTS)}")
    reason: str = Field(
        default="", max_length=10_000, description="why (required; a task's instructions stand for it)"
    )
    lon: float | None = Field(default=None, description="relocate, split: the new place")
    lat: float | None = None
    semi_major_m: float | None = None
    semi_minor_m: float | None = None
    azimuth_deg: float | None = Field(default=None, ge=0, le=360)
    attribution: dict[str, float] | None = Field(
        default=None, description="reattribute: party -> probability"
    )
    undetermined: bool = False
    events: list[str] = Field(default_factory=list, max_length=1000, description="merge: events folded in")
    observations: list[str] = Field(
        default_factory=list,
        max_length=10_000,
        description="split: reports to move out; task_outcome: the patrol's reports, which join the event",
    )
    parts: list[str] = Field(default_factory=list, max_length=10_000, description="split: located blasts")
    assigned_to: str | None = Field(default=None, max_length=200, description="task: who checks")
    instructions: str | None = Field(default=None, max_length=10_000)
    task_id: str | None = Field(default=None, max_length=64, description="task_outcome: the task act")
    found: bool | None = None


@router.post("/{event_id}/acts", status_code=201, summary="Review an event: one act, recorded and logged")
async def post_act(
    event_id: str,
    request: Request,
    who: Annotated[Principal, Depends(require(Permission.REVIEW_EVENTS))],
    state: AppState = Depends(app_state),
) -> Response:
    raw = await request.body()
    try:
        body = ActIn.model_validate(json_body(raw))
    except ValidationError as exc:
        raise validation_problem(exc, "the review act is not valid") from exc
    try:
        act = ReviewAct(**body.model_dump())
        bursts = state.settings.burst_params()
        done = await run_in_threadpool(review.apply, state.db, event_id, act, who, bursts)
    except review.ReviewError as exc:
        errors = [{"pointer": pointer([exc.field]), "field": exc.field, "reason": exc.reason}]
        raise Problem(
            exc.status, exc.reason if exc.status == 404 else "the act was refused", errors=errors
        ) from exc
    state.after_write()
    audit(state, request, who, "review_event", "ok", {"ids": [event_id], "act": done["act"]})
    out = act_json(done)
    out["event"] = event_feature(done["event"]) if done["event"] else None
    return _json(out, status=201)


@router.get("/{event_id}/acts", summary="The review acts on one event, oldest first (keyset pagination)")
def list_acts(
    event_id: str,
    request: Request,
    who: Reader,
    state: AppState = Depends(app_state),
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    after = unpack_cursor(cursor, int)[0] if cursor else None
    with state.db.read() as conn:
        if ev_store.get_event(conn, event_id, who) is None:
            raise Problem(404, f"no event with id {event_id!r}")
        rows = vstore.acts_of(conn, event_id, after=after, limit=limit + 1)
    more, rows = len(rows) > limit, rows[:limit]
    next_url = str(request.url.include_query_params(cursor=pack_cursor([rows[-1]["seq"]]))) if more else None
    return _json(
        {"acts": [act_json(r) for r in rows], "numberReturned": len(rows), "links": {"next": next_url}}
    )
