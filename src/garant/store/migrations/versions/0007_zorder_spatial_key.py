"""SQLite's spatial index becomes a B-tree on a Z-order key; the R*Tree goes.

Filling the R*Tree cost 13-20 µs per observation inside the write transaction, a third of
intake's serialised work; `observations.zkey` (garant.store.zorder) with an ordinary index
costs a few µs and answers a bounding box in a few index ranges. Existing rows get their key
from their own lon/lat (an index column, derived like the others, so no log leaf changes);
the append-only trigger is lifted for that one statement and put back. PostgreSQL gets the
column too (intake writes it on both backends) but keeps its GiST index for boxes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from garant.store.zorder import zkey

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_BATCH = 10_000  # rows keyed per statement


def _backfill() -> None:
    """In slices of the primary key, so a store of millions of rows is never held in memory."""
    bind = op.get_bind()
    select_slice = sa.text(
        "SELECT seq, lon, lat FROM observations WHERE zkey IS NULL AND seq > :after ORDER BY seq LIMIT :n"
    )
    update = sa.text("UPDATE observations SET zkey = :z WHERE seq = :seq")
    after = 0
    while rows := bind.execute(select_slice, {"after": after, "n": _BATCH}).all():
        bind.execute(update, [{"z": zkey(lon, lat), "seq": seq} for seq, lon, lat in rows])
        after = rows[-1][0]


def upgrade() -> None:
    op.add_column("observations", sa.Column("zkey", sa.BigInteger(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER observations_no_update")
        _backfill()
        op.execute(
            "CREATE TRIGGER observations_no_update BEFORE UPDATE ON observations BEGIN "
            "SELECT RAISE(ABORT, 'observations are append-only: UPDATE refused'); END"
        )
        op.create_index("ix_observations_zkey", "observations", ["zkey"])
        op.execute("DROP TABLE observations_rtree")
    else:
        op.execute("ALTER TABLE observations DISABLE TRIGGER observations_append_only")
        _backfill()
        op.execute("ALTER TABLE observations ENABLE TRIGGER observations_append_only")


def downgrade() -> None:
    raise NotImplementedError("the Z-order key stays")
