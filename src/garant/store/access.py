"""The one choke point of every read: a principal turned into a SQL condition, default deny.

Every query that returns, counts or proves a record goes through `visible_observations`
(lists, single reads, the `superseded_by` link, the superseded filter, log leaves and
proofs, bundles). It is `garant.domain.access.may_see` written for the database; a test
checks the two agree for every role, organisation kind, nation and releasability level.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    and_,
    exists,
    false,
    literal_column,
    or_,
    select,
    true,
)

from garant.domain.access import MEMBER_KINDS, OrgKind, Permission, Principal
from garant.store.schema import observation_rel_to, observations


def visible_observations(principal: Principal, table: FromClause = observations) -> ColumnElement[bool]:
    """The rows of `table` (observations or an alias of it) this principal may see."""
    if principal.kind == "system":
        return true()
    if not principal.may(Permission.READ_OBSERVATIONS):
        return false()
    levels = table.c.releasability
    allowed: list[ColumnElement[bool]] = [levels == "public"]
    if principal.authenticated:
        allowed.append(table.c.nation == principal.nation)
        if principal.org_kind == OrgKind.MECHANISM:
            allowed.append(levels == "mechanism")
        if principal.org_kind in MEMBER_KINDS:
            allowed.append(levels == "members")
        named = exists(
            select(literal_column("1")).where(
                observation_rel_to.c.seq == table.c.seq,
                observation_rel_to.c.nation.in_(sorted({principal.nation} | principal.groups)),
            )
        )
        allowed.append(and_(levels == "sharing_group", named))
    return or_(*allowed)


def visible_ids(conn: Connection, principal: Principal, ids: Sequence[str]) -> set[str]:
    """Which of these observation ids exist and are released to the principal."""
    wanted = sorted(set(ids))
    seen: set[str] = set()
    for k in range(0, len(wanted), 500):
        q = select(observations.c.id).where(
            observations.c.id.in_(wanted[k : k + 500]), visible_observations(principal)
        )
        seen.update(i for (i,) in conn.execute(q))
    return seen
