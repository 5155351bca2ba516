"""Every logged record as the database holds it now, with the leaf it implies (for the audit).

The audit (`garant.services.audit`) reads every record table through `RECORD_SOURCES`,
rebuilds each leaf with `garant.transparency.leaves`, and also recomputes the columns that
only index a record's content (kind, time, place, fingerprint), so an edit of those behind
Garant's back is caught too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, select, text
from sqlalchemy.dialects import sqlite

from garant.domain.canonical import sha256_hex
from garant.store.schema import agreements, observations, review_acts
from garant.store.types import UTCDateTime
from garant.transparency.leaves import (
    agreement_leaf,
    key_leaf,
    key_record_id,
    observation_leaf,
    review_act_leaf,
)

_ANY_DIALECT = sqlite.dialect()  # the type's reader handles both text and datetime values


@dataclass(frozen=True)
class RecordLeaf:
    """One record as the database holds it now, with the leaf it implies."""

    record_type: str
    record_id: str
    order: int  # the table's own sequence, to catch rows reordered behind Garant's back
    data: bytes
    index_problems: tuple[str, ...]  # indexing columns that disagree with the content


def _utc(value: Any) -> datetime:
    """A stored time as the table type reads it (text on SQLite, timestamptz on PostgreSQL)."""
    moment = UTCDateTime().process_result_value(value, _ANY_DIALECT)
    if moment is None:
        raise ValueError("no time")
    return moment


def _differs(have: Any, want: Any) -> bool:
    if want is None or have is None:
        return have is not want
    if isinstance(want, datetime):
        try:
            return _utc(have) != want.astimezone(UTC)
        except (TypeError, ValueError):
            return True
    return bool(have != want)


def _observation(row: Any, rel_to: dict[int, set[str]]) -> RecordLeaf:
    """One observation's leaf, and every way its other rows disagree with its content: the
    fingerprint, the index columns, and the REL TO rows the access filter reads."""
    from garant.services.intake import index_columns  # the very function intake fills them with

    payload = orjson.loads(row.payload)
    data = observation_leaf(row.id, _utc(row.received_at), row.agreement_key, payload)
    problems = []
    if sha256_hex(row.payload.encode()) != row.content_sha256:
        problems.append("column content_sha256 is not the SHA-256 of the payload")
    try:
        expected = index_columns(payload)
    except (TypeError, ValueError, AttributeError) as exc:
        problems.append(f"payload does not read as an accepted observation: {exc}")
        expected = {}
    for name, want in expected.items():
        if _differs(getattr(row, name), want):
            problems.append(f"column {name} is {getattr(row, name)!r} but the content says {want!r}")
    if rel_to.get(int(row.seq), set()) != set(payload.get("rel_to", [])):
        problems.append("its REL TO rows differ from its content")
    return RecordLeaf("observation", row.id, row.seq, data, tuple(problems))


def _agreement(row: Any) -> RecordLeaf:
    content = orjson.loads(row.content)
    problems = []
    for column, field_name in (("agreement_id", "id"), ("version", "version")):
        if content.get(field_name) != getattr(row, column):
            problems.append(f"column {column} disagrees with the content")
    if f"{content.get('id')}@{content.get('version')}" != row.key:
        problems.append("column key disagrees with the content")
    data = agreement_leaf(row.key, _utc(row.loaded_at), content)
    return RecordLeaf("agreement", row.key, row.seq, data, tuple(problems))


def _key(row: Any) -> RecordLeaf:
    rid = key_record_id(row.key_name, row.key_id)
    problems = () if row.vkey.startswith(rid + "+") else ("columns key_name/key_id disagree with vkey",)
    return RecordLeaf("log_key", rid, row.seq, key_leaf(row.vkey, _utc(row.created_at)), problems)


def _review_act(row: Any) -> RecordLeaf:
    data = review_act_leaf(
        row.id,
        row.event_id,
        row.act,
        row.actor,
        row.actor_org,
        _utc(row.at),
        row.reason,
        orjson.loads(row.payload),
    )
    return RecordLeaf("review_act", row.id, row.seq, data, ())


def _rows(
    conn: Connection, table: str, record_type: str, id_column: str, build: Callable[[Any], RecordLeaf]
) -> Iterator[RecordLeaf]:
    """Raw rows (no column types, so a corrupted value cannot stop the audit), one leaf each;
    a row that cannot even be read becomes a record whose leaf matches nothing."""
    for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY seq")).yield_per(2000):
        try:
            yield build(row)
        except Exception as exc:  # any corruption of any column: report it, keep auditing
            rid = str(getattr(row, id_column))
            yield RecordLeaf(record_type, rid, int(row.seq), b"", (f"row cannot be read: {exc}",))


def _observations(conn: Connection) -> Iterator[RecordLeaf]:
    rel_to: dict[int, set[str]] = {}
    for seq, nation in conn.execute(text("SELECT seq, nation FROM observation_rel_to")):
        rel_to.setdefault(int(seq), set()).add(nation)
    return _rows(conn, "observations", "observation", "id", lambda row: _observation(row, rel_to))


def _agreements(conn: Connection) -> Iterator[RecordLeaf]:
    return _rows(conn, "agreements", "agreement", "key", _agreement)


def _keys(conn: Connection) -> Iterator[RecordLeaf]:
    return _rows(conn, "log_keys", "log_key", "key_name", _key)


def _review_acts(conn: Connection) -> Iterator[RecordLeaf]:
    return _rows(conn, "review_acts", "review_act", "id", _review_act)


RECORD_SOURCES: dict[str, Callable[[Connection], Iterator[RecordLeaf]]] = {
    "observation": _observations,
    "agreement": _agreements,
    "log_key": _keys,
    "review_act": _review_acts,
}


def record_leaf(conn: Connection, record_type: str, record_id: str) -> bytes | None:
    """The leaf data of one record as stored now (for proofs and bundles)."""
    if record_type == "observation":
        row = conn.execute(select(observations).where(observations.c.id == record_id)).first()
        if row is None:
            return None
        return observation_leaf(row.id, row.received_at, row.agreement_key, orjson.loads(row.payload))
    if record_type == "agreement":
        row = conn.execute(select(agreements).where(agreements.c.key == record_id)).first()
        return None if row is None else agreement_leaf(row.key, row.loaded_at, orjson.loads(row.content))
    if record_type == "review_act":
        row = conn.execute(select(review_acts).where(review_acts.c.id == record_id)).first()
        return None if row is None else _review_act(row).data
    if record_type == "log_key":
        for leaf in _keys(conn):
            if leaf.record_id == record_id:
                return leaf.data
    return None
