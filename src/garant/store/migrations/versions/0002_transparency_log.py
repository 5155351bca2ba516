"""Transparency log: leaves, complete subtree hashes, head, checkpoints, signing keys.

Records accepted before this revision are appended to the log here, in the order they were
accepted (agreements and observations merged by their server time), so every record in the
database has its leaf.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

import orjson
import sqlalchemy as sa
from alembic import op

from garant.store.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = ("log_leaves", "log_nodes", "log_checkpoints", "log_keys")


def upgrade() -> None:
    op.create_table(
        "log_head",
        sa.Column("id", sa.SmallInteger, nullable=False),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_log_head"),
    )
    op.create_table(
        "log_leaves",
        sa.Column("idx", SEQ, nullable=False, autoincrement=False),
        sa.Column("record_type", sa.String(32), nullable=False),
        sa.Column("record_id", sa.String(128), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("idx", name="pk_log_leaves"),
        sa.UniqueConstraint("record_type", "record_id", name="uq_log_leaves_record_type_record_id"),
    )
    op.create_table(
        "log_nodes",
        sa.Column("level", sa.SmallInteger, nullable=False, autoincrement=False),
        sa.Column("idx", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name="pk_log_nodes"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("key_name", sa.String(200), nullable=False),
        sa.Column("key_id", sa.String(8), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("signed_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_log_checkpoints"),
    )
    op.create_index("ix_log_checkpoints_tree_size", "log_checkpoints", ["tree_size"])
    op.create_table(
        "log_keys",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("vkey", sa.String(300), nullable=False),
        sa.Column("key_name", sa.String(200), nullable=False),
        sa.Column("key_id", sa.String(8), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_log_keys"),
        sa.UniqueConstraint("vkey", name="uq_log_keys_vkey"),
    )
    op.execute("INSERT INTO log_head (id, tree_size) VALUES (1, 0)")

    if op.get_bind().dialect.name == "sqlite":
        for table in APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} BEGIN "
                    f"SELECT RAISE(ABORT, '{table} are append-only: {action} refused'); END"
                )
    else:
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION garant_append_only()"
            )
    _append_existing_records(op.get_bind())


def _existing(conn: sa.Connection) -> Iterator[tuple[object, str, str, bytes]]:
    from garant.transparency.leaves import agreement_leaf, observation_leaf

    agreements = conn.execute(sa.text("SELECT key, loaded_at, content FROM agreements ORDER BY seq"))
    observations = conn.execute(
        sa.text("SELECT id, received_at, agreement_key, payload FROM observations ORDER BY seq")
    )
    when = UTCDateTime()
    dialect = conn.dialect

    def _time(value: object) -> object:
        return when.process_result_value(value, dialect)

    a = (
        (_time(t), "agreement", k, agreement_leaf(k, _time(t), orjson.loads(c)))  # type: ignore[arg-type]
        for k, t, c in agreements
    )
    o = (
        (_time(t), "observation", i, observation_leaf(i, _time(t), ak, orjson.loads(p)))  # type: ignore[arg-type]
        for i, t, ak, p in observations
    )
    yield from heapq.merge(a, o, key=lambda e: e[0])  # type: ignore[arg-type,return-value]


def _append_existing_records(conn: sa.Connection) -> None:
    from garant.store.log import Appender

    log = Appender.open(conn)
    batch: list[tuple[str, str, bytes]] = []
    for _, record_type, record_id, data in _existing(conn):
        batch.append((record_type, record_id, data))
        if len(batch) == 5000:
            log.append(batch)
            batch = []
    log.append(batch)


def downgrade() -> None:
    for table in ("log_keys", "log_checkpoints", "log_nodes", "log_leaves", "log_head"):
        op.drop_table(table)
