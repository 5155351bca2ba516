"""What a served request no longer waits for, and what still happens for it.

Under load every write transaction on SQLite queues behind the batches being written, so a
request that signed a checkpoint or wrote its token-use audit event in a transaction of its
own waited up to a second for it (measured on the intake benchmark). A served app signs in
its periodic loop and writes token-use events in batches; nothing is dropped: the loop (or
shutdown) signs every write, and the audit trail shows every event when it is read.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text

from garant.api.app import create_app
from garant.api.state import AppState
from garant.config import Settings
from garant.domain.access import OrgKind, Role
from garant.services import identity
from garant.store import log as log_store
from garant.store.db import Database

from .conftest import make_principal
from .factories import make


def _signed_size(db: Database) -> int:
    with db.read() as conn:
        cp = log_store.latest_checkpoint(conn)
        return -1 if cp is None else cp.tree_size


def _tree_size(db: Database) -> int:
    with db.read() as conn:
        return log_store.tree_size(conn)


def test_a_served_write_is_signed_by_the_loop_not_in_the_request(sqlite_db: Database, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=sqlite_db.url, checkpoint_interval_s=3600)
    token = make_principal(sqlite_db, "monitor")
    auth = {"authorization": f"Bearer {token}"}
    # embedded without the loop (no lifespan): the request signs, as before
    alone = TestClient(create_app(settings, sqlite_db, migrate_db=False))
    assert alone.post("/api/v1/observations", json=make("crater", 1), headers=auth).status_code == 201
    assert _signed_size(sqlite_db) == _tree_size(sqlite_db)
    # served (the lifespan runs the loop, here every hour): the request does not sign...
    with TestClient(create_app(settings, sqlite_db, migrate_db=False)) as served:
        state: AppState = served.app.state.garant  # type: ignore[attr-defined]
        assert state.periodic_signing
        assert served.post("/api/v1/observations", json=make("crater", 2), headers=auth).status_code == 201
        assert _signed_size(sqlite_db) < _tree_size(sqlite_db)
    # ... and shutdown signs what the loop had not yet
    assert _signed_size(sqlite_db) == _tree_size(sqlite_db)


def _token_uses(db: Database) -> int:
    with db.read() as conn:
        return int(
            conn.execute(text("SELECT count(*) FROM audit_events WHERE action = 'token_use'")).scalar_one()
        )


def test_token_use_is_audited_in_batches_and_shown_when_the_trail_is_read(
    sqlite_db: Database, tmp_path: Path
) -> None:
    app = create_app(Settings(data_dir=tmp_path, database_url=sqlite_db.url), sqlite_db, migrate_db=False)
    client = TestClient(app)
    state: AppState = app.state.garant
    reader = make_principal(sqlite_db, "monitor")
    identity.add_user(sqlite_db, "admin", Role.ADMINISTRATOR, "ADMIN", OrgKind.MECHANISM, "ADM", None)
    admin = identity.create_token(sqlite_db, "admin", None, "t")[1]
    for _ in range(3):
        assert client.get("/api/v1/auth/me", headers={"authorization": f"Bearer {reader}"}).status_code == 200
    assert _token_uses(sqlite_db) == 0  # queued, not one transaction per request
    state.flush_audit()
    assert _token_uses(sqlite_db) == 3
    client.get("/api/v1/auth/me", headers={"authorization": f"Bearer {reader}"})
    trail = client.get("/api/v1/auth/audit", headers={"authorization": f"Bearer {admin}"}).json()["events"]
    # reading the trail flushes first: the last use and the admin's own are in it
    assert sum(e["action"] == "token_use" and e["principal"] == "monitor" for e in trail) == 4
    assert any(e["action"] == "token_use" and e["principal"] == "admin" for e in trail)


def test_writers_queue_on_the_lock_file_beside_the_database(sqlite_db: Database) -> None:
    """A writer holding the lock file holds back every Garant writer of that database (a
    kernel wait, woken at release; SQLite's own busy handler polls with sleeps)."""
    assert sqlite_db.write_lock_path is not None
    fd = os.open(sqlite_db.write_lock_path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    entered = threading.Event()

    def write() -> None:
        with sqlite_db.write() as conn:
            conn.exec_driver_sql("SELECT 1")
            entered.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert not entered.wait(0.5)  # SQLite itself is not locked: only the lock file holds it
    finally:
        os.close(fd)  # releases the lock
    writer.join(10)
    assert entered.is_set()
