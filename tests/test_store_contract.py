"""One contract for the store, run against SQLite and a real PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from garant.domain.access import SYSTEM
from garant.services.intake import ingest, ingest_with_retry
from garant.store import observations as obs_store
from garant.store.db import Database, alembic_config, migrate, open_database
from garant.store.zorder import zkey

from .factories import make


def _grid(n: int, prefix: str = "g") -> list[dict[str, object]]:
    """n sightings on a 0.01-degree grid over ~2x2 degrees, one a minute."""
    side = int(n**0.5) + 1
    return [
        make(
            "sighting",
            i,
            client_id=f"{prefix}-{i}",
            lon=36.0 + (i % side) * (2.0 / side),
            lat=47.0 + (i // side) * (2.0 / side),
            observed_at=f"2026-03-{1 + i // 1440:02d}T{(i // 60) % 24:02d}:{i % 60:02d}:00Z",
        )
        for i in range(n)
    ]


def test_migrations_are_idempotent(db: Database) -> None:
    migrate(db)
    migrate(db)
    with db.read() as conn:
        head = ScriptDirectory.from_config(alembic_config(db.url)).get_current_head()
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head == "0008"


def test_migration_0007_keys_the_rows_already_stored(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows written before the Z-order key get it from their own lon/lat, and a box finds them."""
    db = open_database(database_url)
    migrate(db, "0006")
    # intake as it was before 0007: rows without the key
    at, insert_new = obs_store.COLUMNS.index("zkey"), obs_store.insert_new
    monkeypatch.setattr(obs_store, "COLUMNS", tuple(c for c in obs_store.COLUMNS if c != "zkey"))
    monkeypatch.setattr(
        obs_store, "insert_new", lambda conn, params: insert_new(conn, [p[:at] + p[at + 1 :] for p in params])
    )
    items = _grid(10_050, prefix="old")  # more than one slice of the backfill (10,000)
    for i in range(0, len(items), 5000):
        assert ingest(db, items[i : i + 5000]).created == len(items[i : i + 5000])
    monkeypatch.undo()
    migrate(db)
    with db.read() as conn:
        stored = conn.execute(text("SELECT lon, lat, zkey FROM observations")).all()
        assert len(stored) == len(items) and all(z == zkey(lon, lat) for lon, lat, z in stored)
        got = obs_store.list_observations(
            conn, obs_store.ObservationFilter(SYSTEM, bbox=(36.5, 47.5, 37.0, 48.0))
        )
    inside = [o for o in items if 36.5 <= o["lon"] <= 37.0 and 47.5 <= o["lat"] <= 48.0]  # type: ignore[operator]
    assert len(got) == len(inside) > 0
    with pytest.raises(DBAPIError, match="append-only"), db.write() as conn:  # the guard is back
        conn.execute(text("UPDATE observations SET zkey = 0"))
    db.dispose()


def test_sqlite_pragmas(sqlite_db: Database) -> None:
    with sqlite_db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1


@pytest.mark.parametrize("statement", ["UPDATE observations SET lat = 0", "DELETE FROM observations"])
def test_records_are_append_only(db: Database, statement: str) -> None:
    outcome = ingest(db, [make("crater", client_id="imm-1")])
    assert outcome.created == 1
    with pytest.raises(DBAPIError, match="append-only"), db.write() as conn:
        conn.execute(text(statement))
    with db.read() as conn:
        row = obs_store.get_observation(conn, outcome.results[0].id, SYSTEM)
    assert row is not None and '"lat":48.6' in row["payload"]


def test_agreements_are_append_only(loaded_db: Database) -> None:
    with pytest.raises(DBAPIError, match="append-only"), loaded_db.write() as conn:
        conn.execute(text("UPDATE agreements SET version = 99"))


def test_failed_batch_is_not_half_written(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database error after the rows went in rolls the whole transaction back."""
    good = [make("crater", i, client_id=f"hw-{i}") for i in range(50)]
    original = obs_store.insert_new

    def failing_insert(conn: Connection, params: Sequence[tuple[Any, ...]]) -> int:
        original(conn, params)
        raise RuntimeError("disk full")

    monkeypatch.setattr(obs_store, "insert_new", failing_insert)
    with pytest.raises(RuntimeError):
        ingest(db, good)
    monkeypatch.undo()
    with db.read() as conn:
        assert obs_store.count_observations(conn) == 0


def _plan(db: Database, f: obs_store.ObservationFilter) -> str:
    with db.read() as conn:
        q = obs_store._record_select(SYSTEM).where(*obs_store.filter_conditions(conn.dialect.name, f))
        sql = str(q.compile(conn, compile_kwargs={"literal_binds": True}))
        prefix = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN "
        rows = conn.exec_driver_sql(prefix + sql).all()
    return "\n".join(str(r[-1]) for r in rows)


def test_bbox_and_time_filters_use_an_index(db: Database) -> None:
    items = _grid(20_000)
    for i in range(0, len(items), 5000):
        assert ingest(db, items[i : i + 5000]).created == 5000
    with db.write() as conn:
        conn.exec_driver_sql("ANALYZE")
    bbox = obs_store.ObservationFilter(SYSTEM, bbox=(36.5, 47.5, 36.6, 47.6))
    timed = obs_store.ObservationFilter(
        SYSTEM, start=datetime(2026, 3, 5, 1, tzinfo=UTC), end=datetime(2026, 3, 5, 2, tzinfo=UTC)
    )
    bbox_plan, time_plan = _plan(db, bbox), _plan(db, timed)
    if db.dialect == "sqlite":
        assert "ix_observations_zkey" in bbox_plan, bbox_plan
        assert "ix_observations_observed_at_seq" in time_plan, time_plan
    else:
        assert "ix_observations_point" in bbox_plan, bbox_plan
        assert "ix_observations_observed_at_seq" in time_plan, time_plan
    with db.read() as conn:
        got = obs_store.list_observations(conn, bbox)
    side = int(20_000**0.5) + 1
    expected = sum(
        1
        for i in range(20_000)
        if 36.5 <= 36.0 + (i % side) * (2.0 / side) <= 36.6
        and 47.5 <= 47.0 + (i // side) * (2.0 / side) <= 47.6
    )
    assert len(got) == expected > 0


def test_concurrent_writers_never_duplicate(db: Database) -> None:
    items = [make("acoustic_detection", i, client_id=f"cc-{i}") for i in range(600)]
    results: list[object] = []
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            results.append(ingest_with_retry(db, items[offset:] + items[:offset], attempts=5))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k * 150,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with db.read() as conn:
        assert obs_store.count_observations(conn) == 600
    ids = [{r.client_id: r.id for r in o.results} for o in results]  # type: ignore[attr-defined]
    assert all(m == ids[0] for m in ids)
    assert sum(o.created for o in results) == 600  # type: ignore[attr-defined]
