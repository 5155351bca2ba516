"""Client ids scoped by nation: the `client_id` column becomes "<nation>/<client id>".

A client id is the sender's; two nations may pick the same one. Unique across all nations,
a reused id told one nation that another had sent something under it. The payload keeps the
id as sent; only the index column changes, so no log leaf changes. The append-only trigger
is lifted for this one statement and put back.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    scoped = (
        "UPDATE observations SET client_id = nation || '/' || client_id "
        "WHERE client_id NOT LIKE nation || '/%'"
    )
    if op.get_bind().dialect.name == "sqlite":
        # SQLite columns take any length; the VARCHAR bound only documents the new width
        op.execute("DROP TRIGGER observations_no_update")
        op.execute(scoped)
        op.execute(
            "CREATE TRIGGER observations_no_update BEFORE UPDATE ON observations BEGIN "
            "SELECT RAISE(ABORT, 'observations are append-only: UPDATE refused'); END"
        )
    else:
        op.execute("ALTER TABLE observations ALTER COLUMN client_id TYPE VARCHAR(160)")
        op.execute("ALTER TABLE observations DISABLE TRIGGER observations_append_only")
        op.execute(scoped)
        op.execute("ALTER TABLE observations ENABLE TRIGGER observations_append_only")


def downgrade() -> None:
    raise NotImplementedError("client ids stay scoped by nation")
