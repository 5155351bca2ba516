"""RFC 9457 problem details: one error shape for every endpoint.

Every error leaves the API as `application/problem+json` with `type`, `title`, `status`,
`detail`, and, where fields are at fault, an `errors` list of `{pointer, field, reason}`
(plus `index` for batch items). Nothing else (no stack trace, no framework default) leaks out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from garant.domain.paths import dotted_path

PROBLEM_TYPE_BASE = "https://garant.example/problems/"  # identifiers, not fetched
MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("garant.api")

_TITLES = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid input",
    401: "Unauthorized",
    403: "Forbidden",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


class Problem(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(
        self, status: int, detail: str, *, kind: str | None = None, errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind or _TITLES.get(status, "error").lower().replace(" ", "-")
        self.errors = errors or []


def pointer(loc: Sequence[int | str]) -> str:
    """RFC 6901 JSON Pointer for a location."""
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in loc) if loc else ""


def json_body(raw: bytes) -> Any:
    """A request body as JSON, or a 400 problem saying why it is not."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Problem(400, f"malformed JSON: {exc}", kind="malformed-json") from exc


def validation_problem(exc: ValidationError, detail: str) -> Problem:
    """A 422 problem naming every field Pydantic refused, with its pointer and reason."""
    errors = [
        {
            "pointer": pointer(list(e["loc"])),
            "field": ".".join(map(str, e["loc"])) or "(body)",
            "reason": e["msg"],
        }
        for e in exc.errors(include_url=False)
    ]
    return Problem(422, detail, errors=errors)


def problem_response(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + (kind or _TITLES.get(status, "error").lower().replace(" ", "-")),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return Response(orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """The methods some route of the app answers on this request's path (mounted apps aside)."""
    allowed = []
    for method in _METHODS:
        scope = {
            "type": "http",
            "method": method,
            "path": request.scope["path"],
            "root_path": request.scope.get("root_path", ""),
            "headers": [],
            "query_string": b"",
        }
        if any(
            not isinstance(route, Mount) and route.matches(scope)[0] == Match.FULL
            for route in request.app.router.routes
        ):
            allowed.append(method)
    return allowed


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return problem_response(
            exc.status, exc.detail, kind=exc.kind, errors=exc.errors, instance=request.url.path
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = []
        for err in exc.errors():
            loc = list(err.get("loc", ()))
            where = loc[0] if loc else "body"
            rest = loc[1:]
            field = dotted_path(rest) if rest else str(where)
            errors.append(
                {"in": where, "pointer": pointer(rest), "field": field, "reason": err.get("msg", "")}
            )
        fields = ", ".join(e["field"] for e in errors)
        return problem_response(
            422, f"invalid request: {fields}", kind="invalid-input", errors=errors, instance=request.url.path
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # A 405 must say what is allowed (RFC 9110 15.5.6). The router's own header names
            # only the first route of the path, not e.g. both GET and POST of /observations.
            allowed = allowed_methods(request)
            if allowed:
                headers["Allow"] = ", ".join(allowed)
        return problem_response(exc.status_code, detail, instance=request.url.path, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "the server failed to handle this request; it has been logged")


GEOJSON_PATHS = frozenset(
    {
        "/api/v1/observations",
        "/api/v1/observations/{observation_id}",
        "/api/v1/agreement/geojson",
        "/api/v1/events",
        "/api/v1/events/{event_id}",
        "/api/v1/review-queue",
        "/api/v1/violations",
    }
)


def document_problems(schema: dict[str, Any]) -> None:
    """Say in the OpenAPI document what every route really answers: problem+json for every error
    (400 malformed body, 404 unknown id or key, 413/415 on bodies, 422 invalid input), GeoJSON
    where GeoJSON is served, instead of FastAPI's default 422 shape."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object"}},
        },
    }
    problem = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            responses = op.setdefault("responses", {})
            # 401: any route, when the credentials given are bad; 403: the caller lacks the permission
            codes = {"401", "403", "422"}
            if method in ("post", "delete"):
                codes |= {"400", "413", "415", "429"}
            names = {p["name"] for p in op.get("parameters", [])}
            if (
                "{" in path
                or names & {"key", "record_id", "leaf_index", "id"}
                or path.startswith(("/api/v1/agreement", "/api/v1/geo"))
            ):
                codes.add("404")
            for code in codes:
                responses.setdefault(code, {"description": _TITLES.get(int(code), "error")})
            for code, resp in responses.items():
                if code[:1] in ("4", "5"):
                    resp["content"] = problem
                elif path in GEOJSON_PATHS:
                    resp["content"] = {
                        "application/geo+json": {"schema": {}},
                        "application/json": {"schema": {}},
                    }
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
