"""Transparency log: proof time as the log grows (10^4 ... 10^7 leaves), and append rate.

One SQLite log grows in steps; at each size, inclusion proofs for random leaves and
consistency proofs from random earlier sizes are generated from the stored subtree hashes
(each proof is one query for its O(log n) hashes) and verified. Leaves are synthetic records
appended through the same `Appender` intake uses, in batches of 10,000.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from garant.store import log as log_store
from garant.store.db import migrate, open_database
from garant.transparency import merkle

SIZES = (10_000, 100_000, 1_000_000, 10_000_000)
PROOFS = 200
BATCH = 10_000


def _grow(db: Any, start: int, end: int) -> float:
    t0 = time.perf_counter()
    for first in range(start, end, BATCH):
        last = min(first + BATCH, end)
        with db.write() as conn:
            appender = log_store.Appender.open(conn)
            entries = [("bench", str(i), b'{"record_type":"bench","n":%d}' % i) for i in range(first, last)]
            appender.append(entries)
    return time.perf_counter() - t0


def _time_proofs(db: Any, size: int, rng: random.Random) -> dict[str, float]:
    inclusion, consistency = [], []
    with db.read() as conn:

        def source(nodes: Any) -> dict[merkle.Node, bytes]:
            return log_store.read_nodes(conn, nodes)

        root = merkle.root_hash(size, source)
        for _ in range(PROOFS):
            m = rng.randrange(size)
            t0 = time.perf_counter()
            proof = merkle.inclusion_proof(m, size, source)
            inclusion.append(time.perf_counter() - t0)
            leaf = source([(0, m)])[(0, m)]
            merkle.verify_inclusion(m, size, leaf, proof, root)
            first = rng.randrange(1, size)
            t0 = time.perf_counter()
            cproof = merkle.consistency_proof(first, size, source)
            consistency.append(time.perf_counter() - t0)
            merkle.verify_consistency(first, size, cproof, merkle.root_hash(first, source), root)
    return {
        "inclusion_median_ms": round(statistics.median(inclusion) * 1000, 3),
        "inclusion_p95_ms": round(sorted(inclusion)[int(0.95 * len(inclusion))] * 1000, 3),
        "consistency_median_ms": round(statistics.median(consistency) * 1000, 3),
        "proof_hashes": len(proof),
    }


def run(sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    rng = random.Random(9162)
    out: dict[str, Any] = {"proofs_per_size": PROOFS, "by_size": {}}
    with tempfile.TemporaryDirectory(prefix="garant-bench-log-") as tmp:
        db = open_database(f"sqlite:///{Path(tmp) / 'log.db'}")
        migrate(db)
        size = 0
        for target in sizes:
            seconds = _grow(db, size, target)
            rate = (target - size) / seconds
            size = target
            figures = _time_proofs(db, size, rng)
            figures["append_per_s"] = round(rate)
            figures["db_mb"] = round((Path(tmp) / "log.db").stat().st_size / 1e6, 1)
            out["by_size"][str(size)] = figures
            print(f"log {size}: {figures}", file=sys.stderr)
        db.dispose()
    return out


if __name__ == "__main__":
    chosen = tuple(int(a) for a in sys.argv[1:]) or SIZES
    print(orjson.dumps(run(chosen), option=orjson.OPT_INDENT_2).decode())
