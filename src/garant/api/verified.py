"""The verified bulletin's other views: the analysts' review queue, violations, the figures.

- `GET /api/v1/review-queue`: fused events no analyst has confirmed or rejected (status
  preliminary or reviewed) that breach a provision, most severe first (casualties, heavy
  weapons, size of the fire), then the leads (events resting on allegations alone, `lead`
  true), to be tasked;
- `GET /api/v1/violations`: one GeoJSON Feature per violation (provision, agreement version,
  attributed party with its probability, verification level), filtered and paginated;
- `GET /api/v1/stats`: daily and rolling counts of verified violations (incidents and violation
  rows) by party, provision, weapon class and sector, and the agreement's credible-cessation
  indicator (`garant.services.stats`).
Every list passes the same need-to-know filter as the events.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from garant.api.auth import Reader, audit, require
from garant.api.observations import (
    GEOJSON,
    _aware,
    _csv_values,
    _json,
    decode_cursor,
    feature_page,
    pack_cursor,
    unpack_cursor,
)
from garant.api.problems import Problem
from garant.api.state import AppState, app_state
from garant.domain.access import Permission, Principal
from garant.services.bulletin_views import event_feature, violation_feature
from garant.services.stats import PARTY_THRESHOLD, ROLLING_DAYS, ceasefire_figures
from garant.store import verified as vstore

router = APIRouter(prefix="/api/v1", tags=["verification"])


@router.get("/review-queue", summary="Events awaiting review, most severe first, then leads (GeoJSON)")
def review_queue(
    request: Request,
    who: Annotated[Principal, Depends(require(Permission.REVIEW_EVENTS))],
    state: AppState = Depends(app_state),
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    after = unpack_cursor(cursor, int, float, int) if cursor else None
    with state.db.read() as conn:
        rows = vstore.review_queue(conn, who, limit + 1, after)
    more, rows = len(rows) > limit, rows[:limit]
    next_url = None
    if more:
        last = rows[-1]
        key = [last["tier"], last["severity"] or 0.0, last["seq"]]
        next_url = str(request.url.include_query_params(cursor=pack_cursor(key)))
    if rows:
        audit(state, request, who, "read_events", "ok", {"ids": [r["id"] for r in rows]})
    features = [event_feature(r) for r in rows]
    for f, r in zip(features, rows, strict=True):
        f["properties"]["lead"] = r["lead"]
    body = {
        "type": "FeatureCollection",
        "features": features,
        "numberReturned": len(rows),
        "links": {"next": next_url},
    }
    return _json(body, media_type=GEOJSON)


@router.get("/violations", summary="Violations as GeoJSON (filters, keyset pagination)")
def list_violations(
    request: Request,
    who: Reader,
    state: AppState = Depends(app_state),
    start: Annotated[datetime | None, Query(description="event time >= start (ISO 8601, offset)")] = None,
    end: Annotated[datetime | None, Query(description="event time < end (ISO 8601 with offset)")] = None,
    provision: Annotated[list[str] | None, Query(description="provision id(s)")] = None,
    party: Annotated[list[str] | None, Query(description="attributed party code(s)")] = None,
    level: Annotated[
        list[str] | None, Query(description="reported, corroborated, verified, rejected")
    ] = None,
    withdrawn: Annotated[bool, Query(description="include violations a later revision withdrew")] = False,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    chosen = vstore.ViolationFilter(
        viewer=who,
        start=_aware("start", start, request.query_params.get("start")),
        end=_aware("end", end, request.query_params.get("end")),
        provisions=_csv_values(provision),
        parties=_csv_values(party),
        levels=_csv_values(level),
        include_withdrawn=withdrawn,
        after=decode_cursor(cursor) if cursor else None,
        limit=limit + 1,
    )
    with state.db.read() as conn:
        rows = vstore.list_violations(conn, chosen)
    more, rows = len(rows) > limit, rows[:limit]
    if rows and who.authenticated:
        audit(state, request, who, "read_violations", "ok", {"ids": [r["event_id"] for r in rows]})
    return feature_page(request, [violation_feature(r) for r in rows], rows, more, "time")


@router.get("/stats", summary="Figures of the ceasefire from the reviewed bulletin")
def stats(
    request: Request,
    who: Reader,
    state: AppState = Depends(app_state),
    start: Annotated[
        datetime | None, Query(description="from (ISO 8601 with offset); default end - 30 days")
    ] = None,
    end: Annotated[
        datetime | None, Query(description="to, exclusive (ISO 8601 with offset); default now")
    ] = None,
    window: Annotated[
        int, Query(ge=1, le=366, description="days of the rolling means (data before start included)")
    ] = ROLLING_DAYS,
    party_threshold: Annotated[
        float,
        Query(gt=0.5, le=1.0, description="an event counts to a party at this probability or above"),
    ] = PARTY_THRESHOLD,
) -> Response:
    t1 = _aware("end", end, request.query_params.get("end")) or datetime.now(UTC)
    t0 = _aware("start", start, request.query_params.get("start")) or t1 - timedelta(days=30)
    if t0 >= t1:
        raise Problem(
            422,
            "start must be before end",
            errors=[{"in": "query", "pointer": "", "field": "start", "reason": "not before end"}],
        )
    if t1 - t0 > timedelta(days=3660):
        raise Problem(
            422,
            "at most ten years at once",
            errors=[
                {"in": "query", "pointer": "", "field": "start", "reason": "more than ten years before end"}
            ],
        )
    agreement = state.current_agreement()
    if agreement is None:
        raise Problem(409, "no agreement is loaded: the figures are measured against one")
    return _json(
        ceasefire_figures(
            state.db, who, agreement, t0, t1, window_days=window, party_threshold=party_threshold
        )
    )
