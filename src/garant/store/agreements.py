"""Agreement versions: stored once, never rewritten; the newest in force is the current one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import orjson
from sqlalchemy import Connection, select

from garant.domain.agreement import Agreement
from garant.domain.canonical import canonical_json, sha256_hex
from garant.store.log import Appender
from garant.store.schema import agreements
from garant.transparency.leaves import agreement_leaf


class AgreementVersionConflict(Exception):
    """The same id and version was stored before with other content."""


@dataclass(frozen=True)
class StoredAgreement:
    agreement: Agreement
    content_sha256: str
    loaded_at: datetime
    created: bool


def _content(agreement: Agreement) -> bytes:
    return canonical_json(agreement.model_dump(mode="json"))


def store_agreement(conn: Connection, agreement: Agreement) -> StoredAgreement:
    """Insert a version; the identical version again is a no-op, a changed one is refused."""
    content = _content(agreement)
    digest = sha256_hex(content)
    log = Appender.open(conn)  # first: on PostgreSQL this queues concurrent writers
    row = conn.execute(
        select(agreements.c.content_sha256, agreements.c.loaded_at).where(agreements.c.key == agreement.key)
    ).first()
    if row is not None:
        if row.content_sha256 != digest:
            raise AgreementVersionConflict(
                f"agreement {agreement.key} is already stored with other content; "
                "a change needs a new version number"
            )
        return StoredAgreement(agreement, digest, row.loaded_at, created=False)
    now = datetime.now(UTC)
    conn.execute(
        agreements.insert().values(
            agreement_id=agreement.id,
            version=agreement.version,
            key=agreement.key,
            content_sha256=digest,
            entry_into_force=agreement.entry_into_force,
            content=content.decode(),
            loaded_at=now,
        )
    )
    log.append([("agreement", agreement.key, agreement_leaf(agreement.key, now, orjson.loads(content)))])
    return StoredAgreement(agreement, digest, now, created=True)


@lru_cache(maxsize=32)
def _parse(content: str) -> Agreement:
    """Parsed once per distinct stored text: intake asks for the agreement on every batch."""
    return Agreement.model_validate(orjson.loads(content))


def current_agreement(conn: Connection, at: datetime | None = None) -> Agreement | None:
    """The agreement in force at `at` (default now): latest entry into force, then highest version.

    If none has entered into force yet, the one that enters first is returned, so a freshly
    loaded agreement is usable for intake before its date.
    """
    at = at or datetime.now(UTC)
    q = select(agreements.c.content).order_by(
        agreements.c.entry_into_force.desc(), agreements.c.version.desc(), agreements.c.seq.desc()
    )
    row = conn.execute(q.where(agreements.c.entry_into_force <= at).limit(1)).first()
    if row is None:
        row = conn.execute(
            select(agreements.c.content)
            .order_by(agreements.c.entry_into_force.asc(), agreements.c.version.desc())
            .limit(1)
        ).first()
    return None if row is None else _parse(row.content)


def agreements_in_force(conn: Connection, start: datetime, end: datetime) -> list[Agreement]:
    """Every version in force at some time in [start, end], in order of entry into force: the
    one in force at `start` (as `current_agreement` picks it), then each that enters into force
    after `start` and by `end` (of versions entering at the same instant, the highest)."""
    first = current_agreement(conn, start)
    if first is None:
        return []
    q = (
        select(agreements.c.content)
        .where(agreements.c.entry_into_force > start, agreements.c.entry_into_force <= end)
        .order_by(agreements.c.entry_into_force, agreements.c.version, agreements.c.seq)
    )
    later: dict[datetime, Agreement] = {}
    for row in conn.execute(q):
        a = _parse(row.content)
        # after `first`'s own instant (when none was in force at `start`, `first` is the highest
        # of the earliest instant, and the lower ones of that instant never come after it)
        if a.entry_into_force > first.entry_into_force:
            later[a.entry_into_force] = a  # the last of one instant: the highest version
    return [first, *later.values()]


def get_agreement(conn: Connection, key: str) -> Agreement | None:
    row = conn.execute(select(agreements.c.content).where(agreements.c.key == key)).first()
    return None if row is None else _parse(row.content)


def list_agreements(conn: Connection) -> list[dict[str, object]]:
    rows = conn.execute(
        select(
            agreements.c.key,
            agreements.c.agreement_id,
            agreements.c.version,
            agreements.c.entry_into_force,
            agreements.c.content_sha256,
            agreements.c.loaded_at,
        ).order_by(agreements.c.seq)
    )
    return [{str(k): v for k, v in r._mapping.items()} for r in rows]
