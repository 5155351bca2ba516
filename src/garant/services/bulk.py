"""File intake: what `garant ingest` does, callable from tests and the demo too."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from garant.services.formats import READERS, Record, RecordError, detect_format
from garant.services.intake import ingest_with_retry
from garant.store.db import Database


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
