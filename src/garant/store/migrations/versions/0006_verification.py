"""The verification pipeline's bulletin: fused events, their blasts, violations, review acts.

Review acts are records: append-only, and each is a leaf of the transparency log.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from garant.store.append_only import make_append_only
from garant.store.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_FUSED = (
    ("end_time", UTCDateTime),
    ("origin_lon", sa.Float),
    ("origin_lat", sa.Float),
    ("origin_semi_major_m", sa.Float),
    ("origin_semi_minor_m", sa.Float),
    ("origin_azimuth_deg", sa.Float),
    ("attribution", sa.Text),
    ("status_reason", sa.Text),
    ("level", sa.String(16)),
    ("technical", sa.Boolean),
    ("severity", sa.Float),
    ("weapon_class", sa.String(64)),
    ("rounds", sa.Integer),
    ("casualties", sa.Integer),
    ("agreement_key", sa.String(80)),
)


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.alter_column("rms_s", existing_type=sa.Float, nullable=True)
        for name, type_ in _FUSED:
            batch.add_column(sa.Column(name, type_, nullable=True))
    op.create_index("ix_events_status_severity", "events", ["status", "severity"])
    op.create_table(
        "event_parts",
        sa.Column("part_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("part_id", name="pk_event_parts"),
        sa.ForeignKeyConstraint(["part_id"], ["events.id"], name="fk_event_parts_part_id_events"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name="fk_event_parts_event_id_events"),
    )
    op.create_index("ix_event_parts_event_id", "event_parts", ["event_id"])
    op.create_table(
        "violations",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("provision_id", sa.String(64), nullable=False),
        sa.Column("agreement_key", sa.String(80), nullable=False),
        sa.Column("probability", sa.Float, nullable=False),
        sa.Column("party", sa.String(64), nullable=True),
        sa.Column("party_probability", sa.Float, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_violations"),
        sa.UniqueConstraint("id", name="uq_violations_id"),
        sa.UniqueConstraint("event_id", "provision_id", name="uq_violations_event_id_provision_id"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name="fk_violations_event_id_events"),
    )
    op.create_index("ix_violations_provision_id", "violations", ["provision_id"])
    op.create_table(
        "review_acts",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("act", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("actor_org", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_review_acts"),
        sa.UniqueConstraint("id", name="uq_review_acts_id"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name="fk_review_acts_event_id_events"),
    )
    op.create_index("ix_review_acts_event_id", "review_acts", ["event_id"])
    make_append_only("review_acts")


def downgrade() -> None:
    op.drop_index("ix_review_acts_event_id", "review_acts")
    op.drop_table("review_acts")
    op.drop_index("ix_violations_provision_id", "violations")
    op.drop_table("violations")
    op.drop_index("ix_event_parts_event_id", "event_parts")
    op.drop_table("event_parts")
    op.drop_index("ix_events_status_severity", "events")
    with op.batch_alter_table("events") as batch:
        for name, _ in reversed(_FUSED):
            batch.drop_column(name)
        batch.alter_column("rms_s", existing_type=sa.Float, nullable=False)
