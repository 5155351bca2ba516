"""Casualties: counted by monitors, crater teams and patrols (never taken from a party's claim),
carried into the event's figures, its severity and the review queue's order, and counted as
days with fatalities in the credible-cessation indicator."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, text

from garant.api.app import create_app
from garant.config import Settings
from garant.domain.access import Role
from garant.evaluation.tables import read_events
from garant.services.agreements import load_agreement_file
from garant.services.demo import demo_files
from garant.services.intake import ingest_with_retry
from garant.services.verification import update_verification
from garant.store.db import Database, migrate, open_database
from garant.store.schema import events
from garant.verify.bulletin_files import write_bulletin
from garant.verify.evidence import AcousticEvents
from garant.verify.pipeline import VerifiedEvent, run_pipeline

from .conftest import make_principal
from .factories import make
from .verify_factories import GEOD, across, radar, sighting, terms

TARGET = across(-4.0)
POSTS = (
    GEOD.fwd(TARGET[0], TARGET[1], 300.0, 6_000.0)[:2],
    GEOD.fwd(TARGET[0], TARGET[1], 30.0, 7_000.0)[:2],
)


def _run(observations: list[dict[str, Any]]) -> list[VerifiedEvent]:
    agreement, geo = terms()
    return run_pipeline(observations, AcousticEvents.empty(), agreement, geo)


def _barrage(tag: str, when: str, **hurt: int) -> list[dict[str, Any]]:
    """Two posts of two nations see one barrage 4 km into the negative side; the first counts
    `hurt` (killed, injured)."""
    return [
        sighting(1, POSTS[0], TARGET, "US", observed_at=when, client_id=f"{tag}-us", **hurt),
        sighting(2, POSTS[1], TARGET, "TR", observed_at=when, client_id=f"{tag}-tr"),
    ]


def test_a_sightings_dead_are_the_events_and_rank_it_above_an_equal_event_without() -> None:
    (plain,) = _run(_barrage("a", "2026-03-01T04:12:09Z"))
    (dead,) = _run(_barrage("a", "2026-03-01T04:12:09Z", killed=2))
    (hurt,) = _run(_barrage("a", "2026-03-01T04:12:09Z", injured=2))
    assert (plain.killed, plain.casualties) == (0, 0)
    assert (dead.killed, dead.casualties) == (2, 2) and (hurt.killed, hurt.casualties) == (0, 2)
    assert [b.provision_id for b in dead.breaches] == [b.provision_id for b in plain.breaches] != []
    assert dead.severity > hurt.severity > plain.severity


def test_reports_of_one_event_give_their_largest_figures_not_their_sum() -> None:
    reports = _barrage("a", "2026-03-01T04:12:09Z", killed=2, injured=1)
    reports[1].update(killed=1, injured=4)
    crater = make("crater", 3, lon=TARGET[0], lat=TARGET[1], killed=3, location_uncertainty_m=20)
    (ev,) = _run([*reports, crater])
    assert "test-crater-3" in ev.observation_ids
    assert (ev.killed, ev.casualties) == (3, 7)


def test_an_allegations_claimed_casualties_do_not_raise_the_events_figures() -> None:
    (plain,) = _run(_barrage("a", "2026-03-01T04:12:09Z"))
    claim = make(
        "allegation",
        9,
        lon=TARGET[0],
        lat=TARGET[1],
        location_uncertainty_m=3_000,
        nation="UA",
        casualties_reported=12,
    )
    (ev,) = _run([*_barrage("a", "2026-03-01T04:12:09Z"), claim])
    assert "test-allegation-9" in ev.observation_ids
    assert (ev.killed, ev.casualties, ev.severity) == (0, 0, plain.severity)
    assert ev.casualties_claimed == 12 and plain.casualties_claimed is None


def test_the_bulletin_file_gives_killed_and_injured_last_and_still_reads(tmp_path: Path) -> None:
    agreement, _ = terms()
    (ev,) = _run(_barrage("a", "2026-03-01T04:12:09Z", killed=2, injured=5))
    write_bulletin(tmp_path, [ev], tuple(p.code for p in agreement.parties))
    with (tmp_path / "events.csv").open(encoding="utf-8") as fh:
        (row,) = list(csv.DictReader(fh))
    assert list(row)[-2:] == ["killed", "injured"] and (row["killed"], row["injured"]) == ("2", "5")
    table = read_events(tmp_path / "events.csv", keep=("killed",))
    assert table.ids == [row["event_id"]] and table.extra["killed"] == ["2"]


@pytest.fixture
def agreed(db: Database) -> Database:
    load_agreement_file(db, demo_files()[0])
    return db


def test_the_review_queue_lists_the_event_with_fatalities_first(agreed: Database, tmp_path: Path) -> None:
    """A radar-tracked heavy barrage outranks a barrage seen from two posts, until the posts'
    one counts a dead."""
    far = radar(1, across(12.0), across(-8.0), 300.0, observed_at="2026-03-01T06:00:00Z", client_id="r1")
    assert not ingest_with_retry(agreed, [*_barrage("b", "2026-03-01T04:12:09Z", killed=1), far]).errors
    update_verification(agreed)
    app = create_app(Settings(data_dir=tmp_path, database_url=agreed.url), agreed)
    analyst = {"Authorization": f"Bearer {make_principal(agreed, 'q-ana', Role.ANALYST)}"}
    with TestClient(app, raise_server_exceptions=False) as c:
        queue = [f["properties"] for f in c.get("/api/v1/review-queue", headers=analyst).json()["features"]]
    assert [(q["fatalities"], q["casualties"]) for q in queue] == [(1, 1), (0, 0)]
    assert queue[1]["weapon_class"] == "artillery_100_plus" and queue[0]["origin"] is None


def test_days_with_fatalities_count_verified_violations_with_dead_once_a_day(
    agreed: Database, tmp_path: Path
) -> None:
    reports = [
        *_barrage("d1a", "2026-03-01T04:00:00Z", killed=1),
        *_barrage("d1b", "2026-03-01T10:00:00Z", killed=2, injured=1),
        *_barrage("d2", "2026-03-02T04:00:00Z", killed=1),
        *_barrage("d3", "2026-03-03T04:00:00Z", injured=3),  # hurt, nobody killed
        *_barrage("d4", "2026-03-04T04:00:00Z", killed=4),  # left unverified
    ]
    assert not ingest_with_retry(agreed, reports).errors
    update_verification(agreed)
    app = create_app(Settings(data_dir=tmp_path, database_url=agreed.url), agreed)
    analyst = {"Authorization": f"Bearer {make_principal(agreed, 'd-ana', Role.ANALYST)}"}
    with TestClient(app, raise_server_exceptions=False) as c:
        queue = [f["properties"] for f in c.get("/api/v1/review-queue", headers=analyst).json()["features"]]
        assert len(queue) == 5
        for q in queue:
            if not q["time"].startswith("2026-03-04"):
                done = c.post(
                    f"/api/v1/events/{q['id']}/acts",
                    headers=analyst,
                    json={"act": "confirm", "reason": "two posts of two nations"},
                )
                assert done.is_success, done.text
        stats = c.get(
            "/api/v1/stats",
            params={"start": "2026-03-01T00:00:00Z", "end": "2026-03-05T00:00:00Z"},
            headers=analyst,
        ).json()
        vio = c.get("/api/v1/violations", params={"level": "verified"}, headers=analyst).json()["features"]
    assert stats["verified_violations"] == 4 and stats["pending_review"] == 1
    assert stats["credible_cessation"]["measures"]["days_with_fatalities"]["value"] == 2
    assert sorted(v["properties"]["severity"]["fatalities"] for v in vio) == [0, 1, 1, 2]


def test_intake_refuses_a_negative_count_naming_the_field(client: TestClient) -> None:
    bad = client.post("/api/v1/observations", json=make("crater", client_id="k-1", killed=-1))
    assert bad.status_code == 422
    (err,) = bad.json()["errors"]
    assert err["field"] == "killed" and "greater than or equal to 0" in err["reason"]
    ok = client.post("/api/v1/observations", json=make("sighting", client_id="k-2", killed=2, injured=0))
    assert ok.status_code == 201, ok.text


def test_migration_0008_gives_stored_fused_events_no_fatalities(database_url: str) -> None:
    """Fused events stored before 0008 (their casualties all 0) get 0 killed; acoustic ones none."""
    db = open_database(database_url)
    migrate(db, "0007")
    t = datetime(2026, 3, 1, 4, 12, 9, tzinfo=UTC)
    common = {
        "evaluation_mode": "automatic", "status": "preliminary", "time": t, "lon": 37.8, "lat": 48.3,
        "semi_major_m": 100.0, "semi_minor_m": 100.0, "azimuth_deg": 0.0, "n_observations": 2,
        "revision": 1, "created_at": t, "updated_at": t,
    }  # fmt: skip
    with db.write() as conn:
        conn.execute(
            insert(events),
            [
                {**common, "id": "e-old", "kind": "fire", "casualties": 0},
                {**common, "id": "e-blast", "kind": "acoustic", "casualties": None},
            ],
        )
    migrate(db)
    with db.read() as conn:
        got = dict(conn.execute(text("SELECT id, fatalities FROM events")).all())
    assert got == {"e-old": 0, "e-blast": None}
    db.dispose()
