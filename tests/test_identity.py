"""Identity: revocation on the next request, sessions with CSRF, rate limits, the audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from garant.api.app import create_app
from garant.config import Settings
from garant.domain.access import OrgKind, Role
from garant.services import identity
from garant.services.intake import ingest
from garant.store.db import Database

from .factories import make

PASSWORD = "a long enough passphrase"


@pytest.fixture
def app_client(loaded_db: Database, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, database_url=loaded_db.url, logins_per_minute=5)
    with TestClient(create_app(settings, loaded_db), raise_server_exceptions=False) as c:
        yield c


def _db(client: TestClient) -> Database:
    db: Database = client.app.state.garant.db  # type: ignore[attr-defined]
    return db


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_revoked_token_or_a_disabled_user_is_refused_on_the_next_request(app_client: TestClient) -> None:
    db = _db(app_client)
    identity.add_user(db, "fr-liaison", Role.NATIONAL_LIAISON, "FR-MOD", OrgKind.NATION, "FR", PASSWORD)
    token_id, token = identity.create_token(db, "fr-liaison", None, "test")
    assert app_client.get("/api/v1/auth/me", headers=_bearer(token)).json()["name"] == "fr-liaison"
    identity.revoke_token(db, token_id)
    refused = app_client.get("/api/v1/auth/me", headers=_bearer(token))
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"

    _, second = identity.create_token(db, "fr-liaison", None, "test")
    login = app_client.post("/api/v1/auth/session", json={"username": "fr-liaison", "password": PASSWORD})
    assert login.status_code == 200
    assert app_client.get("/api/v1/auth/me").json()["name"] == "fr-liaison"  # the session cookie
    identity.set_disabled(db, "fr-liaison")
    assert app_client.get("/api/v1/auth/me", headers=_bearer(second)).status_code == 401
    assert app_client.get("/api/v1/auth/me").status_code == 401  # the session too


def test_removing_a_nation_from_a_sharing_group_takes_effect_on_the_next_request(
    app_client: TestClient,
) -> None:
    db = _db(app_client)
    identity.set_group_member(db, "eastern", "FR", True)
    outcome = ingest(
        db, [make("osint", 1, nation="UA", releasability="sharing_group", rel_to=["group:eastern"])]
    )
    obs_id = outcome.results[0].id
    identity.add_user(db, "fr-monitor", Role.MONITOR, "FR-MOD", OrgKind.NATION, "FR", None)
    _, token = identity.create_token(db, "fr-monitor", None, "test")
    assert app_client.get(f"/api/v1/observations/{obs_id}", headers=_bearer(token)).status_code == 200
    identity.set_group_member(db, "eastern", "FR", False)
    assert app_client.get(f"/api/v1/observations/{obs_id}", headers=_bearer(token)).status_code == 404


def test_a_session_write_needs_the_csrf_token(app_client: TestClient) -> None:
    db = _db(app_client)
    identity.add_user(db, "us-monitor", Role.MONITOR, "MECH", OrgKind.MECHANISM, "US", PASSWORD)
    login = app_client.post("/api/v1/auth/session", json={"username": "us-monitor", "password": PASSWORD})
    csrf = login.json()["csrf_token"]
    assert (
        "httponly" in login.headers["set-cookie"].lower()
        and "samesite=strict" in login.headers["set-cookie"].lower()
    )
    forged = app_client.post("/api/v1/observations", json=make("osint", 2))
    assert forged.status_code == 403 and "x-csrf-token" in forged.json()["detail"]
    ok = app_client.post("/api/v1/observations", json=make("osint", 2), headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    app_client.delete("/api/v1/auth/session", headers={"X-CSRF-Token": csrf})
    assert app_client.get("/api/v1/auth/me").json()["kind"] == "anonymous"


def test_a_caller_submits_only_its_own_nations_observations(app_client: TestClient) -> None:
    db = _db(app_client)
    identity.add_user(db, "us-sensor", Role.SENSOR, "US-SENS", OrgKind.NATION, "US", None, kind="service")
    _, token = identity.create_token(db, "us-sensor", None, "sensor network")
    r = app_client.post(
        "/api/v1/observations", json=[make("osint", 3), make("osint", 4, nation="UA")], headers=_bearer(token)
    )
    assert r.status_code == 207
    (error,) = r.json()["errors"]
    assert error["index"] == 1 and error["status"] == 403 and error["errors"][0]["field"] == "nation"
    only_foreign = app_client.post(
        "/api/v1/observations", json=[make("osint", 8, nation="RU")], headers=_bearer(token)
    )
    assert only_foreign.status_code == 403 and only_foreign.json()["errors"][0]["field"] == "nation"
    # a sensor pushes, it does not read
    assert app_client.get("/api/v1/observations", headers=_bearer(token)).status_code == 403
    assert app_client.post("/api/v1/observations", json=make("osint", 5)).status_code == 401


def test_token_scopes_narrow_the_role(app_client: TestClient) -> None:
    from garant.domain.access import Permission

    db = _db(app_client)
    identity.add_user(db, "reader", Role.MONITOR, "MECH", OrgKind.MECHANISM, "US", None)
    _, token = identity.create_token(db, "reader", [Permission.READ_OBSERVATIONS], "read only")
    assert app_client.get("/api/v1/observations", headers=_bearer(token)).status_code == 200
    assert (
        app_client.post("/api/v1/observations", json=make("osint", 6), headers=_bearer(token)).status_code
        == 403
    )
    with pytest.raises(identity.IdentityError, match="does not have"):
        identity.create_token(db, "reader", [Permission.ADMIN_USERS], "too much")


def test_logins_are_rate_limited_and_answers_do_not_tell_users_apart(app_client: TestClient) -> None:
    db = _db(app_client)
    identity.add_user(db, "someone", Role.ANALYST, "MECH", OrgKind.MECHANISM, "MECH", PASSWORD)
    wrong = app_client.post("/api/v1/auth/session", json={"username": "someone", "password": "not it at all"})
    unknown = app_client.post(
        "/api/v1/auth/session", json={"username": "nobody", "password": "not it at all"}
    )
    assert wrong.status_code == unknown.status_code == 401 and wrong.json() == unknown.json()
    statuses = [
        app_client.post("/api/v1/auth/session", json={"username": "someone", "password": "guess"}).status_code
        for _ in range(5)
    ]
    assert statuses[-1] == 429 and statuses.count(401) == 3  # 5 a minute, 2 used above


def test_the_audit_trail_records_and_cannot_be_edited(app_client: TestClient) -> None:
    db = _db(app_client)
    identity.add_user(db, "admin", Role.ADMINISTRATOR, "ADMIN", OrgKind.MECHANISM, "ADM", PASSWORD)
    identity.add_user(db, "analyst", Role.ANALYST, "MECH", OrgKind.MECHANISM, "MECH", PASSWORD)
    _, admin = identity.create_token(db, "admin", None, "t")
    _, analyst = identity.create_token(db, "analyst", None, "t")
    hidden = ingest(db, [make("osint", 7, nation="FR", releasability="mechanism")]).results[0].id
    app_client.get(f"/api/v1/observations/{hidden}", headers=_bearer(analyst))  # a restricted read
    app_client.get("/api/v1/auth/me", headers=_bearer("garant_not-a-token"))  # a refused token
    app_client.post("/api/v1/auth/session", json={"username": "analyst", "password": "wrong guess"})
    events = app_client.get("/api/v1/auth/audit", headers=_bearer(admin)).json()["events"]
    seen = {(e["action"], e["outcome"], e["principal"]) for e in events}
    assert ("read_restricted", "ok", "analyst") in seen
    assert ("token_use", "ok", "analyst") in seen
    assert ("denied", "refused", "public") in seen
    assert ("login", "refused", "public") in seen
    assert all(e["client"] and e["at"] for e in events)
    assert app_client.get("/api/v1/auth/audit", headers=_bearer(analyst)).status_code == 403
    with pytest.raises(Exception, match="append-only"), db.write() as conn:
        conn.execute(text("DELETE FROM audit_events"))


def test_another_nations_client_ids_and_records_cannot_be_probed_by_writing(app_client: TestClient) -> None:
    """A client id or a `supersedes` that only another nation's hidden record uses answers as
    if nothing had it: client ids are scoped by nation, parents must be released to the caller."""
    db = _db(app_client)
    secret = ingest(db, [make("osint", 20, client_id="shared-id", nation="RU", releasability="originator")])
    hidden_id = secret.results[0].id
    identity.add_user(db, "ua-monitor", Role.MONITOR, "UA-MOD", OrgKind.NATION, "UA", None)
    _, token = identity.create_token(db, "ua-monitor", None, "t")
    same_id = make("osint", 21, client_id="shared-id", nation="UA")
    created = app_client.post("/api/v1/observations", json=same_id, headers=_bearer(token))
    assert created.status_code == 201  # not 409: RU's use of the id is not UA's business
    probe = make("osint", 22, nation="UA", supersedes=hidden_id)
    absent = make("osint", 23, nation="UA", supersedes="0" * 8 + "-0000-7000-8000-" + "0" * 12)
    r1 = app_client.post("/api/v1/observations", json=probe, headers=_bearer(token))
    r2 = app_client.post("/api/v1/observations", json=absent, headers=_bearer(token))
    assert r1.status_code == r2.status_code == 422
    assert r1.json()["errors"][0]["reason"].replace(hidden_id, "X") == r2.json()["errors"][0][
        "reason"
    ].replace(absent["supersedes"], "X")
    assert hidden_id not in r1.text.replace(f"'{hidden_id}'", "") and "op-12" not in r1.text


def test_an_oversized_login_is_refused_before_any_work(app_client: TestClient) -> None:
    r = app_client.post("/api/v1/auth/session", json={"username": "x", "password": "p" * 20_000})
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
