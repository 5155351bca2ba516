"""Each event is judged under the agreement version in force when it happened, even when one run
of the verified bulletin spans an amendment."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from garant.cli import app
from garant.domain.agreement import Agreement
from garant.services.agreements import load_agreement_file, read_agreement
from garant.services.demo import demo_files
from garant.services.intake import ingest_with_retry
from garant.services.verification import update_verification
from garant.store.agreements import agreements_in_force, store_agreement
from garant.store.db import Database
from garant.store.schema import events

from .verify_factories import across, radar

AMENDED_AT = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def _amended(version: int, at: datetime) -> Agreement:
    """The demo agreement with the two parties' areas exchanged from `at`: what was UA's ground
    is RU's under this version (a drastic amendment, so the test cannot pass by chance)."""
    data: dict[str, Any] = read_agreement("demo").model_dump(mode="json")
    ua, ru = data["control_areas"]["UA"], data["control_areas"]["RU"]
    data["control_areas"] = {"UA": ru, "RU": ua}
    data["positive_side"] = "RU" if data["positive_side"] == "UA" else "UA"
    data["version"] = version
    data["entry_into_force"] = at.isoformat()
    return Agreement.model_validate(data)


@pytest.fixture
def amended(db: Database) -> Database:
    load_agreement_file(db, demo_files()[0])
    with db.write() as conn:
        store_agreement(conn, _amended(2, AMENDED_AT))
    return db


def _track(i: int, at: datetime) -> dict[str, Any]:
    """Artillery fired from 12 km inside the positive side (UA's under version 1)."""
    origin = across(12.0)
    impact = across(-6.0)
    return radar(i, origin, impact, 150.0, observed_at=at.isoformat().replace("+00:00", "Z"))


def test_one_run_across_an_amendment_judges_each_event_under_its_own_version(amended: Database) -> None:
    before = _track(1, AMENDED_AT - timedelta(minutes=50))
    after = _track(2, AMENDED_AT + timedelta(minutes=50))
    assert not ingest_with_retry(amended, [before, after]).errors
    report = update_verification(amended)
    assert report.events_created == 2
    with amended.read() as conn:
        rows = conn.execute(
            select(events.c.time, events.c.attribution, events.c.agreement_key)
            .where(events.c.kind == "fire")
            .order_by(events.c.time)
        ).all()
    assert [r.agreement_key for r in rows] == ["paris-2026-demo@1", "paris-2026-demo@2"]
    first, second = (orjson.loads(r.attribution) for r in rows)
    assert first["UA"] > 0.99  # fired from UA's ground under version 1
    assert second["RU"] > 0.99  # the same ground is RU's under version 2


def test_the_versions_in_force_over_a_stretch_of_time(amended: Database) -> None:
    with amended.write() as conn:
        # two versions entering at one instant: the higher one is in force
        store_agreement(conn, _amended(3, AMENDED_AT + timedelta(days=2)))
        store_agreement(conn, _amended(4, AMENDED_AT + timedelta(days=2)))
    with amended.read() as conn:
        early = agreements_in_force(conn, AMENDED_AT - timedelta(hours=3), AMENDED_AT - timedelta(hours=1))
        spanning = agreements_in_force(conn, AMENDED_AT - timedelta(hours=1), AMENDED_AT + timedelta(days=3))
        late = agreements_in_force(conn, AMENDED_AT + timedelta(hours=1), AMENDED_AT + timedelta(hours=2))
    assert [a.version for a in early] == [1]
    assert [a.version for a in spanning] == [1, 2, 4]
    assert [a.version for a in late] == [2]


def test_a_stretch_before_any_version_takes_the_highest_of_the_first_instant_once(db: Database) -> None:
    """No version in force at the start: the earliest instant's highest version stands for it, and
    a lower version of that same instant never comes after it."""
    with db.write() as conn:
        store_agreement(conn, _amended(6, AMENDED_AT))
        store_agreement(conn, _amended(5, AMENDED_AT))
        store_agreement(conn, _amended(7, AMENDED_AT + timedelta(days=1)))
        versions = agreements_in_force(conn, AMENDED_AT - timedelta(days=1), AMENDED_AT + timedelta(days=2))
    assert [a.version for a in versions] == [6, 7]


def test_garant_verify_takes_the_versions_of_an_amended_agreement(tmp_path: Path) -> None:
    amended = tmp_path / "amended.yaml"
    amended.write_text(yaml.safe_dump(_amended(2, AMENDED_AT).model_dump(mode="json")))
    obs = tmp_path / "obs.jsonl"
    tracks = [_track(1, AMENDED_AT - timedelta(minutes=50)), _track(2, AMENDED_AT + timedelta(minutes=50))]
    obs.write_bytes(b"".join(orjson.dumps(t) + b"\n" for t in tracks))
    args = ["verify", "--observations", str(obs), "--out", str(tmp_path / "b")]
    result = CliRunner().invoke(app, [*args, "--agreement", str(amended), "--agreement", "demo"])
    assert result.exit_code == 0, result.output
    with (tmp_path / "b" / "events.csv").open() as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["time"])
    assert [(r["agreement"], float(r["p_UA"]) > 0.99, float(r["p_RU"]) > 0.99) for r in rows] == [
        ("paris-2026-demo@1", True, False),
        ("paris-2026-demo@2", False, True),
    ]
