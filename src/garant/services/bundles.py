"""`garant bundle export`: the records behind an event or a case, provable offline.

Signs a fresh checkpoint first (so every chosen record is covered), then writes each
record's leaf data, its inclusion proof at that checkpoint's size, and the attachments it
names (when their files are given), with the signed checkpoint, in one archive that
`garant.transparency.bundle` verifies with no database.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from garant.services.checkpoints import Checkpointer
from garant.services.log_records import record_leaf
from garant.store import log as log_store
from garant.store.db import Database
from garant.transparency import merkle
from garant.transparency.bundle import BundleRecord, attachments_of, write_bundle


class BundleExportError(Exception):
    """A requested record is not in the store or not in the log."""


@dataclass(frozen=True)
class ExportSummary:
    records: int
    attachments_included: int
    attachments_named: int
    tree_size: int


def export_bundle(
    db: Database,
    checkpointer: Checkpointer,
    out: Path | io.BytesIO,
    records: Sequence[tuple[str, str]],
    attachments_dir: Path | None = None,
) -> ExportSummary:
    if not records:
        raise BundleExportError("no records chosen")
    cp = checkpointer.sign_now()
    chosen: list[BundleRecord] = []
    with db.read() as conn:
        source = lambda nodes: log_store.read_nodes(conn, nodes)  # noqa: E731
        for record_type, record_id in records:
            ref = log_store.find_leaf(conn, record_type, record_id)
            data = record_leaf(conn, record_type, record_id)
            if ref is None or data is None:
                raise BundleExportError(f"{record_type} {record_id} is not in the store and its log")
            if merkle.leaf_hash(data) != ref.leaf_hash:
                raise BundleExportError(
                    f"{record_type} {record_id} no longer matches its logged leaf; run `garant log audit`"
                )
            proof = merkle.inclusion_proof(ref.index, cp.tree_size, source)
            chosen.append(BundleRecord(record_type, record_id, ref.index, data, proof, attachments_of(data)))
    files: dict[str, bytes] = {}
    named = {a["sha256"] for r in chosen for a in r.attachments}
    if attachments_dir is not None:
        for digest in named:
            path = attachments_dir / digest
            if path.is_file():
                content = path.read_bytes()
                if hashlib.sha256(content).hexdigest() != digest:
                    raise BundleExportError(f"{path} does not have the SHA-256 its name says")
                files[digest] = content
    origin = checkpointer.origin
    write_bundle(out, origin, cp.note, cp.tree_size, chosen, files)
    return ExportSummary(len(chosen), len(files), len(named), cp.tree_size)
