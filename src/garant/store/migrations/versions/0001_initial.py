"""Initial schema: agreements and observations, append-only, with time and spatial indexes.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from garant.store.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
IMMUTABLE = ("agreements", "observations")


def upgrade() -> None:
    op.create_table(
        "agreements",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("agreement_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("entry_into_force", UTCDateTime, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("loaded_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_agreements"),
        sa.UniqueConstraint("key", name="uq_agreements_key"),
        sa.UniqueConstraint("agreement_id", "version", name="uq_agreements_agreement_id_version"),
    )
    op.create_table(
        "observations",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source_id", sa.String(128), nullable=False),
        sa.Column("nation", sa.String(16), nullable=False),
        sa.Column("observed_at", UTCDateTime, nullable=False),
        sa.Column("observed_until", UTCDateTime, nullable=True),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("location_uncertainty_m", sa.Float, nullable=False),
        sa.Column("reliability", sa.String(1), nullable=False),
        sa.Column("credibility", sa.SmallInteger, nullable=False),
        sa.Column("releasability", sa.String(16), nullable=False),
        sa.Column("supersedes", sa.String(36), nullable=True),
        sa.Column("agreement_key", sa.String(80), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_observations"),
        sa.UniqueConstraint("id", name="uq_observations_id"),
        sa.UniqueConstraint("client_id", name="uq_observations_client_id"),
        sa.ForeignKeyConstraint(
            ["supersedes"], ["observations.id"], name="fk_observations_supersedes_observations"
        ),
    )
    op.create_index("ix_observations_observed_at_seq", "observations", ["observed_at", "seq"])
    op.create_index("ix_observations_kind_observed_at", "observations", ["kind", "observed_at"])
    op.create_index("ix_observations_source_id", "observations", ["source_id"])
    op.create_index("ix_observations_nation", "observations", ["nation"])
    # partial: almost no observation is a correction, so most rows cost this index nothing
    op.create_index(
        "ix_observations_supersedes",
        "observations",
        ["supersedes"],
        sqlite_where=sa.text("supersedes IS NOT NULL"),
        postgresql_where=sa.text("supersedes IS NOT NULL"),
    )

    if op.get_bind().dialect.name == "sqlite":
        # R*Tree over the points, filled by `garant.store.observations.insert_new` in one
        # statement per batch (a per-row trigger made intake four times slower).
        op.execute(
            "CREATE VIRTUAL TABLE observations_rtree USING rtree(seq, min_lon, max_lon, min_lat, max_lat)"
        )
        for table in IMMUTABLE:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} BEGIN "
                    f"SELECT RAISE(ABORT, '{table} are append-only: {action} refused'); END"
                )
    else:
        op.execute("CREATE INDEX ix_observations_point ON observations USING gist (point(lon, lat))")
        op.execute(
            "CREATE FUNCTION garant_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION '% are append-only: % refused', TG_TABLE_NAME, TG_OP; END $$"
        )
        for table in IMMUTABLE:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION garant_append_only()"
            )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS observations_rtree")
    op.drop_table("observations")
    op.drop_table("agreements")
    if bind.dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS garant_append_only()")
