"""Timing tells: does an unreleased record answer as fast as an absent one?

A 404 for an id that exists but is not released to the caller, and a 404 for an id that does
not exist, go through the same single query; this measures it. Requests alternate between the
two kinds (in-process ASGI client, a SQLite database with the demo plus 10,000 observations
released to another nation), 2,000 of each; medians and the 95th percentiles are compared.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from garant.api.app import create_app
from garant.config import Settings
from garant.domain.access import OrgKind, Role
from garant.services import identity
from garant.services.demo import load_demo
from garant.services.intake import ingest
from garant.store.db import migrate, open_database

N = 2000


def run(n: int = N) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="garant-bench-access-") as tmp:
        db = open_database(f"sqlite:///{Path(tmp) / 'garant.db'}")
        migrate(db)
        load_demo(db)
        items = [
            {
                "kind": "osint", "client_id": f"hidden-{i}", "source_id": "ru-feed", "nation": "RU",
                "observed_at": "2026-03-01T00:00:00Z", "lon": 37.0 + i * 1e-5, "lat": 48.0,
                "reliability": "C", "credibility": 3, "releasability": "originator",
                "url": "https://example.org/x", "content_sha256": "a" * 64,
            }
            for i in range(10_000)
        ]  # fmt: skip
        hidden = [r.id for r in ingest(db, items).results]
        identity.add_user(db, "fr", Role.MONITOR, "FR-MOD", OrgKind.NATION, "FR", None)
        token = identity.create_token(db, "fr", None, "bench")[1]
        settings = Settings(data_dir=Path(tmp), database_url=db.url)
        times: dict[str, list[float]] = {"unreleased": [], "absent": []}
        with TestClient(create_app(settings, db), headers={"Authorization": f"Bearer {token}"}) as client:
            for i in range(n):
                for kind, obs_id in (("unreleased", hidden[i % len(hidden)]), ("absent", str(uuid.uuid4()))):
                    t0 = time.perf_counter()
                    r = client.get(f"/api/v1/observations/{obs_id}")
                    times[kind].append(time.perf_counter() - t0)
                    assert r.status_code == 404
        db.dispose()
    out: dict[str, Any] = {"requests_each": n}
    for kind, values in times.items():
        values.sort()
        out[f"{kind}_median_ms"] = round(statistics.median(values) * 1000, 3)
        out[f"{kind}_p95_ms"] = round(values[int(0.95 * len(values))] * 1000, 3)
    out["median_difference_ms"] = round(out["unreleased_median_ms"] - out["absent_median_ms"], 3)
    return out


if __name__ == "__main__":
    import orjson

    print(
        orjson.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else N), option=orjson.OPT_INDENT_2).decode()
    )
