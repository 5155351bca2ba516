"""`/api/v1/observations`: batch intake and filtered GeoJSON listing.

The POST body is parsed by hand (orjson, then one Pydantic validation per item) rather than
by a FastAPI body model, because a body model rejects a whole batch for one bad item; the
OpenAPI schema still documents the body through `openapi_extra`.
"""

from __future__ import annotations

import base64
import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from garant.api.auth import Reader, audit, require
from garant.api.intake_pool import BatchReply, IntakeInterrupted
from garant.api.problems import Problem, json_body, pointer, problem_response
from garant.api.state import AppState, app_state
from garant.domain.access import Permission, Principal
from garant.services.intake import BatchOutcome, ItemError, ingest_with_retry
from garant.store import observations as obs_store

router = APIRouter(prefix="/api/v1/observations", tags=["observations"])

JSON = "application/json"
GEOJSON = "application/geo+json"

_BODY_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"$ref": "#/components/schemas/Observation"},
        {"type": "array", "items": {"$ref": "#/components/schemas/Observation"}, "maxItems": 10000},
        {
            "type": "object",
            "required": ["observations"],
            "properties": {
                "observations": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/Observation"},
                    "maxItems": 10000,
                }
            },
        },
    ]
}


def _json(body: Any, status: int = 200, media_type: str = JSON) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=media_type)


def record_feature(row: dict[str, Any]) -> dict[str, Any]:
    """A stored observation as a GeoJSON Feature: the accepted payload plus server facts."""
    props = orjson.loads(row["payload"])
    lon, lat = props.pop("lon"), props.pop("lat")
    props["id"] = row["id"]
    props["received_at"] = row["received_at"].isoformat().replace("+00:00", "Z")
    props["agreement"] = row["agreement_key"]
    props["superseded_by"] = row["superseded_by"]
    return {
        "type": "Feature",
        "id": row["id"],
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": props,
    }


def _item_errors(err: ItemError, prefix: Sequence[int | str]) -> list[dict[str, Any]]:
    out = []
    for p in err.problems:
        loc: list[int | str] = [*prefix]
        if p.field != "(item)":
            for part in p.field.replace("]", "").replace("[", ".").split("."):
                loc.append(int(part) if part.isdigit() else part)
        out.append({"pointer": pointer(loc), "field": p.field, "reason": p.reason})
    return out


def _batch_body(outcome: BatchOutcome, prefix: Sequence[int | str]) -> dict[str, Any]:
    return {
        "accepted": outcome.created,
        "duplicates": outcome.duplicates,
        "rejected": outcome.rejected,
        "results": [
            {"index": r.index, "status": r.status, "id": r.id, "client_id": r.client_id}
            for r in outcome.results
        ],
        "errors": [
            {
                "index": e.index,
                "status": e.status,
                "client_id": e.client_id,
                "errors": _item_errors(e, [*prefix, e.index]),
            }
            for e in outcome.errors
        ],
    }


