"""File intake and the demo: what `garant ingest` and `make serve` do, callable from tests too."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from garant.services.agreements import load_agreement_file
from garant.services.formats import READERS, Record, RecordError, detect_format
from garant.services.intake import ingest_with_retry
from garant.store.agreements import current_agreement
from garant.store.db import Database
from garant.store.observations import count_observations


@dataclass
class FileIngestResult:
    accepted: int = 0
    duplicates: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (where in the file, reasons)

    @property
    def rejected(self) -> int:
        return len(self.refused)


def _chunks(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while chunk := list(itertools.islice(records, size)):
        yield chunk


def ingest_file(
    db: Database,
    path: Path,
    fmt: str | None = None,
    *,
    chunk: int = 5000,
    on_progress: Callable[[int, int], None] | None = None,
) -> FileIngestResult:
    """Stream a file into the store in transactions of `chunk`; `on_progress(bytes_read, size)`."""
    fmt = fmt or detect_format(path)
    result = FileIngestResult()
    size = path.stat().st_size
    with path.open("rb") as fh:
        for batch in _chunks(READERS[fmt](fh), chunk):
            # (position in the chunk, where, reasons): refusals are reported in file order
            refused = [(n, w, i.reason) for n, (w, i) in enumerate(batch) if isinstance(i, RecordError)]
            good = [(n, item) for n, (_, item) in enumerate(batch) if not isinstance(item, RecordError)]
            if good:
                outcome = ingest_with_retry(db, [item for _, item in good])
                result.accepted += outcome.created
                result.duplicates += outcome.duplicates
                for e in outcome.errors:
                    n = good[e.index][0]
                    reasons = "; ".join(f"{p.field}: {p.reason}" for p in e.problems)
                    refused.append((n, batch[n][0], reasons))
            result.refused.extend((where, reasons) for _, where, reasons in sorted(refused))
            if on_progress is not None:
                on_progress(fh.tell() if not fh.closed else size, size)
    return result


def demo_files() -> tuple[Path, Path]:
    base = resources.files("garant") / "demo"
    return Path(str(base / "agreement.yaml")), Path(str(base / "observations.jsonl"))


def load_demo(db: Database) -> str:
    """Load the demo agreement and observations, only into an empty database."""
    with db.read() as conn:
        empty = count_observations(conn) == 0 and current_agreement(conn) is None
    if not empty:
        return "database not empty: demo not loaded"
    agreement_file, observations_file = demo_files()
    stored = load_agreement_file(db, agreement_file)
    result = ingest_file(db, observations_file, "jsonl")
    return f"demo loaded: {stored.agreement.key}, {result.accepted} observations"
