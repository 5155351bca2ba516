"""The automatic bulletin: events, the observations each is made of, the pipeline's watermark.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from garant.store.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("evaluation_mode", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("time", UTCDateTime, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("semi_major_m", sa.Float, nullable=False),
        sa.Column("semi_minor_m", sa.Float, nullable=False),
        sa.Column("azimuth_deg", sa.Float, nullable=False),
        sa.Column("rms_s", sa.Float, nullable=False),
        sa.Column("n_observations", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_events"),
        sa.UniqueConstraint("id", name="uq_events_id"),
    )
    op.create_index("ix_events_time_seq", "events", ["time", "seq"])
    op.create_index("ix_events_kind_time", "events", ["kind", "time"])
    op.create_table(
        "event_observations",
        sa.Column("observation_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("observation_id", name="pk_event_observations"),
        sa.ForeignKeyConstraint(
            ["observation_id"], ["observations.id"], name="fk_event_observations_observation_id_observations"
        ),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name="fk_event_observations_event_id_events"),
    )
    op.create_index("ix_event_observations_event_id", "event_observations", ["event_id"])
    op.create_table(
        "pipeline_state",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("last_leaf", sa.BigInteger, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_pipeline_state"),
    )


def downgrade() -> None:
    op.drop_table("pipeline_state")
    op.drop_index("ix_event_observations_event_id", "event_observations")
    op.drop_table("event_observations")
    op.drop_index("ix_events_kind_time", "events")
    op.drop_index("ix_events_time_seq", "events")
    op.drop_table("events")