@router.post(
    "",
    summary="Submit one observation or a batch (up to 10,000)",
    openapi_extra={"requestBody": {"required": True, "content": {JSON: {"schema": _BODY_SCHEMA}}}},
    responses={
        200: {"description": "single: the same client id and content was accepted before (replay)"},
        201: {"description": "created (single: the record; batch: per-item results)"},
        207: {"description": "batch: some items accepted, some refused (listed with reasons)"},
        409: {"description": "client id already used with other content"},
        413: {"description": "body or batch too large"},
        422: {"description": "invalid observation(s): problem details naming item, field, reason"},
    },
)
async def post_observations(
    request: Request,
    state: AppState = Depends(app_state),
    who: Principal = Depends(require(Permission.WRITE_OBSERVATIONS)),
) -> Response:
    ctype = request.headers.get("content-type", JSON).split(";")[0].strip().lower()
    if ctype not in (JSON, GEOJSON, "application/*+json"):
        raise Problem(415, f"send observations as {JSON}, not {ctype!r}")
    declared = request.headers.get("content-length")
    limit = state.settings.max_body_bytes
    if declared and declared.isdigit() and int(declared) > limit:
        raise Problem(413, f"body of {declared} bytes exceeds the limit of {limit} bytes")
    raw = await request.body()
    if len(raw) > limit:
        raise Problem(413, f"body of {len(raw)} bytes exceeds the limit of {limit} bytes")
    pool = state.intake_pool
    if pool is not None:  # the body goes to the pool unparsed: parsing 10,000 items here cost more
        try:
            reply = await pool.ingest(raw, who, state.settings.max_batch, request.url.path)
        except IntakeInterrupted:
            return problem_response(
                503,
                "the intake process taking this batch stopped; nothing of it was stored half-way. "
                "Send it again with the same client ids",
                kind="intake-interrupted",
                headers={"Retry-After": "1"},
            )
        if reply is not None:
            if reply.created:
                await run_in_threadpool(_after_write, state)
            return Response(reply.body, status_code=reply.status, media_type=reply.media_type)
    doc = json_body(raw)
    found = batch_of(doc, state.settings.max_batch)
    if found is None:
        return await run_in_threadpool(_post_single, state, doc, who)
    reply = await run_in_threadpool(_ingest_batch, state, *found, who)
    return Response(reply.body, status_code=reply.status, media_type=reply.media_type)


def batch_of(doc: Any, max_batch: int) -> tuple[list[Any], list[int | str]] | None:
    """A batch body's items and the pointer prefix of their errors; None when the body is one
    observation; a problem when it is neither, too large or empty."""
    if isinstance(doc, dict) and "observations" not in doc:
        return None
    prefix: list[int | str] = ["observations"] if isinstance(doc, dict) else []
    items = doc["observations"] if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise Problem(
            422,
            'expected an observation object, an array of them, or {"observations": [...]}',
            errors=[{"pointer": pointer(prefix), "field": "observations", "reason": "must be an array"}],
        )
    if len(items) > max_batch:
        raise Problem(413, f"batch of {len(items)} exceeds the limit of {max_batch} observations")
    if not items:
        raise Problem(
            422,
            "the batch is empty",
            errors=[
                {
                    "pointer": pointer(prefix),
                    "field": "observations",
                    "reason": "at least one observation is needed",
                }
            ],
        )
    return items, prefix


def batch_reply(outcome: BatchOutcome, prefix: Sequence[int | str]) -> BatchReply:
    """A batch's reply: 201 (or 200, all replays) when every item was taken, 207 when some
    were refused, a problem when all were (one kind of refusal: its status; mixed: 422)."""
    body = _batch_body(outcome, prefix)
    if not outcome.errors or outcome.results:
        status = (201 if outcome.created else 200) if not outcome.errors else 207
        return BatchReply(status, orjson.dumps(body), JSON, outcome.created)
    statuses = {e.status for e in outcome.errors}
    status = statuses.pop() if len(statuses) == 1 else 422
    detail = f"all {outcome.rejected} observations were refused; see errors for each item"
    problem = problem_response(
        status,
        detail,
        kind="batch-refused",
        errors=[
            {**e, "index": item["index"], "status": item["status"], "client_id": item["client_id"]}
            for item in body["errors"]
            for e in item["errors"]
        ],
        extra={"accepted": 0, "duplicates": 0, "rejected": outcome.rejected, "results": []},
    )
    return BatchReply(status, bytes(problem.body), str(problem.media_type), 0)


def _ingest_batch(
    state: AppState, items: list[Any], prefix: Sequence[int | str], who: Principal
) -> BatchReply:
    return batch_reply(_ingest(state, items, who), prefix)


def _after_write(state: AppState) -> None:
    state.after_write()
    state.bulletin_due()


def _ingest(state: AppState, items: list[Any], who: Principal) -> BatchOutcome:
    outcome = ingest_with_retry(state.db, items, submitter=who)
    if outcome.created:
        _after_write(state)
    return outcome


