"""The transparency log's tables: leaves, complete subtree hashes, checkpoints, keys.

A leaf index is assigned in the same transaction as its record. The head row (`log_head`,
one row) is the sequencer: SQLite writers are already serialised by `BEGIN IMMEDIATE`;
on PostgreSQL, `lock_head` takes the row with `FOR UPDATE` at the start of the write, so
concurrent writers queue and indexes stay gap-free and unique. Every complete subtree hash
is stored (`log_nodes`, levels ≥ 1; level 0 is `log_leaves.leaf_hash`), so an append reads
only the O(log n) frontier and a proof reads O(log n) hashes in one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from garant.store.schema import log_checkpoints, log_head, log_keys, log_leaves
from garant.transparency import merkle

_CHUNK = 400


def lock_head(conn: Connection) -> int:
    """The current tree size, with the head locked for this transaction (the sequencer)."""
    q = select(log_head.c.tree_size).where(log_head.c.id == 1)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    size = conn.execute(q).scalar_one_or_none()
    if size is None:
        raise RuntimeError("the log head row is missing: run `garant init` (database migrations)")
    return int(size)


def tree_size(conn: Connection) -> int:
    return int(conn.execute(select(log_head.c.tree_size).where(log_head.c.id == 1)).scalar_one())


def read_nodes(conn: Connection, wanted: Iterable[merkle.Node]) -> dict[merkle.Node, bytes]:
    """Stored hashes of the given (level, index) nodes: one query per table (per 400 nodes).

    Plain driver SQL joining a VALUES list: a primary-key lookup per node on both backends
    (`(level, idx) IN (VALUES ...)` made SQLite scan the table, and an ORM expression of that
    many alternatives cost more than the lookups themselves).
    """
    nodes = set(wanted)
    leaves = sorted(i for lvl, i in nodes if lvl == 0)
    inner = sorted((lvl, i) for lvl, i in nodes if lvl > 0)
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    out: dict[merkle.Node, bytes] = {}
    for k in range(0, len(leaves), _CHUNK):
        chunk = leaves[k : k + _CHUNK]
        sql = f"SELECT idx, leaf_hash FROM log_leaves WHERE idx IN ({', '.join([mark] * len(chunk))})"
        for idx, h in conn.exec_driver_sql(sql, tuple(chunk)):
            out[(0, int(idx))] = bytes(h)
    for k in range(0, len(inner), _CHUNK):
        pairs = inner[k : k + _CHUNK]
        values = ", ".join([f"({mark}, {mark})"] * len(pairs))
        sql = (
            f"SELECT n.level, n.idx, n.hash FROM (VALUES {values}) AS v "
            "JOIN log_nodes AS n ON n.level = v.column1 AND n.idx = v.column2"
        )
        for lvl, idx, h in conn.exec_driver_sql(sql, tuple(x for pair in pairs for x in pair)):
            out[(int(lvl), int(idx))] = bytes(h)
    return out


@dataclass
class Appender:
    """Appends leaves inside one write transaction; `open` locks the head first."""

    conn: Connection
    size: int
    frontier: list[bytes] = field(default_factory=list)
    enabled: bool = True

    @classmethod
    def open(cls, conn: Connection, *, enabled: bool = True) -> Appender:
        """`enabled=False` only for `make bench`'s measure of what the log costs."""
        if not enabled:
            return cls(conn, 0, [], enabled=False)
        size = lock_head(conn)
        wanted = merkle.frontier_nodes(size)
        found = read_nodes(conn, wanted)
        return cls(conn, size, [found[n] for n in wanted])

    def append(
        self, entries: Sequence[tuple[str, str, bytes]], hashes: Sequence[bytes] | None = None
    ) -> list[int]:
        """Append (record type, record id, leaf data) entries; return their leaf indexes.
        `hashes`: the entries' leaf hashes, when the caller computed them before the lock."""
        if not entries or not self.enabled:
            return []
        first = self.size
        if hashes is None:
            hashes = [merkle.leaf_hash(data) for _, _, data in entries]
        created, self.frontier = merkle.append_leaves(self.frontier, first, hashes)
        sqlite = self.conn.dialect.name == "sqlite"
        mark = "?" if sqlite else "%s"
        cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(
                "INSERT INTO log_leaves (idx, record_type, record_id, leaf_hash) "
                f"VALUES ({mark}, {mark}, {mark}, {mark})",
                [
                    (first + i, rt, rid, h)
                    for i, ((rt, rid, _), h) in enumerate(zip(entries, hashes, strict=True))
                ],
            )
            if created:
                cursor.executemany(
                    f"INSERT INTO log_nodes (level, idx, hash) VALUES ({mark}, {mark}, {mark})", created
                )
            self.size = first + len(entries)
            cursor.execute(f"UPDATE log_head SET tree_size = {mark} WHERE id = 1", (self.size,))
        finally:
            cursor.close()
        return list(range(first, self.size))

    def root(self) -> bytes:
        return merkle.fold(self.frontier)


