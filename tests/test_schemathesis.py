"""The HTTP API against its own OpenAPI document, by property-based generation (schemathesis 4).

Every operation of `/openapi.json` is called with generated requests, valid and invalid, on a
fresh SQLite database with the demo loaded, once with no credentials and once with a valid
token of a US monitor (`test_api[GET /api/v1/health][anonymous]`, `...[monitor-token]`). Every
check runs: no request, however wrong, gets a 5xx; every response conforms to the document
(documented status code and media type, body and headers matching the documented schema,
invalid requests refused, `405` with `Allow`).

Bounded and deterministic: a fixed seed, `derandomize`, 15 generated examples per operation
plus the schema's boundary cases (the coverage phase; skipped for the observation POST, where
it alone takes some 100 s), no shrinking, no example database, a fresh database per test.

`positive_data_acceptance` is off: the document cannot state the rules that join fields
(`observed_until` after `observed_at`, `sharing_group` needs `rel_to`, weapon classes of the
agreement in force, a `bbox` of four numbers, a cursor the server issued), so schema-valid
requests the server rightly refuses would fail it. `negative_data_rejection` accepts 413, the
documented answer to a batch over the limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from schemathesis.config import SchemathesisConfig

from garant.api.app import create_app
from garant.config import Settings
from garant.services.demo import load_demo
from garant.store.db import migrate, open_database

from .conftest import make_principal

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20260106,
        # The coverage phase enumerates every boundary of every field of the nine observation
        # kinds: some 100 s for this one operation. Its fuzzing phase (valid and invalid) stays.
        # No learning from responses (ids, 4xx analysis): what a test generates must not depend
        # on which other operations its process ran before, nor on the ids of this run.
        "phases": {
            "coverage": {"extra-data-sources": {"responses": False}},
            "fuzzing": {"extra-data-sources": {"responses": False}, "error-feedback": {"enabled": False}},
        },
        "operations": [
            {
                "include-name": "POST /api/v1/observations",
                "phases": {"coverage": {"enabled": False}},
            },
            {
                # An object or a null made "invalid" for `kind`, `nation`, ... reaches a query
                # string as text the filter rightly takes, so the check cannot hold here. The real
                # finding it made on this route (a number taken as a time) is pinned in
                # test_problem_envelope.py instead.
                "include-name": "GET /api/v1/observations",
                "checks": {"negative_data_rejection": {"enabled": False}},
            },
            {
                # the same filters, as CSV
                "include-name": "GET /api/v1/observations.csv",
                "checks": {"negative_data_rejection": {"enabled": False}},
            },
        ],
        "checks": {
            "positive_data_acceptance": {"enabled": False},
            "negative_data_rejection": {
                "expected-statuses": ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422"]
            },
        },
    }
)

# The document is read from an app that is never given a database; the requests go to `api_app`.
schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_app(Settings(data_dir=Path("."), database_url="sqlite:///:memory:"), migrate_db=False),
    config=CONFIG,
)

BOUNDED = settings(
    max_examples=15,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: a failure is reported as found
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # on purpose: one database per operation, not per example
    ],
)


@pytest.fixture
def api_app(tmp_path: Path) -> Iterator[tuple[FastAPI, str]]:
    """A fresh database with the demo for each operation's test (shared by its examples), so a
    test sees the same state whatever ran before it and on whichever xdist worker; and the
    token of a US monitor of the mechanism."""
    db = open_database(f"sqlite:///{tmp_path / 'garant.db'}")
    migrate(db)
    load_demo(db)
    token = make_principal(db, "schemathesis-monitor")
    settings = Settings(
        data_dir=tmp_path, database_url=db.url, writes_per_minute=100_000, logins_per_minute=100_000
    )
    yield create_app(settings, db, migrate_db=False), token
    db.dispose()


OPERATIONS = [result.ok().label for result in schema.get_all_operations()]


def test_the_document_has_operations() -> None:
    """Guard: the parametrised test below runs on something."""
    assert len(OPERATIONS) >= 9 and "POST /api/v1/observations" in OPERATIONS


def test_every_operation_is_a_test_of_its_own(request: pytest.FixtureRequest) -> None:
    """Guard: one test id per operation and property, or xdist would run only one of them.

    Under pytest 9.2 a schemathesis 4 item is named after its test function alone unless a
    pytest parametrisation adds to it (here, `prop`); xdist then keeps one item per name.
    """
    ids = [
        item.nodeid for item in request.session.items if item.nodeid.split("::")[-1].startswith("test_api")
    ]
    if not ids:
        pytest.skip("test_api not collected in this run")
    assert len(ids) == len(set(ids)), sorted(ids)
    assert all(any(label in nodeid for nodeid in ids) for label in OPERATIONS), (OPERATIONS, ids)


@pytest.mark.parametrize(
    "caller",
    [
        # every enabled check (no 5xx; status codes, media types, bodies and headers as
        # documented, ...) with no credentials, and with a valid token
        pytest.param("anonymous", id="anonymous"),
        pytest.param("monitor", id="monitor-token"),
    ],
)
@schema.parametrize()
@BOUNDED
def test_api(case: Any, caller: str, api_app: tuple[FastAPI, str]) -> None:
    app, token = api_app
    headers = {"Authorization": f"Bearer {token}"} if caller == "monitor" else None
    case.call_and_validate(app=app, headers=headers)
