"""`garant log audit`: recompute every leaf and the whole tree from the database.

It trusts nothing in the database: each record's leaf is rebuilt from the record table, the
tree is rebuilt from those leaves, and the result is compared with the stored leaves and
nodes and with every stored checkpoint, whose signature is checked against the keys the
node trusts on disk (`keys/trusted.vkeys`), not against keys found in the database. It
reports each record changed, deleted, inserted or reordered outside Garant, and any change
to the log's own tables. Memory is O(number of records) (about 100 bytes each).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection, select, text

from garant.services.log_records import RECORD_SOURCES
from garant.store import log as log_store
from garant.store.db import Database
from garant.store.schema import log_leaves, log_nodes
from garant.transparency import merkle
from garant.transparency.note import NoteError, Verifier, open_checkpoint


@dataclass(frozen=True)
class Finding:
    kind: str  # changed | deleted | inserted | reordered | log
    message: str


@dataclass
class AuditReport:
    tree_size: int = 0
    records: int = 0
    checkpoints_checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, kind: str, message: str) -> None:
        self.findings.append(Finding(kind, message))


@dataclass
class _Record:
    leaf: bytes
    order: int
    problems: tuple[str, ...]
    seen: bool = False


def audit(
    db: Database,
    verifiers: list[Verifier],
    origin: str,
    progress: Callable[[int], None] | None = None,
) -> AuditReport:
    report = AuditReport()
    with db.read() as conn:
        records: dict[tuple[str, str], _Record] = {}
        for record_type, source in RECORD_SOURCES.items():
            for r in source(conn):
                records[(record_type, r.record_id)] = _Record(
                    merkle.leaf_hash(r.data), r.order, r.index_problems
                )
                report.records += 1
                if progress:
                    progress(1)
        head = log_store.tree_size(conn)
        report.tree_size = head

        tree = merkle.MemoryTree()  # from the records as they are now: compared with the signed roots
        stored_tree = merkle.MemoryTree()  # from the stored leaf hashes: compared with the stored nodes
        last_order: dict[str, tuple[int, str]] = {}
        expected = 0
        for row in conn.execute(select(log_leaves).order_by(log_leaves.c.idx)).yield_per(5000):
            idx, stored = int(row.idx), bytes(row.leaf_hash)
            if idx != expected:
                report.add(
                    "log", f"leaf indexes jump from {expected - 1} to {idx}: leaves missing or renumbered"
                )
                expected = idx
            expected += 1
            stored_tree.append(stored)
            what = f"{row.record_type} {row.record_id} (leaf {idx})"
            rec = records.get((row.record_type, row.record_id))
            if rec is None:
                report.add("deleted", f"{what} is no longer in the database")
                tree.append(stored)
                continue
            if rec.seen:
                report.add("log", f"{what} appears twice in the log")
            rec.seen = True
            if rec.leaf != stored:
                report.add(
                    "changed",
                    f"{what} no longer hashes to its logged leaf: the record or the log was altered",
                )
            for problem in rec.problems:
                report.add("changed", f"{what}: {problem}")
            prev = last_order.get(row.record_type)
            if prev is not None and rec.order < prev[0]:
                report.add(
                    "reordered", f"{what} is stored before {row.record_type} {prev[1]} but logged after it"
                )
            last_order[row.record_type] = (rec.order, row.record_id)
            tree.append(rec.leaf)
        if expected != head:
            report.add("log", f"the log head says {head} leaves but the leaves end at {expected}")

        for (record_type, record_id), rec in records.items():
            if not rec.seen:
                report.add("inserted", f"{record_type} {record_id} is in the database but not in the log")

        _compare_nodes(conn, stored_tree, report)
        _orphan_rel_to(conn, report)
        for cp in log_store.all_checkpoints(conn):
            report.checkpoints_checked += 1
            label = f"checkpoint {cp.seq} (size {cp.tree_size})"
            try:
                checkpoint, _ = open_checkpoint(cp.note, verifiers, origin)
            except NoteError as exc:
                report.add("log", f"{label}: {exc}")
                continue
            if checkpoint.size != cp.tree_size or checkpoint.root_hash != cp.root_hash:
                report.add("log", f"{label}: the stored size or root differs from the signed note")
            if checkpoint.size > tree.size:
                report.add(
                    "deleted", f"{label} signed {checkpoint.size} leaves; the database has {tree.size}"
                )
            elif tree.root(checkpoint.size) != checkpoint.root_hash:
                report.add(
                    "changed",
                    f"{label}: the records no longer rebuild the signed root: "
                    "records were changed, deleted, inserted or reordered outside Garant",
                )
    return report


def _orphan_rel_to(conn: Connection, report: AuditReport) -> None:
    """REL TO rows of no observation (each observation's own are checked with its leaf)."""
    q = text("SELECT DISTINCT seq FROM observation_rel_to WHERE seq NOT IN (SELECT seq FROM observations)")
    for (seq,) in conn.execute(q):
        report.add("inserted", f"REL TO rows for observation seq {seq}, which does not exist")


def _compare_nodes(conn: Connection, tree: merkle.MemoryTree, report: AuditReport) -> None:
    seen = 0
    for row in conn.execute(select(log_nodes).order_by(log_nodes.c.level, log_nodes.c.idx)).yield_per(5000):
        level, idx = int(row.level), int(row.idx)
        want = tree.nodes([(level, idx)]).get((level, idx))
        seen += 1
        if want is None:
            report.add("log", f"stored node ({level}, {idx}) is beyond the tree")
        elif want != bytes(row.hash):
            report.add("log", f"stored node ({level}, {idx}) differs from the recomputed tree")
    complete = sum(len(level) for level in tree.levels[1:])
    if seen != complete:
        report.add("log", f"{complete} complete subtrees expected, {seen} stored")