@dataclass(frozen=True)
class LeafRef:
    index: int
    record_type: str
    record_id: str
    leaf_hash: bytes


def _ref(row: Any) -> LeafRef:
    return LeafRef(int(row.idx), row.record_type, row.record_id, bytes(row.leaf_hash))


def find_leaf(conn: Connection, record_type: str, record_id: str) -> LeafRef | None:
    row = conn.execute(
        select(log_leaves).where(log_leaves.c.record_type == record_type, log_leaves.c.record_id == record_id)
    ).first()
    return None if row is None else _ref(row)


def leaves_in_range(conn: Connection, start: int, end: int) -> list[LeafRef]:
    q = select(log_leaves).where(log_leaves.c.idx >= start, log_leaves.c.idx < end).order_by(log_leaves.c.idx)
    return [_ref(r) for r in conn.execute(q)]


# --- checkpoints and keys ---------------------------------------------------------------


@dataclass(frozen=True)
class StoredCheckpoint:
    seq: int
    tree_size: int
    root_hash: bytes
    key_name: str
    key_id: str
    note: str
    signed_at: datetime

    def covers(self, size: int, key_id: str) -> bool:
        """This checkpoint is of `size` leaves, signed by key `key_id`."""
        return self.tree_size == size and self.key_id == key_id


def _checkpoint(row: Any) -> StoredCheckpoint:
    return StoredCheckpoint(
        int(row.seq),
        int(row.tree_size),
        bytes(row.root_hash),
        row.key_name,
        row.key_id,
        row.note,
        row.signed_at,
    )


def add_checkpoint(conn: Connection, cp: StoredCheckpoint) -> None:
    conn.execute(
        log_checkpoints.insert().values(
            tree_size=cp.tree_size,
            root_hash=cp.root_hash,
            key_name=cp.key_name,
            key_id=cp.key_id,
            note=cp.note,
            signed_at=cp.signed_at,
        )
    )


def latest_checkpoint(conn: Connection) -> StoredCheckpoint | None:
    row = conn.execute(select(log_checkpoints).order_by(log_checkpoints.c.seq.desc()).limit(1)).first()
    return None if row is None else _checkpoint(row)


def all_checkpoints(conn: Connection) -> list[StoredCheckpoint]:
    return [_checkpoint(r) for r in conn.execute(select(log_checkpoints).order_by(log_checkpoints.c.seq))]


def add_key(conn: Connection, vkey: str, key_name: str, key_id: str, created_at: datetime) -> bool:
    """Record a public key once; False if it was already recorded."""
    if conn.execute(select(log_keys.c.seq).where(log_keys.c.vkey == vkey)).first() is not None:
        return False
    conn.execute(log_keys.insert().values(vkey=vkey, key_name=key_name, key_id=key_id, created_at=created_at))
    return True


def list_keys(conn: Connection) -> list[dict[str, Any]]:
    q = select(log_keys.c.vkey, log_keys.c.key_name, log_keys.c.key_id, log_keys.c.created_at).order_by(
        log_keys.c.seq
    )
    return [{str(k): v for k, v in r._mapping.items()} for r in conn.execute(q)]
