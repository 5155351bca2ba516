"""Shared fixtures: a fresh database on each backend, an app client, a live server, real data."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from garant.api.app import create_app
from garant.config import Settings
from garant.domain.access import OrgKind, Role
from garant.services import identity
from garant.services.agreements import load_agreement_file
from garant.services.demo import demo_files, load_demo
from garant.store.db import Database, migrate, open_database

from .net import free_port, wait_healthy
from .postgres_server import PostgresServer
from .shared_data import IN_CI

_counter = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[tuple[str, Any]]:
    """(admin URL, server or None) of a real PostgreSQL for this session."""
    url = os.environ.get("GARANT_TEST_POSTGRES_URL")
    if url:
        yield url, None
        return
    try:
        server = PostgresServer.start()
    except (FileNotFoundError, OSError) as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI: {exc}")
        pytest.skip(f"no PostgreSQL server here: {exc}")
    try:
        yield server.admin_url, server
    finally:
        server.stop()


def _fresh_postgres_url(admin_url: str) -> str:
    name = f"garant_t{os.getpid()}_{next(_counter)}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def backend_url(request: pytest.FixtureRequest, folder: Path) -> str:
    """A fresh database URL on the backend a `params=["sqlite", "postgresql"]` fixture asks for."""
    if request.param == "sqlite":
        return f"sqlite:///{folder / 'garant.db'}"
    admin_url, _ = request.getfixturevalue("postgres")
    return _fresh_postgres_url(admin_url)


def demo_database(request: pytest.FixtureRequest, folder: Path, observations: bool = True) -> Database:
    """A fresh migrated database on the asked backend, with the demo loaded (for module fixtures);
    `observations=False` loads only the demo agreement."""
    db = open_database(backend_url(request, folder))
    migrate(db)
    if observations:
        load_demo(db)
    else:
        load_agreement_file(db, demo_files()[0])
    return db


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request, tmp_path)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    migrate(database)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'garant.db'}")
    migrate(database)
    yield database
    database.dispose()


@pytest.fixture
def demo_agreement_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(demo_files()[0].read_text())
    return data


@pytest.fixture
def loaded_db(db: Database) -> Database:
    """A database on each backend with the demo agreement and observations."""
    load_demo(db)
    return db


def make_principal(
    db: Database,
    username: str,
    role: Role = Role.MONITOR,
    org: str = "MECH",
    org_kind: OrgKind = OrgKind.MECHANISM,
    nation: str = "US",
) -> str:
    """A user with a token; returns the token (for `Authorization: Bearer ...`)."""
    identity.add_user(db, username, role, org, org_kind, nation, password=None)
    return identity.create_token(db, username, None, "tests")[1]


@pytest.fixture
def client(loaded_db: Database, tmp_path: Path) -> Iterator[TestClient]:
    """The API as a US monitor of the mechanism (may submit US observations, sees what it is released)."""
    app = create_app(Settings(data_dir=tmp_path, database_url=loaded_db.url), loaded_db)
    token = make_principal(loaded_db, "test-monitor")
    with TestClient(app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {token}"}) as c:
        yield c


@dataclass
class LiveServer:
    url: str
    known_observation_id: str | None
    db: Database
    token: str = ""

    @property
    def auth(self) -> dict[str, str]:
        """Headers of a US monitor of the mechanism."""
        return {"Authorization": f"Bearer {self.token}"}


def _serve(db: Database, tmp_path: Path) -> Iterator[str]:
    app = create_app(Settings(data_dir=tmp_path, database_url=db.url), db)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, timeout_s=20)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_server(sqlite_db: Database, tmp_path: Path) -> Iterator[LiveServer]:
    """A real uvicorn on loopback with the demo loaded; `known_observation_id` is one of the demo's."""
    load_demo(sqlite_db)
    for url in _serve(sqlite_db, tmp_path):
        first = httpx.get(url + "/api/v1/observations", params={"limit": 1}).json()["features"]
        token = make_principal(sqlite_db, "live-monitor")
        yield LiveServer(url, first[0]["id"] if first else None, sqlite_db, token)


@pytest.fixture
def live_server_empty(sqlite_db: Database, tmp_path: Path) -> Iterator[LiveServer]:
    for url in _serve(sqlite_db, tmp_path):
        yield LiveServer(url, None, sqlite_db, make_principal(sqlite_db, "live-monitor"))
