"""Who may read and do what: roles, permissions and need-to-know, in one place.

Two questions, answered separately:
- **may this principal do this?** — `ROLE_PERMISSIONS`, one table (also rendered in
  docs/access.md by `access_reference()`);
- **may this principal see this record?** — `may_see`, from the record's releasability
  (MISP distribution levels and "REL TO" markings), its originating nation and the
  principal's organisation. The SQL filter in `garant.store.access` is the same rule written
  for the database; a test checks the two agree on every combination.

Releasability levels (`garant.domain.observations.Releasability`):
- `originator`: only principals of the originating nation or organisation (the record's `nation`);
- `mechanism`: the originator and the monitoring mechanism's staff;
- `sharing_group`: the originator and the nations named in `rel_to` (REL TO), directly or
  through a named group (`group:<name>`) whose membership the administrators keep;
- `members`: every coalition member (nations, mechanism, commission, coordination cell),
  not the parties' representatives;
- `public`: everyone, without login.
A party's representative sees what its own nation contributed, what is released to its
nation by name, and what is public: nothing of the other side's internal material.
A derived record (an event fused from observations) is seen only by those who may see every
one of its inputs (`may_see_derived`), unless an analyst releases a sanitised version, which
is itself a record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    MONITOR = "monitor"
    SENSOR = "sensor"
    ANALYST = "analyst"
    COMMISSIONER = "commissioner"
    COMMISSION_CHAIR = "commission_chair"
    PARTY_REPRESENTATIVE = "party_representative"
    NATIONAL_LIAISON = "national_liaison"
    COORDINATOR = "coordinator"
    ADMINISTRATOR = "administrator"
    PUBLIC = "public"


class OrgKind(StrEnum):
    """What kind of body a principal belongs to; decides `members` and `mechanism` releases."""

    NATION = "nation"  # a coalition member state
    MECHANISM = "mechanism"  # the monitoring and verification mechanism
    COMMISSION = "commission"  # the special commission
    COORDINATION = "coordination"  # the coordination cell of the guarantees
    PARTY = "party"  # a party to the conflict
    PUBLIC = "public"  # nobody in particular (no login)


class Permission(StrEnum):
    READ_OBSERVATIONS = "observations:read"
    WRITE_OBSERVATIONS = "observations:write"
    WRITE_AGREEMENTS = "agreements:write"
    READ_AGREEMENTS = "agreements:read"
    READ_LOG = "log:read"
    ADMIN_USERS = "users:admin"
    READ_AUDIT = "audit:read"
    REVIEW_EVENTS = "events:review"


P = Permission
_PUBLIC = frozenset({P.READ_AGREEMENTS, P.READ_LOG, P.READ_OBSERVATIONS})

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PUBLIC: _PUBLIC,
    Role.SENSOR: frozenset({P.WRITE_OBSERVATIONS, P.READ_AGREEMENTS}),
    Role.MONITOR: _PUBLIC | {P.WRITE_OBSERVATIONS},
    Role.ANALYST: _PUBLIC | {P.WRITE_OBSERVATIONS, P.REVIEW_EVENTS},
    Role.COMMISSIONER: _PUBLIC,
    Role.COMMISSION_CHAIR: _PUBLIC | {P.WRITE_AGREEMENTS},
    Role.PARTY_REPRESENTATIVE: _PUBLIC,
    Role.NATIONAL_LIAISON: _PUBLIC | {P.WRITE_OBSERVATIONS},
    Role.COORDINATOR: _PUBLIC | {P.WRITE_AGREEMENTS},
    Role.ADMINISTRATOR: _PUBLIC | {P.ADMIN_USERS, P.READ_AUDIT, P.WRITE_AGREEMENTS},
}

ROLE_DUTIES: dict[Role, str] = {
    Role.PUBLIC: "anyone, without login: the public records, the agreement, the transparency log",
    Role.SENSOR: "a sensor network's service account: pushes its own nation's observations, reads none",
    Role.MONITOR: "a monitor of the mechanism or a member state: reports, reads what is released",
    Role.ANALYST: "a mechanism analyst: reads what is released, adds observations, reviews the bulletin",
    Role.COMMISSIONER: "a member of the special commission: reads what is released to the commission",
    Role.COMMISSION_CHAIR: "chairs the commission; loads agreement versions",
    Role.PARTY_REPRESENTATIVE: "a party's representative: its own material, what is released to it, public",
    Role.NATIONAL_LIAISON: "a member state's liaison: its nation's material and what is released to it",
    Role.COORDINATOR: "the coordination cell of the guarantees; loads agreement versions",
    Role.ADMINISTRATOR: "manages users and tokens, reads the audit trail; sees records like any member",
}

MEMBER_KINDS = frozenset({OrgKind.NATION, OrgKind.MECHANISM, OrgKind.COMMISSION, OrgKind.COORDINATION})


@dataclass(frozen=True)
class Principal:
    """The caller of a request: a user, a service account, or the anonymous public."""

    kind: str  # "user" | "service" | "anonymous"
    name: str
    role: Role
    org: str
    org_kind: OrgKind
    nation: str  # the nation or organisation code a record's `nation` is compared with
    user_id: int | None = None
    token_id: int | None = None
    permissions: frozenset[Permission] | None = None  # a token's scopes narrow the role's
    groups: frozenset[str] = frozenset()  # the named sharing groups ("group:<name>") it is in now

    def may(self, permission: Permission) -> bool:
        allowed = ROLE_PERMISSIONS[self.role] if self.permissions is None else self.permissions
        return permission in allowed

    @property
    def authenticated(self) -> bool:
        return self.kind != "anonymous"


ANONYMOUS = Principal("anonymous", "public", Role.PUBLIC, "public", OrgKind.PUBLIC, "")
# The node itself, in-process only (the CLI run by the operator, who holds the database file
# anyway; migrations; the audit). No request can become it.
SYSTEM = Principal("system", "system", Role.ADMINISTRATOR, "system", OrgKind.MECHANISM, "")


def may_see(principal: Principal, releasability: str, nation: str, rel_to: Iterable[str]) -> bool:
    """The need-to-know rule for one record (the reference the SQL filter is tested against)."""
    if principal.kind == "system":
        return True
    if not principal.may(Permission.READ_OBSERVATIONS):
        return False
    if releasability == "public":
        return True
    if not principal.authenticated:
        return False
    if principal.nation == nation:
        return True  # the originator sees its own at every level
    if releasability == "mechanism":
        return principal.org_kind == OrgKind.MECHANISM
    if releasability == "sharing_group":
        return bool(set(rel_to) & ({principal.nation} | principal.groups))
    if releasability == "members":
        return principal.org_kind in MEMBER_KINDS
    return False  # originator only, or a level this code does not know: deny


@dataclass(frozen=True)
class Release:
    """How one record is released: its level, its originating nation, its REL TO list."""

    releasability: str
    nation: str
    rel_to: tuple[str, ...] = ()


def may_see_derived(principal: Principal, inputs: Iterable[Release]) -> bool:
    """A derived record (an event fused from observations, a case built on events) is never
    released wider than the narrowest of its inputs: a caller sees it only if it may see every
    input. Releasing it wider takes an analyst's sanitised version, which is a record of its
    own with its own releasability (built with the verification pipeline)."""
    chosen = list(inputs)
    return bool(chosen) and all(may_see(principal, r.releasability, r.nation, r.rel_to) for r in chosen)


def access_reference() -> str:
    """docs/access.md: the role table as the code has it."""
    perms = list(Permission)
    lines = [
        "# Roles and permissions",
        "",
        "Generated from `garant.domain.access` (`python -m garant.domain.access > docs/access.md`);",
        "a test fails when this file and the code disagree.",
        "",
        "| role | who | " + " | ".join(f"`{p.value}`" for p in perms) + " |",
        "|---|---|" + "---|" * len(perms),
    ]
    for role in Role:
        marks = " | ".join("✓" if p in ROLE_PERMISSIONS[role] else "" for p in perms)
        lines.append(f"| `{role.value}` | {ROLE_DUTIES[role]} | {marks} |")
    rules = (__doc__ or "").split("Releasability levels", 1)[1].strip()
    lines += ["", "## Who sees a record", "", "Releasability levels " + rules]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(access_reference(), end="")
