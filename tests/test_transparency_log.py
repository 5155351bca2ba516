"""The log in the store's write path, on SQLite and PostgreSQL: gap-free leaves, proofs, keys."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, text

from garant.config import Settings
from garant.services.audit import audit
from garant.services.checkpoints import Checkpointer, ensure_signer, rotate_signer, trusted_verifiers
from garant.services.demo import demo_observations, load_demo
from garant.services.intake import ingest, ingest_with_retry
from garant.services.log_records import RECORD_SOURCES
from garant.store import log as log_store
from garant.store.db import Database, migrate, open_database
from garant.store.schema import log_leaves
from garant.transparency import merkle
from garant.transparency.note import open_checkpoint

from .factories import make


def _settings(tmp_path: Path, db: Database) -> Settings:
    return Settings(data_dir=tmp_path, database_url=db.url)


def _recomputed_tree(db: Database) -> tuple[merkle.MemoryTree, list[int]]:
    """The tree rebuilt from the records themselves, in their logged order, and the leaf indexes."""
    with db.read() as conn:
        data = {(t, r.record_id): r.data for t, source in RECORD_SOURCES.items() for r in source(conn)}
        rows = conn.execute(select(log_leaves).order_by(log_leaves.c.idx)).all()
    tree = merkle.MemoryTree(merkle.leaf_hash(data[(r.record_type, r.record_id)]) for r in rows)
    return tree, [int(r.idx) for r in rows]


def test_every_accepted_record_gets_one_leaf_and_the_stored_root_is_the_recomputed_one(db: Database) -> None:
    load_demo(db)
    outcome = ingest(db, [make("crater", i) for i in range(5)] + [{"kind": "nonsense"}])
    assert outcome.created == 5 and outcome.rejected == 1
    again = ingest(db, [make("crater", i) for i in range(5)])  # duplicates: no new leaf
    assert again.duplicates == 5
    tree, indexes = _recomputed_tree(db)
    with db.read() as conn:
        size = log_store.tree_size(conn)
        stored_root = merkle.root_hash(size, lambda nodes: log_store.read_nodes(conn, nodes))
        n_obs = conn.execute(text("SELECT count(*) FROM observations")).scalar_one()
    assert size == n_obs + 1 == _demo_size() + 5 + 1  # the demo's observations, 5 craters, the agreement
    assert indexes == list(range(size))
    assert stored_root == tree.root()


def test_proofs_read_from_the_store_verify_at_every_size(db: Database) -> None:
    load_demo(db)
    tree, _ = _recomputed_tree(db)
    with db.read() as conn:

        def source(nodes: object) -> dict[merkle.Node, bytes]:
            return log_store.read_nodes(conn, nodes)  # type: ignore[arg-type]

        size = log_store.tree_size(conn)
        for n in range(1, size + 1):
            root = merkle.root_hash(n, source)
            assert root == tree.root(n)
            for m in (0, n // 3, n - 1):
                merkle.verify_inclusion(m, n, tree.levels[0][m], merkle.inclusion_proof(m, n, source), root)
            for m in (1, n // 2, n):
                merkle.verify_consistency(m, n, merkle.consistency_proof(m, n, source), tree.root(m), root)


def test_concurrent_writers_get_unique_gap_free_indexes(db: Database) -> None:
    """8 threads, 10,000 records (with overlapping client ids): one leaf each, no gap, true root."""
    load_demo(db)
    threads, per_thread, batch = 8, 1250, 125
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        try:
            for start in range(0, per_thread, batch):
                items = [make("sighting", t * per_thread + i) for i in range(start, start + batch)]
                if t % 2:  # odd threads resend their neighbour's first batch too: duplicates, not leaves
                    items += [make("sighting", (t - 1) * per_thread + i) for i in range(10)]
                ingest_with_retry(db, items, attempts=5)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
    tree, indexes = _recomputed_tree(db)
    with db.read() as conn:
        size = log_store.tree_size(conn)
        n_obs = conn.execute(text("SELECT count(*) FROM observations")).scalar_one()
        stored_root = merkle.root_hash(size, lambda nodes: log_store.read_nodes(conn, nodes))
    assert n_obs == _demo_size() + threads * per_thread
    assert size == n_obs + 1
    assert indexes == list(range(size))  # unique and gap-free
    assert stored_root == tree.root()
    report = audit(db, [], "localhost/garant")  # also: the log's order is the table's order
    assert report.ok, report.findings[:5]


@pytest.mark.parametrize("table", ["log_leaves", "log_nodes", "log_checkpoints", "log_keys"])
def test_log_tables_refuse_update_and_delete(db: Database, tmp_path: Path, table: str) -> None:
    load_demo(db)
    Checkpointer.for_settings(_settings(tmp_path, db), db).sign_now()
    for statement in (f"UPDATE {table} SET {_a_column(table)} = {_a_column(table)}", f"DELETE FROM {table}"):
        with pytest.raises(Exception, match="append-only"), db.write() as conn:
            conn.execute(text(statement))


def _a_column(table: str) -> str:
    return {"log_leaves": "record_id", "log_nodes": "hash", "log_checkpoints": "note", "log_keys": "vkey"}[
        table
    ]


def test_the_signing_key_is_private_and_rotation_keeps_old_checkpoints_verifiable(
    db: Database, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, db)
    load_demo(db)
    signer = ensure_signer(settings, db)
    key_file = settings.key_dir / "log.skey"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.key_dir.stat().st_mode) == 0o700
    first = Checkpointer(db, signer, settings.log_origin, 0).sign_now()

    old, new_signer = rotate_signer(settings, db)
    assert old is not None and old.key_id != new_signer.verifier().key_id
    load_demo_more = ingest(db, [make("osint", i) for i in range(3)])
    assert load_demo_more.created == 3
    second = Checkpointer(db, new_signer, settings.log_origin, 0).sign_now()

    # the old checkpoint verifies with the old public key only, the new with the new one
    open_checkpoint(first.note, [old], settings.log_origin)
    open_checkpoint(second.note, [new_signer.verifier()], settings.log_origin)
    with pytest.raises(ValueError):
        open_checkpoint(first.note, [new_signer.verifier()], settings.log_origin)
    # both keys are trusted on disk and on the record (log_key leaves); the whole log audits clean
    assert {v.key_id for v in trusted_verifiers(settings)} == {old.key_id, new_signer.verifier().key_id}
    with db.read() as conn:
        assert len(log_store.list_keys(conn)) == 2
        assert log_store.find_leaf(conn, "log_key", f"{old.name}+{old.key_id.hex()}") is not None
    report = audit(db, trusted_verifiers(settings), settings.log_origin)
    assert report.ok, report.findings
    assert report.checkpoints_checked == 2
    assert first.tree_size < second.tree_size


def test_a_world_readable_key_is_refused(db: Database, tmp_path: Path) -> None:
    settings = _settings(tmp_path, db)
    ensure_signer(settings, db)
    os.chmod(settings.key_dir / "log.skey", 0o644)
    with pytest.raises(ValueError, match="0600"):
        ensure_signer(settings, db)


def test_checkpoints_follow_the_interval(db: Database, tmp_path: Path) -> None:
    settings = _settings(tmp_path, db)
    load_demo(db)
    every_write = Checkpointer(db, ensure_signer(settings, db), settings.log_origin, 0)
    hourly = Checkpointer(db, every_write.signer, settings.log_origin, 3600)
    sizes = []
    for i in range(3):
        ingest(db, [make("osint", i)])
        every_write.after_write()
        with db.read() as conn:
            sizes.append(log_store.latest_checkpoint(conn).tree_size)  # type: ignore[union-attr]
    assert sizes == [sizes[0], sizes[0] + 1, sizes[0] + 2]
    hourly.after_write()
    ingest(db, [make("osint", 99)])
    hourly.after_write()  # within the hour: no new checkpoint
    with db.read() as conn:
        assert log_store.latest_checkpoint(conn).tree_size == sizes[-1]  # type: ignore[union-attr]


def test_upgrading_a_database_logs_the_records_it_already_held(tmp_path: Path) -> None:
    """Records written under revision 0001 (before the log) get their leaves at upgrade, in order."""
    source = open_database(f"sqlite:///{tmp_path / 'source.db'}")
    migrate(source)
    load_demo(source)
    old = open_database(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(old, "0001")
    with source.read() as src, old.write() as dst:
        for table in ("agreements", "observations"):
            had = {r[1] for r in dst.execute(text(f"PRAGMA table_info({table})"))}  # columns of 0001
            rows = [
                {k: v for k, v in r._mapping.items() if k in had}
                for r in src.execute(text(f"SELECT * FROM {table} ORDER BY seq"))
            ]
            cols = ", ".join(rows[0])
            marks = ", ".join(f":{c}" for c in rows[0])
            dst.execute(text(f"INSERT INTO {table} ({cols}) VALUES ({marks})"), rows)
    migrate(old)
    tree, indexes = _recomputed_tree(old)
    with old.read() as conn:
        size = log_store.tree_size(conn)
        assert merkle.root_hash(size, lambda nodes: log_store.read_nodes(conn, nodes)) == tree.root()
        first = log_store.leaves_in_range(conn, 0, 1)[0]
    assert size == _demo_size() + 1 and indexes == list(range(size))
    assert first.record_type == "agreement"  # loaded before the observations
    report = audit(old, [], "localhost/garant")
    assert report.ok, report.findings
    source.dispose()
    old.dispose()


def _demo_size() -> int:
    with demo_observations().open(encoding="utf-8") as fh:
        return sum(1 for _ in fh)


def test_the_first_write_is_signed_however_soon_after_the_machine_started(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interval runs from the last signing; a process that has not signed yet signs at its
    first write. The monotonic clock starts near boot: 40 minutes after it, with an hourly
    interval, nothing used to be signed (found on a freshly started machine)."""
    load_demo(db)
    monkeypatch.setattr("garant.services.checkpoints.time.monotonic", lambda: 2_400.0)
    cp = Checkpointer.for_settings(
        Settings(data_dir=tmp_path, database_url=db.url, checkpoint_interval_s=3600), db
    )
    cp.after_write()
    with db.read() as conn:
        latest = log_store.latest_checkpoint(conn)
        assert latest is not None and latest.tree_size == log_store.tree_size(conn)
    assert ingest(db, [make("osint", 1)]).created == 1
    cp.after_write()  # within the hour: not again
    with db.read() as conn:
        assert log_store.latest_checkpoint(conn).tree_size < log_store.tree_size(conn)  # type: ignore[union-attr]
