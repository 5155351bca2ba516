"""Identity behind one interface: passwords (argon2), API tokens, sessions; and the audit trail.

`IdentityProvider` is what the API asks ("who is this?"); `LocalIdentity` answers from
Garant's own tables. An OIDC provider can implement the same three questions later.

Secrets are never stored: tokens and session ids are kept as SHA-256 digests (they are
random, 256 bits), passwords as argon2id hashes. A login for an unknown user still runs one
argon2 verification, so the answer takes the same time whether the user exists or not.
Every check reads the database, so a revoked token or a disabled user is refused on the
very next request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from garant.domain.access import ROLE_PERMISSIONS, OrgKind, Permission, Principal, Role
from garant.store import identity as store
from garant.store.db import Database

SESSION_HOURS = 12
TOKEN_PREFIX = "garant_"
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class IdentityError(ValueError):
    """A request to create or change an identity that cannot be done (named reason)."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _principal(
    user: store.UserRow, groups: frozenset[str], token_id: int | None = None, scopes: str | None = None
) -> Principal:
    allowed = ROLE_PERMISSIONS[Role(user.role)]
    if scopes is not None:
        allowed = allowed & frozenset(
            Permission(s) for s in scopes.split() if s in Permission._value2member_map_
        )
    return Principal(
        kind=user.kind,
        name=user.username,
        role=Role(user.role),
        org=user.org,
        org_kind=OrgKind(user.org_kind),
        nation=user.nation,
        user_id=user.id,
        token_id=token_id,
        permissions=allowed,
        groups=groups,
    )


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf_token: str


class IdentityProvider(Protocol):
    def login(self, username: str, password: str) -> tuple[Principal, str, str] | None: ...
    def by_token(self, token: str) -> Principal | None: ...
    def by_session(self, session_id: str) -> Session | None: ...
    def logout(self, session_id: str) -> None: ...


@dataclass
class LocalIdentity:
    db: Database

    def login(self, username: str, password: str) -> tuple[Principal, str, str] | None:
        """(principal, session id, CSRF token) for a good password of an enabled user."""
        with self.db.read() as conn:
            user = store.user_by_name(conn, username)
            groups = store.groups_of(conn, user.nation) if user else frozenset()
        stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
        try:
            _hasher.verify(stored, password)
            good = user is not None and user.password_hash is not None
        except (VerificationError, InvalidHashError):
            good = False
        if not good or user is None or user.disabled:
            return None
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        now = datetime.now(UTC)
        with self.db.write() as conn:
            store.add_session(
                conn, digest(session_id), user.id, csrf, now, now + timedelta(hours=SESSION_HOURS)
            )
        return _principal(user, groups), session_id, csrf

    def by_token(self, token: str) -> Principal | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        with self.db.read() as conn:
            found = store.token_by_digest(conn, digest(token))
            if found is None or found[3] is not None:
                return None
            user = store.user_by_id(conn, found[1])
            if user is None or user.disabled:
                return None
            groups = store.groups_of(conn, user.nation)
        return _principal(user, groups, token_id=found[0], scopes=found[2])

    def by_session(self, session_id: str) -> Session | None:
        with self.db.read() as conn:
            found = store.session_by_digest(conn, digest(session_id))
            if found is None or found[2] <= datetime.now(UTC):
                return None
            user = store.user_by_id(conn, found[0])
            if user is None or user.disabled:
                return None
            groups = store.groups_of(conn, user.nation)
        return Session(_principal(user, groups), found[1])

    def logout(self, session_id: str) -> None:
        with self.db.write() as conn:
            store.end_session(conn, digest(session_id))


# --- administration (CLI) -------------------------------------------------------------------


def principal_of(db: Database, username: str) -> Principal | None:
    """An active user as a principal with the full permissions of its role (for acts recorded
    from the node's own command line under a named account); None if absent or disabled."""
    with db.read() as conn:
        user = store.user_by_name(conn, username)
        if user is None or user.disabled:
            return None
        return _principal(user, store.groups_of(conn, user.nation))


def add_user(
    db: Database,
    username: str,
    role: Role,
    org: str,
    org_kind: OrgKind,
    nation: str,
    password: str | None,
    kind: str = "user",
) -> int:
    if role == Role.PUBLIC:
        raise IdentityError("'public' is the role of callers without login; it cannot be given to a user")
    if password is not None and len(password) < 12:
        raise IdentityError("a password has at least 12 characters")
    with db.write() as conn:
        if store.user_by_name(conn, username) is not None:
            raise IdentityError(f"user {username!r} exists already")
        return store.add_user(
            conn,
            {
                "username": username,
                "kind": kind,
                "role": role.value,
                "org": org,
                "org_kind": org_kind.value,
                "nation": nation,
                "password_hash": _hasher.hash(password) if password else None,
                "disabled": False,
                "created_at": datetime.now(UTC),
            },
        )


def set_disabled(db: Database, username: str, disabled: bool = True) -> None:
    with db.write() as conn:
        if not store.set_disabled(conn, username, disabled):
            raise IdentityError(f"no user {username!r}")


def create_token(db: Database, username: str, scopes: list[Permission] | None, label: str) -> tuple[int, str]:
    """A new API token (shown once) limited to `scopes` within the user's role."""
    with db.write() as conn:
        user = store.user_by_name(conn, username)
        if user is None:
            raise IdentityError(f"no user {username!r}")
        role_perms = ROLE_PERMISSIONS[Role(user.role)]
        chosen = scopes if scopes else sorted(role_perms)
        beyond = [s.value for s in chosen if s not in role_perms]
        if beyond:
            raise IdentityError(f"role {user.role} does not have {', '.join(beyond)}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = store.add_token(
            conn, user.id, digest(token), " ".join(s.value for s in chosen), label, datetime.now(UTC)
        )
    return token_id, token


def set_group_member(db: Database, group: str, nation: str, member: bool) -> bool:
    """Put a nation in a named sharing group or take it out: effective from the next request."""
    with db.write() as conn:
        return store.set_group_member(conn, group, nation, member)


def revoke_token(db: Database, token_id: int) -> None:
    with db.write() as conn:
        if not store.revoke_token(conn, token_id, datetime.now(UTC)):
            raise IdentityError(f"no active token {token_id}")
