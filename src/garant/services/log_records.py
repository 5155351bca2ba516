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
from sqlalchemy import Connection, select

from garant.store.schema import agreements, log_keys, observations
from garant.transparency.leaves import agreement_leaf, key_leaf, key_record_id, observation_leaf


@dataclass(frozen=True)
class RecordLeaf:
    """One record as the database holds it now, with the leaf it implies."""

    record_type: str
    record_id: str
    order: int  # the table's own sequence, to catch rows reordered behind Garant's back
    data: bytes
    index_problems: tuple[str, ...]  # indexing columns that disagree with the content


def _observation_index_problems(row: Any, payload: dict[str, Any]) -> tuple[str, ...]:
    from garant.services.intake import index_columns  # the very function intake fills them with

    expected = index_columns(payload)
    problems = []
    for name, want in expected.items():
        have = getattr(row, name)
        if isinstance(have, datetime) and isinstance(want, datetime):
            same = have.astimezone(UTC) == want.astimezone(UTC)
        else:
            same = have == want
        if not same:
            problems.append(f"column {name} is {have!r} but the content says {want!r}")
    return tuple(problems)


def _observations(conn: Connection) -> Iterator[RecordLeaf]:
    q = select(observations).order_by(observations.c.seq)
    for row in conn.execute(q).yield_per(2000):
        try:
            payload = orjson.loads(row.payload)
        except orjson.JSONDecodeError:
            yield RecordLeaf("observation", row.id, row.seq, b"", ("payload is not JSON",))
            continue
        data = observation_leaf(row.id, row.received_at, row.agreement_key, payload)
        problems = _observation_index_problems(row, payload) if isinstance(payload, dict) else ("payload",)
        yield RecordLeaf("observation", row.id, row.seq, data, problems)


def _agreements(conn: Connection) -> Iterator[RecordLeaf]:
    for row in conn.execute(select(agreements).order_by(agreements.c.seq)):
        try:
            content = orjson.loads(row.content)
        except orjson.JSONDecodeError:
            yield RecordLeaf("agreement", row.key, row.seq, b"", ("content is not JSON",))
            continue
        problems = []
        if isinstance(content, dict):
            for column, field_name in (("agreement_id", "id"), ("version", "version")):
                if content.get(field_name) != getattr(row, column):
                    problems.append(f"column {column} disagrees with the content")
            if f"{content.get('id')}@{content.get('version')}" != row.key:
                problems.append("column key disagrees with the content")
        yield RecordLeaf(
            "agreement", row.key, row.seq, agreement_leaf(row.key, row.loaded_at, content), tuple(problems)
        )


def _keys(conn: Connection) -> Iterator[RecordLeaf]:
    for row in conn.execute(select(log_keys).order_by(log_keys.c.seq)):
        rid = key_record_id(row.key_name, row.key_id)
        problems = () if row.vkey.startswith(rid + "+") else ("columns key_name/key_id disagree with vkey",)
        yield RecordLeaf("log_key", rid, row.seq, key_leaf(row.vkey, row.created_at), problems)


RECORD_SOURCES: dict[str, Callable[[Connection], Iterator[RecordLeaf]]] = {
    "observation": _observations,
    "agreement": _agreements,
    "log_key": _keys,
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
    if record_type == "log_key":
        for leaf in _keys(conn):
            if leaf.record_id == record_id:
                return leaf.data
    return None
