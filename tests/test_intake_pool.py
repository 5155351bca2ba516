"""Batches taken in by intake processes behind the API worker (`api/intake_pool.py`).

The pool must answer exactly as the worker's own thread does (the same statuses, results and
problem documents), do the work in its own processes (so a second core takes it whichever
worker holds the connection), and survive the death of one of its processes without losing or
half-writing anything.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from garant.api.app import create_app
from garant.api.state import AppState
from garant.config import Settings
from garant.store import observations as obs_store
from garant.store.db import Database

from .conftest import make_principal
from .factories import make

PROBLEM = "application/problem+json"
JSON = "application/json"


def _client(db: Database, folder: Path, processes: int, user: str) -> TestClient:
    app = create_app(Settings(data_dir=folder, database_url=db.url, intake_processes=processes), db)
    token = make_principal(db, user)
    return TestClient(app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def pooled(loaded_db: Database, tmp_path: Path) -> Iterator[TestClient]:
    with _client(loaded_db, tmp_path, 2, "pool-monitor") as c:
        yield c


def _state(client: TestClient) -> AppState:
    state: AppState = client.app.state.garant  # type: ignore[attr-defined]
    return state


def _batch(prefix: str) -> list[dict[str, Any]]:
    items = [make("acoustic_detection", i, client_id=f"{prefix}-{i}") for i in range(10_000)]
    items[17]["lat"] = 123.0
    items[5000]["observed_at"] = "yesterday"
    del items[9999]["sensor_id"]
    return items


def _shape(body: dict[str, Any], prefix: str) -> Any:
    """A reply with what must differ between two stores (ids, the client ids' prefix) masked."""
    for r in body.get("results", []):
        r["id"] = "*"
    if body.get("type") == "Feature":
        body["id"] = body["properties"]["id"] = body["properties"]["received_at"] = "*"
    return json.loads(json.dumps(body).replace(f"{prefix}-", "*-"))


def test_the_pool_answers_as_the_workers_thread_does(
    pooled: TestClient, loaded_db: Database, tmp_path: Path
) -> None:
    """10,000 with 3 bad (207, 9,997 kept), its replay (all duplicates, the same ids), a reused
    client id with other content (409 problem) and a batch all refused (422 problem): through the
    pool and through the thread, the same replies."""
    assert _state(pooled).intake_pool is not None
    with _client(loaded_db, tmp_path / "thread", 0, "thread-monitor") as threaded:
        assert _state(threaded).intake_pool is None
        replies: dict[str, list[tuple[int, str, Any]]] = {}
        for name, client in (("pool", pooled), ("thread", threaded)):
            items = _batch(name)
            conflict = {**items[3], "lat": items[3]["lat"] + 0.001}
            sent: list[Any] = [
                {"observations": items},
                {"observations": items},
                [conflict],
                [items[17]],
                [],
                {"observations": {"not": "a list"}},
                [items[0]] * 10_001,
                b'[{"kind": "crater",',
                {**items[0], "client_id": f"{name}-single"},  # one observation: the worker's own
            ]
            out = []
            for body in sent:
                if isinstance(body, bytes):
                    r = client.post("/api/v1/observations", content=body, headers={"content-type": JSON})
                else:
                    r = client.post("/api/v1/observations", json=body)
                out.append((r.status_code, r.headers["content-type"], _shape(r.json(), name)))
            replies[name] = out
            first, again = out[0][2], out[1][2]
            assert (first["accepted"], first["rejected"]) == (9997, 3)
            assert (again["accepted"], again["duplicates"]) == (0, 9997)
        assert replies["pool"] == replies["thread"]
        statuses = [(s, t) for s, t, _ in replies["pool"]]
        assert statuses == [
            (207, JSON),
            (207, JSON),
            (409, PROBLEM),
            (422, PROBLEM),
            (422, PROBLEM),
            (422, PROBLEM),
            (413, PROBLEM),
            (400, PROBLEM),
            (201, "application/geo+json"),
        ]
    with loaded_db.read() as conn:
        for name in ("pool", "thread"):
            stored = conn.execute(
                text("SELECT count(*) FROM observations WHERE client_id LIKE :p"), {"p": f"US/{name}-%"}
            )
            assert stored.scalar_one() == 9997 + 1  # the batch's good items and the single one


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads CPU times from /proc")
def test_the_pools_processes_do_the_work(pooled: TestClient) -> None:
    pool = _state(pooled).intake_pool
    assert pool is not None
    pids = pool.pids()
    assert len(pids) == 2 and os.getpid() not in pids
    before = sum(_cpu_s(p) for p in pids)
    items = [make("acoustic_detection", i, client_id=f"cpu-{i}") for i in range(10_000)]
    assert pooled.post("/api/v1/observations", json=items).status_code == 201
    assert sum(_cpu_s(p) for p in pids) - before > 0.2  # validating and writing 10,000 is theirs


def test_a_dead_intake_process_answers_503_and_the_pool_recovers(
    pooled: TestClient, loaded_db: Database
) -> None:
    pool = _state(pooled).intake_pool
    assert pool is not None
    with loaded_db.read() as conn:
        stored = obs_store.count_observations(conn)
    killed = pool.pids()
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not pool.broken() and time.monotonic() < deadline:
        time.sleep(0.05)
    items = [make("crater", i, client_id=f"dead-{i}") for i in range(20)]
    r = pooled.post("/api/v1/observations", json=items)
    assert r.status_code == 503 and r.headers["content-type"] == PROBLEM
    assert r.headers["retry-after"] == "1" and "same client ids" in r.json()["detail"]
    with loaded_db.read() as conn:
        assert obs_store.count_observations(conn) == stored
    again = pooled.post("/api/v1/observations", json=items)  # the sender's retry
    assert again.status_code == 201 and again.json()["accepted"] == 20
    assert pool.pids() and set(pool.pids()).isdisjoint(killed)  # a fresh pool took it
