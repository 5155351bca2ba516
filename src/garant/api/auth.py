"""Who is calling: bearer tokens, session cookies with CSRF, or the anonymous public.

`caller` is the dependency every route uses. A bad or revoked token, a disabled user or a
missing CSRF token on a cookie-authenticated write is a 401/403 problem (and an audit event);
no credentials at all is the anonymous public. `require(permission)` guards what a route does;
what it may *read* is decided by the SQL filter in `garant.store.access`.

Rate limits (per client address, in memory, per worker process): logins, and writes.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError

from garant.api.problems import Problem, json_body, validation_problem
from garant.api.state import AppState, app_state
from garant.domain.access import ANONYMOUS, Permission, Principal
from garant.store import identity as identity_store
from garant.store.access import visible_ids

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SESSION_COOKIE = "garant_session"
LOGIN_BODY_LIMIT = 16 * 1024
CSRF_HEADER = "x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
router = APIRouter(prefix="/api/v1/auth", tags=["identity"])


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def audit(
    state: AppState,
    request: Request,
    principal: Principal,
    action: str,
    outcome: str,
    detail: Any,
    *,
    at_once: bool = True,
) -> None:
    """One event in the audit trail (append-only table; the application never edits it).

    `at_once=False` (a token's routine use, one per request) queues the event for the
    server's next flush, at most a checkpoint interval later, instead of a write transaction
    of its own: on SQLite that transaction queued behind every intake batch being written.
    """
    event = {
        "at": datetime.now(UTC),
        "action": action,
        "outcome": outcome,
        "principal": principal.name,
        "org": principal.org,
        "token_id": principal.token_id,
        "client": client_address(request),
        "method": request.method,
        "path": request.url.path[:500],
        "detail": orjson.dumps(detail).decode(),
    }
    if at_once:
        state.flush_audit([event])
    else:
        state.audit_later(event)


def _denied(
    state: AppState, request: Request, status: int, reason: str, who: Principal = ANONYMOUS
) -> Problem:
    audit(state, request, who, "denied", "refused", {"status": status, "reason": reason})
    return Problem(status, reason, kind="unauthorized" if status == 401 else "forbidden")


def _resolve(state: AppState, request: Request) -> Principal:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        principal = state.identity.by_token(token.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            raise _denied(state, request, 401, "the token is unknown, revoked, or its user is disabled")
        audit(state, request, principal, "token_use", "ok", {}, at_once=False)
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        session = state.identity.by_session(cookie)
        if session is None:
            raise _denied(state, request, 401, "the session has ended; log in again")
        sent = request.headers.get(CSRF_HEADER, "")
        if request.method in UNSAFE and not secrets.compare_digest(
            sent.encode(), session.csrf_token.encode()
        ):
            raise _denied(
                state,
                request,
                403,
                f"a write with a session needs the {CSRF_HEADER} header",
                session.principal,
            )
        return session.principal
    return ANONYMOUS


async def caller(request: Request, state: AppState = Depends(app_state)) -> Principal:
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    principal = await run_in_threadpool(_resolve, state, request)
    request.state.principal = principal
    return principal


def require(permission: Permission) -> Callable[..., Any]:
    """A dependency that lets the call through only with `permission` (and a write budget)."""

    async def check(
        request: Request, state: AppState = Depends(app_state), who: Principal = Depends(caller)
    ) -> Principal:
        if not who.may(permission):
            status = 403 if who.authenticated else 401
            reason = f"this needs the permission {permission.value}" + (
                "" if who.authenticated else "; log in"
            )
            raise await run_in_threadpool(_denied, state, request, status, reason, who)
        if request.method in UNSAFE and not state.write_limiter.allow(
            who.name + "@" + client_address(request)
        ):
            raise Problem(429, "too many writes; slow down", kind="rate-limited")
        return who

    return check


Caller = Annotated[Principal, Depends(caller)]
Reader = Annotated[Principal, Depends(require(Permission.READ_OBSERVATIONS))]


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


def _me(p: Principal) -> dict[str, Any]:
    return {
        "name": p.name,
        "kind": p.kind,
        "role": p.role.value,
        "org": p.org,
        "org_kind": p.org_kind.value,
        "nation": p.nation,
        "permissions": sorted(x.value for x in Permission if p.may(x)),
    }


def _login_body(raw: bytes, content_type: str) -> Login:
    if content_type.split(";")[0].strip().lower() not in ("application/json", ""):
        raise Problem(415, "send the credentials as application/json")
    if len(raw) > LOGIN_BODY_LIMIT:
        raise Problem(413, f"a login is at most {LOGIN_BODY_LIMIT} bytes")
    doc = json_body(raw)
    try:
        return Login.model_validate(doc)
    except ValidationError as exc:
        raise validation_problem(exc, "a login is {username, password}") from exc


@router.post(
    "/session",
    summary="Log in with a password: sets the session cookie, returns the CSRF token for writes",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": Login.model_json_schema()}},
        }
    },
    responses={
        401: {"description": "unknown user or wrong password"},
        429: {"description": "too many attempts"},
    },
)
async def login(request: Request, state: AppState = Depends(app_state)) -> Response:
    body = _login_body(await request.body(), request.headers.get("content-type", ""))
    if not state.login_limiter.allow(client_address(request)):
        raise Problem(429, "too many login attempts; wait a minute", kind="rate-limited")
    result = await run_in_threadpool(state.identity.login, body.username, body.password)
    if result is None:
        await run_in_threadpool(
            audit, state, request, ANONYMOUS, "login", "refused", {"username": body.username}
        )
        raise Problem(401, "unknown user or wrong password", kind="unauthorized")
    principal, session_id, csrf = result
    await run_in_threadpool(audit, state, request, principal, "login", "ok", {})
    response = Response(
        orjson.dumps({"user": _me(principal), "csrf_token": csrf}), media_type="application/json"
    )
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=12 * 3600,
        path="/",
    )
    return response


@router.delete("/session", summary="Log out: end the session")
async def logout(
    request: Request, state: AppState = Depends(app_state), who: Principal = Depends(caller)
) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await run_in_threadpool(state.identity.logout, cookie)
    response = Response(orjson.dumps({"logged_out": who.authenticated}), media_type="application/json")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/audit", summary="The latest events of the audit trail (administrators)")
def audit_trail(
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    who: Principal = Depends(require(Permission.READ_AUDIT)),
    state: AppState = Depends(app_state),
) -> Response:
    """Record ids in events (reads, requested paths) pass the same need-to-know filter as the
    records: an id the administrator may not see is shown as `(withheld)`."""
    state.flush_audit()  # the trail shows every event up to this request
    with state.db.read() as conn:
        rows = identity_store.audit_trail(conn, limit)
        for r in rows:
            r["at"] = r["at"].isoformat()
        text = orjson.dumps({"events": rows}).decode()
        released = visible_ids(conn, who, _UUID.findall(text))
    redacted = _UUID.sub(lambda m: m.group(0) if m.group(0) in released else "(withheld)", text)
    return Response(redacted, media_type="application/json")


@router.get("/me", summary="Who the caller is, and what it may do")
async def me(who: Principal = Depends(caller)) -> Response:
    return Response(orjson.dumps(_me(who)), media_type="application/json")
