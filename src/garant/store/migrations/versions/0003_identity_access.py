"""Identity and need-to-know: users, tokens, sessions, audit trail, REL TO lists, sharing groups.

`observation_rel_to` holds each sharing-group observation's nations so the authorisation
filter is an indexed SQL condition; rows accepted before this revision get theirs from their
payload here. `audit_events` is append-only like the records.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa
from alembic import op

from garant.store.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("org", sa.String(64), nullable=False),
        sa.Column("org_kind", sa.String(16), nullable=False),
        sa.Column("nation", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(500), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_sha256", name="uq_api_tokens_token_sha256"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_api_tokens_user_id_users"),
    )
    op.create_table(
        "sessions",
        sa.Column("id_sha256", sa.String(64), nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id_sha256", name="pk_sessions"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_sessions_user_id_users"),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("principal", sa.String(64), nullable=False),
        sa.Column("org", sa.String(64), nullable=False),
        sa.Column("token_id", sa.BigInteger, nullable=True),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_table(
        "observation_rel_to",
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("nation", sa.String(64), nullable=False),  # a nation code or group:<name>
        sa.PrimaryKeyConstraint("nation", "seq", name="pk_observation_rel_to"),
    )
    op.create_table(  # named sharing groups: administrative data, changed by `garant group`
        "sharing_group_members",
        sa.Column("group_name", sa.String(48), nullable=False),
        sa.Column("nation", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("nation", "group_name", name="pk_sharing_group_members"),
    )
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for table in ("audit_events", "observation_rel_to"):
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} BEGIN "
                    f"SELECT RAISE(ABORT, '{table} are append-only: {action} refused'); END"
                )
    else:
        for table in ("audit_events", "observation_rel_to"):
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION garant_append_only()"
            )
    rows = bind.execute(
        sa.text("SELECT seq, payload FROM observations WHERE releasability = 'sharing_group'")
    )
    pairs = [
        {"seq": seq, "nation": nation}
        for seq, payload in rows
        for nation in sorted(set(orjson.loads(payload).get("rel_to", [])))
    ]
    if pairs:
        bind.execute(sa.text("INSERT INTO observation_rel_to (seq, nation) VALUES (:seq, :nation)"), pairs)


def downgrade() -> None:
    for table in (
        "sharing_group_members",
        "observation_rel_to",
        "audit_events",
        "sessions",
        "api_tokens",
        "users",
    ):
        op.drop_table(table)
