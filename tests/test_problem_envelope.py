"""One error shape everywhere: every route of the OpenAPI document, asked wrongly, answers RFC 9457.

The routes are read from the application's own OpenAPI document, so a route added later is
covered without touching this file. Each request here must fail; the answer must be
`application/problem+json` with `type`, `title`, `status` (the HTTP status), `detail`, and for
422 an `errors` list naming `field` and `reason`; no answer may leak a traceback or a source path.
Runs on SQLite and on a real PostgreSQL (some inputs only break one backend).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

from garant.api.app import create_app
from garant.config import Settings
from garant.domain.access import OrgKind, Role

from .conftest import demo_database, make_principal
from .factories import make

PROBLEM = "application/problem+json"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
LEAK = re.compile(r"Traceback|File \"|\.py\b|site-packages|/src/garant|sqlalchemy|psycopg", re.IGNORECASE)


def _schema() -> dict[str, Any]:
    """The OpenAPI document, from an app that is never served (no database is touched)."""
    app = create_app(Settings(data_dir=Path("."), database_url="sqlite:///:memory:"), migrate_db=False)
    return app.openapi()


SCHEMA = _schema()
PATHS = sorted(SCHEMA["paths"])
OPERATIONS = sorted((path, method.upper()) for path in PATHS for method in SCHEMA["paths"][path])


def _params(path: str, method: str) -> list[dict[str, Any]]:
    op = SCHEMA["paths"][path][method.lower()]
    return [*SCHEMA["paths"][path].get("parameters", []), *op.get("parameters", [])]


def concrete(path: str, value: str = "zz-no-such-thing") -> str:
    """The path with every `{parameter}` filled in."""
    return re.sub(r"\{[^}]+\}", value, path)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app with the demo loaded, shared by this module's tests (they store nothing)."""
    tmp = tmp_path_factory.mktemp("envelope")
    db = demo_database(request, tmp)
    url = db.url
    monitor = make_principal(db, "envelope-monitor")
    coordinator = make_principal(db, "envelope-coordinator", Role.COORDINATOR, "CELL", OrgKind.COORDINATION)
    settings = Settings(data_dir=tmp, database_url=url, writes_per_minute=100_000, logins_per_minute=100_000)
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as c:
        admin = make_principal(db, "envelope-admin", Role.ADMINISTRATOR, "ADMIN", OrgKind.MECHANISM, "ADM")
        analyst = make_principal(db, "envelope-analyst", Role.ANALYST)
        c.auth = _ByPath(monitor, coordinator, admin, analyst)
        yield c
    db.dispose()


class _ByPath(httpx.Auth):
    """Each route as a caller allowed to reach its checks: agreements as the coordination cell,
    the audit trail as an administrator, review as an analyst, everything else as a US monitor
    of the mechanism."""

    def __init__(self, monitor: str, coordinator: str, admin: str, analyst: str) -> None:
        self.monitor, self.coordinator, self.admin, self.analyst = monitor, coordinator, admin, analyst

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        token = self.monitor
        if request.url.path.startswith("/api/v1/agreements"):
            token = self.coordinator
        elif request.url.path.startswith("/api/v1/auth/audit"):
            token = self.admin
        elif request.url.path.startswith("/api/v1/review-queue") or request.url.path.endswith("/acts"):
            token = self.analyst
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


def _where(r: httpx.Response) -> str:
    return f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:500]}"


def assert_no_leak(r: httpx.Response) -> None:
    assert not LEAK.search(r.text), _where(r)


def assert_problem(r: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """The response is a problem document (of `status`, if given) with every member it owes."""
    if status is not None:
        assert r.status_code == status, _where(r)
    assert 400 <= r.status_code < 600, _where(r)
    assert r.headers["content-type"].split(";")[0].strip() == PROBLEM, _where(r)
    assert_no_leak(r)
    body = r.json()
    assert isinstance(body, dict), _where(r)
    for member in ("type", "title", "detail"):
        assert isinstance(body.get(member), str) and body[member], (member, _where(r))
    assert body.get("status") == r.status_code, _where(r)
    if r.status_code == 422:
        errors = body.get("errors")
        assert isinstance(errors, list) and errors, _where(r)
        for item in errors:
            assert isinstance(item, dict), _where(r)
            assert isinstance(item.get("field"), str), (item, _where(r))
            assert isinstance(item.get("reason"), str) and item["reason"], (item, _where(r))
    return body


# --------------------------------------------------------------------------- 405 and 404


@pytest.mark.parametrize("path", PATHS)
def test_wrong_method_is_405_with_allow(api: TestClient, path: str) -> None:
    declared = {m.upper() for m in SCHEMA["paths"][path] if m.upper() in METHODS}
    wrong = [m for m in METHODS if m not in declared]
    assert wrong, f"{path} declares every method"
    for method in wrong:
        r = api.request(method, concrete(path), content=b"{}", headers={"content-type": "application/json"})
        assert_problem(r, 405)
        allow = {m.strip() for m in r.headers.get("allow", "").split(",") if m.strip()}
        assert allow == declared, (allow, _where(r))


@pytest.mark.parametrize("path", PATHS)
def test_unknown_sub_path_is_404(api: TestClient, path: str) -> None:
    for suffix in ("/zz-unknown/deeper", "/zz-unknown/deeper/still"):
        assert_problem(api.get(concrete(path) + suffix), 404)
        assert_problem(api.post(concrete(path) + suffix, json={}), 404)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1",
        "/api/v1/",
        "/api/v2/observations",
        "/api/v1/observation",
        "/no-such-page",
        "/static/nope.js",
    ],
)
def test_unknown_route_is_404(api: TestClient, url: str) -> None:
    assert_problem(api.get(url), 404)


