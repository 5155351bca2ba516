"""`/api/v1/events`: the automatic bulletin as GeoJSON (filters, keyset pagination).

An event is listed only to callers who may see every observation it is made of; for the
others it does not exist (404 alike). Its uncertainty is the 95% ellipse in metres.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from garant.api.auth import Reader, audit
from garant.api.observations import (
    GEOJSON,
    _aware,
    _csv_values,
    _json,
    _parse_bbox,
    decode_cursor,
    feature_page,
)
from garant.api.problems import Problem
from garant.api.state import AppState, app_state
from garant.store import events as ev_store

router = APIRouter(prefix="/api/v1/events", tags=["events"])


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def event_feature(row: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {
        "id": row["id"],
        "kind": row["kind"],
        "time": _iso(row["time"]),
        "evaluation_mode": row["evaluation_mode"],
        "status": row["status"],
        "uncertainty": {
            "semi_major_m": round(row["semi_major_m"], 1),
            "semi_minor_m": round(row["semi_minor_m"], 1),
            "azimuth_deg": round(row["azimuth_deg"], 1),
            "confidence": 0.95,
        },
        "rms_s": round(row["rms_s"], 4),
        "n_observations": row["n_observations"],
        "revision": row["revision"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
    }
    if "observations" in row:
        props["observations"] = row["observations"]
    return {
        "type": "Feature",
        "id": row["id"],
        "geometry": {"type": "Point", "coordinates": [round(row["lon"], 6), round(row["lat"], 6)]},
        "properties": props,
    }


@router.get("", summary="List bulletin events as GeoJSON (filters, keyset pagination)")
def list_events(
    request: Request,
    who: Reader,
    state: AppState = Depends(app_state),
    start: Annotated[datetime | None, Query(description="origin time >= start (ISO 8601, offset)")] = None,
    end: Annotated[datetime | None, Query(description="origin time < end (ISO 8601 with offset)")] = None,
    bbox: Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat (WGS84)")] = None,
    kind: Annotated[list[str] | None, Query(description="event kind(s), e.g. acoustic")] = None,
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
