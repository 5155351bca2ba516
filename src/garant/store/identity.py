"""Users, API tokens, sessions and the audit trail, as rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from garant.store.schema import api_tokens, audit_events, sessions, sharing_group_members, users


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    kind: str
    role: str
    org: str
    org_kind: str
    nation: str
    password_hash: str | None
    disabled: bool


def _user(row: Any) -> UserRow:
    return UserRow(
        int(row.id), row.username, row.kind, row.role, row.org, row.org_kind, row.nation, row.password_hash,
        bool(row.disabled),
    )  # fmt: skip


def add_user(conn: Connection, values: dict[str, Any]) -> int:
    result = conn.execute(users.insert().values(**values))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def user_by_name(conn: Connection, username: str) -> UserRow | None:
    row = conn.execute(select(users).where(users.c.username == username)).first()
    return None if row is None else _user(row)


def user_by_id(conn: Connection, user_id: int) -> UserRow | None:
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    return None if row is None else _user(row)


def set_disabled(conn: Connection, username: str, disabled: bool) -> bool:
    result = conn.execute(update(users).where(users.c.username == username).values(disabled=disabled))
    return bool(result.rowcount)


def add_token(conn: Connection, user_id: int, digest: str, scopes: str, label: str, now: datetime) -> int:
    result = conn.execute(
        api_tokens.insert().values(
            user_id=user_id, token_sha256=digest, scopes=scopes, label=label, created_at=now
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def token_by_digest(conn: Connection, digest: str) -> tuple[int, int, str, datetime | None] | None:
    """(token id, user id, scopes, revoked at) of a token."""
    q = select(api_tokens.c.id, api_tokens.c.user_id, api_tokens.c.scopes, api_tokens.c.revoked_at)
    row = conn.execute(q.where(api_tokens.c.token_sha256 == digest)).first()
    return None if row is None else (int(row.id), int(row.user_id), row.scopes, row.revoked_at)


def revoke_token(conn: Connection, token_id: int, now: datetime) -> bool:
    q = update(api_tokens).where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
    return bool(conn.execute(q.values(revoked_at=now)).rowcount)


def add_session(
    conn: Connection, digest: str, user_id: int, csrf: str, now: datetime, expires: datetime
) -> None:
    conn.execute(
        sessions.insert().values(
            id_sha256=digest, user_id=user_id, csrf_token=csrf, created_at=now, expires_at=expires
        )
    )


def session_by_digest(conn: Connection, digest: str) -> tuple[int, str, datetime] | None:
    """(user id, CSRF token, expiry) of a session."""
    q = select(sessions.c.user_id, sessions.c.csrf_token, sessions.c.expires_at).where(
        sessions.c.id_sha256 == digest
    )
    row = conn.execute(q).first()
    return None if row is None else (int(row.user_id), row.csrf_token, row.expires_at)


def end_session(conn: Connection, digest: str) -> None:
    conn.execute(sessions.delete().where(sessions.c.id_sha256 == digest))


def groups_of(conn: Connection, nation: str) -> frozenset[str]:
    """The named sharing groups a nation is a member of now, as REL TO entries (group:<name>)."""
    q = select(sharing_group_members.c.group_name).where(sharing_group_members.c.nation == nation)
    return frozenset(f"group:{name}" for (name,) in conn.execute(q))


def set_group_member(conn: Connection, group: str, nation: str, member: bool) -> bool:
    """Add or remove a nation; False if nothing changed."""
    exists_q = select(sharing_group_members).where(
        sharing_group_members.c.group_name == group, sharing_group_members.c.nation == nation
    )
    present = conn.execute(exists_q).first() is not None
    if present == member:
        return False
    if member:
        conn.execute(sharing_group_members.insert().values(group_name=group, nation=nation))
    else:
        conn.execute(
            sharing_group_members.delete().where(
                sharing_group_members.c.group_name == group, sharing_group_members.c.nation == nation
            )
        )
    return True


def add_audit_events(conn: Connection, events: list[dict[str, Any]]) -> None:
    if events:
        conn.execute(audit_events.insert(), events)


def audit_trail(conn: Connection, limit: int = 1000) -> list[dict[str, Any]]:
    q = select(audit_events).order_by(audit_events.c.seq.desc()).limit(limit)
    return [{str(k): v for k, v in r._mapping.items()} for r in conn.execute(q)]