# --------------------------------------------------------------------------- parameters


def _types(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives of a parameter schema (`anyOf` with null unfolded)."""
    alternatives = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return [a for a in alternatives if a.get("type") != "null"]


def _bad_values(schema: dict[str, Any]) -> list[str]:
    """Query strings a parameter of this schema must refuse (by its declared type and bounds)."""
    alts = _types(schema)
    if len(alts) != 1:
        return []
    s = alts[0]
    kind, fmt = s.get("type"), s.get("format")
    values: list[str] = []
    if kind == "integer":
        values += ["abc", "1.5", "", "99999999999999999999999999"]
    elif kind == "number":
        values += ["abc", "", "nan", "inf", "-inf"]
    elif kind == "boolean":
        values += ["maybe", "2"]
    elif kind == "string" and fmt == "date-time":
        values += [
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-03-01T00:00:00",  # no offset: refused by the API's rule
            "0.5",  # a number is not an ISO 8601 time (pydantic would read seconds since 1970)
            "1772323200",
            "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
            "9999-12-31T23:59:59-14:00",  # after year 9999 in UTC
        ]
    if kind in ("integer", "number"):
        if "minimum" in s:
            values.append(str(s["minimum"] - 1))
        if "maximum" in s:
            values.append(str(s["maximum"] + 1))
        if "exclusiveMinimum" in s:
            values.append(str(s["exclusiveMinimum"]))
        if "exclusiveMaximum" in s:
            values.append(str(s["exclusiveMaximum"]))
    return values


def _good_value(schema: dict[str, Any]) -> str:
    """A valid value for a required parameter while another one is under test."""
    s = _types(schema)[0]
    if s.get("type") in ("integer", "number"):
        lo, hi = s.get("minimum"), s.get("maximum")
        value = (lo + hi) / 2 if lo is not None and hi is not None else (lo if lo is not None else 1)
        return str(int(value) if s["type"] == "integer" else value)
    if s.get("type") == "boolean":
        return "true"
    if s.get("format") == "date-time":
        return "2026-03-01T00:00:00Z"
    return "zz"


def _required(path: str, method: str, but: str | None = None) -> dict[str, str]:
    return {
        p["name"]: _good_value(p["schema"])
        for p in _params(path, method)
        if p["in"] == "query" and p.get("required") and p["name"] != but
    }


BAD_QUERIES = [
    pytest.param(path, method, p["name"], value, id=f"{method} {path} {p['name']}={value!r}")
    for path, method in OPERATIONS
    for p in _params(path, method)
    if p["in"] == "query"
    for value in _bad_values(p.get("schema", {}))
]


def test_some_parameters_are_typed() -> None:
    """Guard: the parametrisation below is not empty because the schema lost its types."""
    assert len(BAD_QUERIES) >= 10


@pytest.mark.parametrize(("path", "method", "name", "value"), BAD_QUERIES)
def test_bad_query_parameter_is_422_naming_it(
    api: TestClient, path: str, method: str, name: str, value: str
) -> None:
    params = {**_required(path, method, but=name), name: value}
    r = api.request(method, concrete(path), params=params)
    body = assert_problem(r, 422)
    assert any(e["field"] == name for e in body["errors"]), _where(r)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"bbox": "10,50,5,40"}, "bbox"),
        ({"bbox": "0,0,200,10"}, "bbox"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "WyJ4IiwxXQ"}, "cursor"),  # base64 of ["x",1]: well formed, not ours
        ({"limit": "10001"}, "limit"),
    ],
)
def test_bad_listing_filters_are_422_naming_them(api: TestClient, params: dict[str, str], field: str) -> None:
    body = assert_problem(api.get("/api/v1/observations", params=params), 422)
    assert [e["field"] for e in body["errors"]] == [field]


GET_OPERATIONS = [path for path, method in OPERATIONS if method == "GET"]


@pytest.mark.parametrize("path", GET_OPERATIONS)
def test_get_with_only_required_parameters_never_fails_on_the_server(api: TestClient, path: str) -> None:
    """Optional parameters left out: an answer, or a client error in the envelope, never a 5xx."""
    r = api.get(concrete(path), params=_required(path, "GET"))
    assert r.status_code < 500, _where(r)
    if r.status_code >= 400:
        assert_problem(r)
    assert_no_leak(r)


AWKWARD_STRINGS = ["\x00", "a\x00b", "%", "../../etc/passwd", "é" * 300, "'; DROP TABLE observations; --"]


@pytest.mark.parametrize("path", GET_OPERATIONS)
@pytest.mark.parametrize("value", AWKWARD_STRINGS, ids=repr)
def test_awkward_strings_in_string_parameters_never_fail_on_the_server(
    api: TestClient, path: str, value: str
) -> None:
    """Every string parameter (path or query) given a NUL, a long or a hostile string: no 5xx."""
    string_params = [
        p
        for p in _params(path, "GET")
        if any(a.get("type") == "string" and "format" not in a for a in _types(p.get("schema", {})))
        or any(a.get("type") == "array" for a in _types(p.get("schema", {})))
    ]
    # the numbers a route needs (declared required or not: /geo/locate needs lon and lat) set right
    numbers = {
        p["name"]: _good_value(p["schema"])
        for p in _params(path, "GET")
        if p["in"] == "query" and _types(p.get("schema", {}))[0].get("type") in ("integer", "number")
    }
    required = {**numbers, **_required(path, "GET")}
    for p in string_params:
        if p["in"] == "path":
            r = api.get(concrete(path, quote(value, safe="")))
        else:
            r = api.get(concrete(path), params={**required, p["name"]: value})
        assert r.status_code < 500, (p["name"], _where(r))
        if r.status_code >= 400:
            assert_problem(r)
        assert_no_leak(r)


# --------------------------------------------------------------------------- bodies

POST_PATHS = [path for path, method in OPERATIONS if method == "POST"]
MALFORMED = [
    b"{bad",
    b"",
    b"[1,",
    b'{"observations": [',
    b"\xff\xfe\x00",
    b"{'single': 'quotes'}",
    b"nul\x00",
]
WRONG_SHAPE = [b"null", b"42", b'"text"', b"[]", b"{}", b"[{}]", b'{"observations": 5}', b"[[[]]]", b"true"]


def test_there_are_post_routes() -> None:
    assert POST_PATHS


@pytest.mark.parametrize("path", POST_PATHS)
@pytest.mark.parametrize("body", MALFORMED, ids=repr)
def test_malformed_json_body_is_400(api: TestClient, path: str, body: bytes) -> None:
    r = api.post(path, content=body, headers={"content-type": "application/json"})
    problem = assert_problem(r, 400)
    assert "malformed" in problem["detail"].lower()


@pytest.mark.parametrize("path", POST_PATHS)
@pytest.mark.parametrize("body", WRONG_SHAPE, ids=repr)
def test_json_of_the_wrong_shape_is_refused_in_the_envelope(api: TestClient, path: str, body: bytes) -> None:
    r = api.post(path, content=body, headers={"content-type": "application/json"})
    assert_problem(r, 422)


@pytest.mark.parametrize("path", POST_PATHS)
def test_unsupported_media_type_or_body_is_a_client_error(api: TestClient, path: str) -> None:
    for ctype, body in [
        ("text/plain", b"hello"),
        ("application/xml", b"<a/>"),
        ("multipart/form-data", b"--x"),
    ]:
        r = api.post(path, content=body, headers={"content-type": ctype})
        assert 400 <= r.status_code < 500, _where(r)
        assert_problem(r)


@pytest.mark.parametrize(
    "change",
    [
        {"supersedes": ""},  # neither "no parent" nor an id: the store's foreign key refuses it
        {"supersedes": "a\x00b"},  # PostgreSQL text cannot hold NUL
        {"observed_at": "0001-01-01T00:00:00+01:00"},  # before year 1 once in UTC
        {"observed_until": "9999-12-31T23:59:59-01:00"},  # after year 9999 once in UTC
    ],
    ids=repr,
)
def test_observation_values_the_store_cannot_take_are_422(api: TestClient, change: dict[str, str]) -> None:
    (field,) = change
    obs = make("crater", 7, client_id=f"odd-{field}-{len(change[field])}", **change)
    body = assert_problem(api.post("/api/v1/observations", json=obs), 422)
    assert [e["field"] for e in body["errors"]] == [field]


# --------------------------------------------------------------------------- the OpenAPI document


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"external $ref {ref!r}"
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"$ref {ref!r} does not resolve (at {part!r})"
        node = node[part]
    return node


def _refs(node: Any) -> Iterator[str]:
    """Every `$ref`, and every schema named by a discriminator mapping."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            elif key == "discriminator" and isinstance(value, dict):
                yield from (v for v in (value.get("mapping") or {}).values() if isinstance(v, str))
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_openapi_has_the_domain_schemas_and_every_ref_resolves(api: TestClient) -> None:
    r = api.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    components = doc["components"]["schemas"]
    assert {"Observation", "Agreement"} <= set(components)
    kinds = {m.split("/")[-1] for m in components["Observation"]["discriminator"]["mapping"].values()}
    assert len(kinds) == 9 and kinds <= set(components)
    refs = list(_refs(doc))
    assert "#/components/schemas/Observation" in refs  # the POST body documents the model
    for ref in refs:
        target = _resolve(doc, ref)
        assert isinstance(target, dict) and target, ref
    # the document served is the one the routes were enumerated from
    assert sorted(doc["paths"]) == PATHS
