"""`/api/v1/agreements`: the versions of the agreement, the one in force, and its map layers."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import yaml
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from garant.api.auth import require
from garant.api.problems import Problem, pointer, validation_problem
from garant.api.state import AppState, app_state
from garant.domain.access import Permission, Principal
from garant.domain.agreement import Agreement
from garant.services.agreements import AgreementFileError, parse_agreement_text
from garant.store import agreements as agreement_store

router = APIRouter(
    prefix="/api/v1", tags=["agreements"], dependencies=[Depends(require(Permission.READ_AGREEMENTS))]
)


def _json(body: Any, status: int = 200, media_type: str = "application/json") -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=media_type)


def _resolve(state: AppState, key: str | None) -> Agreement:
    with state.db.read() as conn:
        agreement = (
            agreement_store.get_agreement(conn, key) if key else agreement_store.current_agreement(conn)
        )
    if agreement is None:
        raise Problem(404, f"no agreement {key!r}" if key else "no agreement is loaded yet")
    return agreement


@router.get("/agreements", summary="All stored agreement versions")
def list_agreements(state: AppState = Depends(app_state)) -> Response:
    with state.db.read() as conn:
        rows = agreement_store.list_agreements(conn)
    return _json({"agreements": rows})


@router.get("/agreements/current", summary="The agreement version in force now")
def current(state: AppState = Depends(app_state)) -> Response:
    return _json(_resolve(state, None).model_dump(mode="json"))


@router.get("/agreements/{key}", summary="One agreement version by key (id@version)")
def by_key(key: str, state: AppState = Depends(app_state)) -> Response:
    return _json(_resolve(state, key).model_dump(mode="json"))


@router.post(
    "/agreements",
    summary="Load an agreement version (YAML or JSON body)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {"schema": {"$ref": "#/components/schemas/Agreement"}},
            },
        }
    },
    responses={
        201: {"description": "stored"},
        200: {"description": "identical version already stored"},
        409: {"description": "same id and version stored with other content"},
        422: {"description": "invalid agreement: path in the document and reason"},
    },
)
async def load(
    request: Request,
    state: AppState = Depends(app_state),
    _who: Principal = Depends(require(Permission.WRITE_AGREEMENTS)),
) -> Response:
    raw = await request.body()
    if len(raw) > state.settings.max_body_bytes:
        raise Problem(413, "agreement document too large")
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    try:
        if ctype in ("application/yaml", "application/x-yaml", "text/yaml"):
            agreement = parse_agreement_text(raw.decode("utf-8", errors="replace"), "request body")
        else:
            agreement = Agreement.model_validate(orjson.loads(raw))
    except AgreementFileError as exc:
        errors = [
            {
                "pointer": pointer(p.path.replace("]", "").replace("[", ".").split(".")) if p.path else "",
                "field": p.path,
                "line": p.line,
                "reason": p.reason,
            }
            for p in exc.problems
        ]
        raise Problem(422, "invalid agreement", errors=errors) from exc
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise Problem(400, f"malformed document: {exc}", kind="malformed-json") from exc
    except ValidationError as exc:
        raise validation_problem(exc, "invalid agreement") from exc
    try:
        with state.db.write() as conn:
            stored = agreement_store.store_agreement(conn, agreement)
    except agreement_store.AgreementVersionConflict as exc:
        raise Problem(409, str(exc), kind="agreement-version-conflict") from exc
    if stored.created:
        state.after_write()
    body = {"key": agreement.key, "content_sha256": stored.content_sha256, "created": stored.created}
    return _json(body, 201 if stored.created else 200)


@router.get("/agreement/geojson", summary="Map layers of an agreement: contact line, control areas, zones")
def geojson(
    state: AppState = Depends(app_state),
    key: Annotated[str | None, Query(description="id@version; default: the one in force")] = None,
) -> Response:
    from garant.geo import agreement_features

    agreement = _resolve(state, key)
    body = {
        "type": "FeatureCollection",
        "properties": {"agreement": agreement.key, "title": agreement.title},
        "features": agreement_features(agreement),
    }
    return _json(body, media_type="application/geo+json")


@router.get("/geo/locate", summary="Side of the line, signed distance and zones of a point")
def locate(
    state: Annotated[AppState, Depends(app_state)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    key: Annotated[str | None, Query(description="id@version; default: the one in force")] = None,
) -> Response:
    import numpy as np

    agreement = _resolve(state, key)
    geo = state.geography(agreement)
    x, y = np.array([lon]), np.array([lat])
    inside = geo.zones_containing(x, y)[0]
    party = geo.controlling_party(x, y)[0]
    body = {
        "agreement": agreement.key,
        "lon": lon,
        "lat": lat,
        "signed_distance_m": float(geo.signed_distance_m(x, y)[0]),
        "positive_side": agreement.positive_side,
        "controlled_by": str(party) or None,
        "zones": [z for z, hit in zip(geo.zone_ids, inside, strict=True) if hit],
    }
    return _json(body)
