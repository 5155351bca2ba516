"""Fused events carry their dead apart from their casualties.

The commission's "credible cessation" counts days with fatalities (killed), not days with any
casualty, so `events.fatalities` (killed, of `casualties`) sits beside `casualties` (killed +
injured). Fused events already stored get 0 where they have a casualty figure: before this
revision no report could give a count (only allegations carried one, and they never count),
so every stored figure is 0, and a re-run of the pipeline finds them unchanged.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("fatalities", sa.Integer(), nullable=True))
    op.execute("UPDATE events SET fatalities = 0 WHERE casualties IS NOT NULL")


def downgrade() -> None:
    op.drop_column("events", "fatalities")