def _post_single(state: AppState, item: dict[str, Any], who: Principal) -> Response:
    outcome = _ingest(state, [item], who)
    if outcome.errors:
        err = outcome.errors[0]
        fields = ", ".join(p.field for p in err.problems)
        detail = err.problems[0].reason if err.status == 409 else f"invalid observation: {fields}"
        kind = {409: "client-id-conflict", 403: "not-yours-to-submit"}.get(err.status, "invalid-observation")
        return problem_response(err.status, detail, kind=kind, errors=_item_errors(err, []))
    result = outcome.results[0]
    with state.db.read() as conn:
        row = obs_store.get_observation(conn, result.id, who)
    assert row is not None
    feature = record_feature(row)
    return _json(feature, 201 if result.status == "created" else 200, GEOJSON)


def _parse_bbox(bbox: str) -> tuple[float, float, float, float]:
    try:
        parts = [float(p) for p in bbox.split(",")]
    except ValueError:
        parts = []
    reason = None
    if len(parts) != 4:
        reason = "bbox is min_lon,min_lat,max_lon,max_lat (four numbers)"
    else:
        x1, y1, x2, y2 = parts
        if not (-180 <= x1 <= 180 and -180 <= x2 <= 180 and -90 <= y1 <= 90 and -90 <= y2 <= 90):
            reason = "bbox coordinates out of range"
        elif x1 > x2 or y1 > y2:
            reason = "bbox minimum exceeds maximum (boxes across the antimeridian are not supported)"
    if reason:
        raise Problem(422, reason, errors=[{"in": "query", "pointer": "", "field": "bbox", "reason": reason}])
    return parts[0], parts[1], parts[2], parts[3]


def _aware(name: str, value: datetime | None, raw: str | None = None) -> datetime | None:
    reason = None
    if value is not None and value.utcoffset() is None:
        reason = "time must carry a UTC offset, e.g. 2026-03-01T00:00:00Z"
    elif raw is not None and not re.match(r"^\d{4}-\d\d-\d\d[T ]", raw):
        reason = "time must be ISO 8601 with an offset, e.g. 2026-03-01T00:00:00Z"
    elif value is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            reason = "time out of range once converted to UTC"
    if reason:
        raise Problem(
            422, f"{name}: {reason}", errors=[{"in": "query", "pointer": "", "field": name, "reason": reason}]
        )
    return value


def pack_cursor(values: list[Any]) -> str:
    """A keyset cursor: the sort key of the last row of a page, as opaque URL-safe text."""
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def unpack_cursor(cursor: str, *types: Callable[[Any], Any]) -> tuple[Any, ...]:
    """The values of a cursor `pack_cursor` made, each read by its type, or a 422 problem
    naming `cursor`."""
    reason = "not a cursor this server issued"
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError(reason)
        return tuple(read(v) for read, v in zip(types, values, strict=True))
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise Problem(
            422, reason, errors=[{"in": "query", "pointer": "", "field": "cursor", "reason": reason}]
        ) from exc


def encode_cursor(t: datetime, seq: int) -> str:
    """The (time, seq) of the last row of a page (observations, events, violations)."""
    return pack_cursor([t.isoformat(), seq])


def _audit_restricted(state: AppState, request: Request, who: Principal, rows: list[dict[str, Any]]) -> None:
    """Every read of a record not released to the public goes to the audit trail."""
    restricted = [r["id"] for r in rows if r["releasability"] != "public"]
    if restricted:
        audit(state, request, who, "read_restricted", "ok", {"ids": restricted})


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    t, seq = unpack_cursor(cursor, datetime.fromisoformat, int)
    return t, seq


def _csv_values(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v.strip() for value in values or [] for v in value.split(",") if v.strip())


