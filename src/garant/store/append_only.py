"""Append-only tables: triggers that refuse UPDATE and DELETE, on SQLite and PostgreSQL.

Migrations from 0006 on call `make_append_only`; the earlier ones spell the same triggers out
(a migration, once released, is never edited). PostgreSQL's trigger function
`garant_append_only()` is created by migration 0001.
"""

from __future__ import annotations

from alembic import op


def make_append_only(*tables: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in tables:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} BEGIN "
                    f"SELECT RAISE(ABORT, '{table} are append-only: {action} refused'); END"
                )
    else:
        for table in tables:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION garant_append_only()"
            )
