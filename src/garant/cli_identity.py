"""`garant user ...` and `garant token ...`: identities, from the command line of the node."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from garant.config import Settings
from garant.domain.access import OrgKind, Permission, Role
from garant.services import identity
from garant.store.db import Database, migrate, open_database

user_app = typer.Typer(help="Users and service accounts.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (for machines: sensor networks, scripts).", no_args_is_help=True)


def _db() -> Database:
    db = open_database(Settings.from_env().database_url)
    migrate(db)
    return db


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(str(exc), err=True)
    return typer.Exit(2)


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[Role, typer.Option(help="what the user may do (see docs/access.md)")],
    org: Annotated[str, typer.Option(help="organisation code, e.g. MECH, FR-MOD, UA-GOV")],
    org_kind: Annotated[OrgKind, typer.Option(help="kind of organisation")],
    nation: Annotated[str, typer.Option(help="the nation or organisation code the user acts for")],
    service: Annotated[bool, typer.Option(help="a service account (tokens only, no password)")] = False,
    password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False,
) -> None:
    """Add a user (asks for a password) or a service account (--service: tokens only)."""
    password = None
    if not service:
        password = sys.stdin.readline().rstrip("\n") if password_stdin else getpass.getpass("password: ")
    try:
        user_id = identity.add_user(
            _db(), username, role, org, org_kind, nation.upper(), password, "service" if service else "user"
        )
    except identity.IdentityError as exc:
        raise _fail(exc) from exc
    typer.echo(f"user {username} added (id {user_id}, {role.value} of {org}, acts for {nation.upper()})")


def _set_disabled(username: str, disabled: bool) -> None:
    try:
        identity.set_disabled(_db(), username, disabled)
    except identity.IdentityError as exc:
        raise _fail(exc) from exc
    typer.echo(f"user {username} {'disabled' if disabled else 'enabled'}")


@user_app.command("disable")
def user_disable(username: Annotated[str, typer.Argument(help="login name")]) -> None:
    """Disable a user: every session and token of theirs is refused from the next request on."""
    _set_disabled(username, True)


@user_app.command("enable")
def user_enable(username: Annotated[str, typer.Argument(help="login name")]) -> None:
    """Enable a disabled user again."""
    _set_disabled(username, False)


@token_app.command("create")
def token_create(
    username: Annotated[str, typer.Argument(help="the user or service account the token acts as")],
    scope: Annotated[
        list[Permission] | None, typer.Option(help="limit the token to these permissions (repeatable)")
    ] = None,
    label: Annotated[str, typer.Option(help="what the token is for")] = "",
) -> None:
    """Create an API token; it is printed once and stored only as its SHA-256."""
    try:
        token_id, token = identity.create_token(_db(), username, scope, label)
    except identity.IdentityError as exc:
        raise _fail(exc) from exc
    typer.echo(f"token {token_id} for {username} (send as 'Authorization: Bearer <token>'):", err=True)
    typer.echo(token)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="the token's number")]) -> None:
    """Revoke a token: refused from the next request on."""
    try:
        identity.revoke_token(_db(), token_id)
    except identity.IdentityError as exc:
        raise _fail(exc) from exc
    typer.echo(f"token {token_id} revoked")


group_app = typer.Typer(help="Named sharing groups (REL TO group:<name>).", no_args_is_help=True)


@group_app.command("add")
def group_add(
    name: Annotated[str, typer.Argument(help="group name (lower case, digits, - and _)")],
    nation: Annotated[list[str], typer.Argument(help="nation or organisation codes to add")],
) -> None:
    """Put nations in a sharing group: they see what is released to `group:NAME` from now on."""
    db = _db()
    for code in nation:
        changed = identity.set_group_member(db, name, code.upper(), True)
        typer.echo(f"{code.upper()} {'added to' if changed else 'already in'} group:{name}")


@group_app.command("remove")
def group_remove(
    name: Annotated[str, typer.Argument(help="group name")],
    nation: Annotated[list[str], typer.Argument(help="nation or organisation codes to remove")],
) -> None:
    """Take nations out of a sharing group: refused from their next request on."""
    db = _db()
    for code in nation:
        changed = identity.set_group_member(db, name, code.upper(), False)
        typer.echo(f"{code.upper()} {'removed from' if changed else 'was not in'} group:{name}")