def observation_filter(
    request: Request,
    who: Reader,
    start: Annotated[
        datetime | None, Query(description="observed_at >= start (ISO 8601 with offset)")
    ] = None,
    end: Annotated[datetime | None, Query(description="observed_at < end (ISO 8601 with offset)")] = None,
    bbox: Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat (WGS84)")] = None,
    kind: Annotated[
        list[str] | None, Query(description="observation kind(s), repeat or comma-separate")
    ] = None,
    source_id: Annotated[list[str] | None, Query()] = None,
    nation: Annotated[list[str] | None, Query()] = None,
    include_superseded: bool = False,
    cursor: str | None = None,
) -> obs_store.ObservationFilter:
    """The filters of a listing or an export, for the caller (whose need-to-know applies)."""
    return obs_store.ObservationFilter(
        viewer=who,
        start=_aware("start", start, request.query_params.get("start")),
        end=_aware("end", end, request.query_params.get("end")),
        bbox=_parse_bbox(bbox) if bbox else None,
        kinds=_csv_values(kind),
        source_ids=_csv_values(source_id),
        nations=_csv_values(nation),
        include_superseded=include_superseded,
        after=decode_cursor(cursor) if cursor else None,
    )


Filter = Annotated[obs_store.ObservationFilter, Depends(observation_filter)]


@router.get("", summary="List observations as GeoJSON (filters, keyset pagination)")
def list_observations(
    request: Request,
    chosen: Filter,
    state: AppState = Depends(app_state),
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    rows, more = _read_released(state, request, chosen, limit)
    return feature_page(request, [record_feature(r) for r in rows], rows, more, "observed_at")


def feature_page(
    request: Request, features: list[dict[str, Any]], rows: list[dict[str, Any]], more: bool, time_key: str
) -> Response:
    """A page of a GeoJSON listing; `links.next` carries the cursor after the last row."""
    next_url = None
    if more:
        last = rows[-1]
        next_url = str(request.url.include_query_params(cursor=encode_cursor(last[time_key], last["seq"])))
    body = {
        "type": "FeatureCollection",
        "features": features,
        "numberReturned": len(features),
        "links": {"next": next_url},
    }
    return _json(body, media_type=GEOJSON)


def _read_released(
    state: AppState, request: Request, chosen: obs_store.ObservationFilter, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Up to `limit` rows the caller may see, and whether more follow; every read of a
    non-public one goes to the audit trail."""
    with state.db.read() as conn:
        rows = obs_store.list_observations(conn, replace(chosen, limit=limit + 1))
    more, rows = len(rows) > limit, rows[:limit]
    _audit_restricted(state, request, chosen.viewer, rows)
    return rows, more


CSV_COLUMNS = (
    "id", "kind", "client_id", "source_id", "nation", "observed_at", "observed_until", "lon", "lat",
    "location_uncertainty_m", "reliability", "credibility", "releasability", "supersedes",
    "superseded_by", "received_at", "agreement",
)  # fmt: skip


@router.get(
    ".csv",
    summary="Export observations as CSV (the listing's filters; one row each, the payload as JSON)",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def export_csv(
    request: Request,
    chosen: Filter,
    state: AppState = Depends(app_state),
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> Response:
    """A spreadsheet of what the caller may see: the same need-to-know filter as the listing."""
    rows, _ = _read_released(state, request, chosen, limit)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, "payload"])
    for row in rows:
        feature = record_feature(row)
        lon, lat = feature["geometry"]["coordinates"]
        values = {**feature["properties"], "lon": lon, "lat": lat}
        writer.writerow([_cell(values.get(c)) for c in CSV_COLUMNS] + [row["payload"]])
    headers = {"Content-Disposition": 'attachment; filename="observations.csv"'}
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


def _cell(value: Any) -> str:
    """A CSV cell; text a spreadsheet would run as a formula is prefixed with an apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _NUMBER.match(text) else text


_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


@router.get("/{observation_id}", summary="One observation as a GeoJSON Feature")
def get_observation(
    observation_id: str, request: Request, who: Reader, state: AppState = Depends(app_state)
) -> Response:
    with state.db.read() as conn:
        row = obs_store.get_observation(conn, observation_id, who)
    if row is None:  # absent, or not released to the caller: the same answer
        raise Problem(404, f"no observation with id {observation_id!r}")
    _audit_restricted(state, request, who, [row])
    return _json(record_feature(row), media_type=GEOJSON)
