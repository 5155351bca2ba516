"""The verified bulletin on the command line and its figures: `garant stats` per dimension with
incidents beside violation rows, the rolling mean reaching back before `--start`, party counts
at a threshold beside expected counts; `events list`, `violations list`, `review queue`,
`review act`, `review acts` (with `--json`); the acts' keyset pagination in the API; and
`pipeline run` on a small ingested scenario with its verified-bulletin steps."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from garant.api.app import create_app
from garant.cli import app
from garant.config import Settings
from garant.domain.access import SYSTEM, Role
from garant.services.agreements import load_agreement_file
from garant.services.demo import demo_files
from garant.services.intake import ingest_with_retry
from garant.services.verification import update_verification
from garant.store import verified as vstore
from garant.store.db import Database, migrate, open_database
from garant.store.schema import events

from .conftest import make_principal
from .factories import blast_detections
from .verify_factories import GEOD, across, radar, sighting, terms

DAY = "2026-03-01"


def _barrage(when: str = f"{DAY}T04:12:09Z") -> list[dict[str, Any]]:
    """A barrage 4 km into the negative party's side seen from two posts of two nations."""
    target = across(-4.0)
    posts = [
        GEOD.fwd(target[0], target[1], 300.0, 6_000.0)[:2],
        GEOD.fwd(target[0], target[1], 30.0, 7_000.0)[:2],
    ]
    return [
        sighting(11, posts[0], target, "US", observed_at=when, client_id="b-us"),
        sighting(12, posts[1], target, "TR", observed_at=when, client_id="b-tr"),
    ]


def _scenario() -> list[dict[str, Any]]:
    """The barrage (one provision) and heavy fire tracked by radar across the line (two)."""
    far = radar(1, across(12.0), across(-8.0), 300.0, observed_at=f"{DAY}T06:00:00Z", client_id="r1")
    return [*_barrage(), far]


@dataclass
class Cli:
    db: Database
    runner: CliRunner
    tmp: Path

    def run(self, *args: str) -> Result:
        out = self.runner.invoke(app, list(args))
        assert out.exit_code == 0, (args, out.output, out.exception)
        return out

    def json(self, *args: str) -> Any:
        return orjson.loads(self.run(*args, "--json", "-").stdout)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    url = f"sqlite:///{tmp_path / 'garant.db'}"
    monkeypatch.setenv("GARANT_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    db = open_database(url)
    migrate(db)
    load_agreement_file(db, demo_files()[0])
    make_principal(db, "ana", Role.ANALYST)
    make_principal(db, "mon")
    yield Cli(db, CliRunner(), tmp_path)
    db.dispose()


@pytest.fixture
def built(cli: Cli) -> Cli:
    assert not ingest_with_retry(cli.db, _scenario()).errors
    update_verification(cli.db)
    return cli


def _radar_event(cli: Cli) -> str:
    """The event the radar saw: the one breaching two provisions."""
    with cli.db.read() as conn:
        rows = vstore.list_violations(conn, vstore.ViolationFilter(viewer=SYSTEM))
    per_event = Counter(r["event_id"] for r in rows)
    (two,) = [e for e, n in per_event.items() if n == 2]
    return two


def test_stats_per_dimension_incidents_rows_and_a_rolling_mean_reaching_before_start(built: Cli) -> None:
    top = _radar_event(built)
    built.run("review", "act", top, "confirm", "--analyst", "ana", "--reason", "two sources agree")
    with built.db.read() as conn:
        rows = [
            r
            for r in vstore.list_violations(conn, vstore.ViolationFilter(viewer=SYSTEM))
            if r["level"] == "verified"
        ]
    assert {r["event_id"] for r in rows} == {top} and len(rows) == 2  # one incident, two rows
    weapon = rows[0]["weapon_class"]
    party = max(orjson.loads(rows[0]["attribution"]).items(), key=lambda kv: kv[1])[0]
    # the day itself: one incident, two violation rows, per dimension
    fig = built.json("stats", "--start", f"{DAY}T00:00:00Z", "--end", "2026-03-02T00:00:00Z")
    assert (fig["verified_incidents"], fig["verified_violations"]) == (1, 2)
    totals = fig["totals"]
    assert totals["provision"] == {p: {"incidents": 1, "violations": 1} for p in ("P1", "P2")}
    assert totals["weapon_class"][weapon] == {"incidents": 1, "violations": 2}
    assert totals["party"][party]["incidents"] == 1 and totals["party"][party]["violations"] == 2
    ((sector, cell),) = totals["sector"].items()
    assert sector.startswith("km ") and cell == {"incidents": 1, "violations": 2}
    shown = built.run("stats", "--start", f"{DAY}T00:00:00Z", "--end", "2026-03-02T00:00:00Z").stdout
    for title in ("by party", "by provision", "by weapon class", "by sector"):
        assert title in shown
    assert weapon in shown and sector in shown
    # two days later: nothing that day, but the 7-day mean still holds the incident
    later = built.json("stats", "--start", "2026-03-03T00:00:00Z", "--end", "2026-03-05T00:00:00Z")
    first = later["daily"][0]
    assert first["date"] == "2026-03-03" and first["verified_incidents"] == 0
    assert first["rolling"] == {"incidents": round(1 / 7, 3), "violations": round(2 / 7, 3)}
    assert first["by_weapon_class"][weapon]["rolling_incidents"] == round(1 / 7, 3)
    assert first["by_provision"]["P2"]["rolling_violations"] == round(1 / 7, 3)
    assert later["verified_incidents"] == 0 and later["verified_violations"] == 0
    # a window of 3 days: from 03-03 it reaches 03-01; from 03-04 it no longer does
    short = built.json(
        "stats", "--start", "2026-03-03T00:00:00Z", "--end", "2026-03-05T00:00:00Z", "--window", "3"
    )
    assert [d["rolling"]["incidents"] for d in short["daily"]] == [round(1 / 3, 3), 0.0]


def test_party_counts_at_a_threshold_beside_expected_counts(built: Cli) -> None:
    top = _radar_event(built)
    agreement, _ = terms()
    a, b = (p.code for p in agreement.parties)
    built.run("review", "act", top, "confirm", "--analyst", "ana", "--reason", "two sources agree")
    built.run(
        "review", "act", top, "reattribute", "--analyst", "ana", "--reason", "radar of a partner",
        "--party", f"{a}=0.8", "--party", f"{b}=0.2",
    )  # fmt: skip
    window = ("--start", f"{DAY}T00:00:00Z", "--end", "2026-03-02T00:00:00Z")
    fig = built.json("stats", *window)
    assert fig["party_threshold"] == 0.9
    party = fig["totals"]["party"]
    assert party["undetermined"]["incidents"] == 1 and party["undetermined"]["violations"] == 2
    assert party[a] == {"expected_incidents": 0.8, "expected_violations": 1.6}
    assert party[b] == {"expected_incidents": 0.2, "expected_violations": 0.4}
    assert fig["by_party"] == {"undetermined": 2}
    lower = built.json("stats", *window, "--party-threshold", "0.75")["totals"]["party"]
    assert lower[a]["incidents"] == 1 and "undetermined" not in lower


def test_violations_and_events_list_filter_and_give_json(built: Cli) -> None:
    top = _radar_event(built)
    p2 = built.json("violations", "list", "--user", "mon", "--provision", "P2")["features"]
    assert [f["properties"]["event_id"] for f in p2] == [top]
    every = built.json("violations", "list", "--user", "mon")["features"]
    assert len(every) == 3 and {f["properties"]["provision"] for f in every} == {"P1", "P2"}
    assert built.json("violations", "list", "--user", "mon", "--level", "verified")["features"] == []
    built.run("review", "act", top, "confirm", "--analyst", "ana", "--reason", "two sources agree")
    verified = built.json("violations", "list", "--user", "mon", "--level", "verified")["features"]
    assert sorted(f["properties"]["provision"] for f in verified) == ["P1", "P2"]
    assert {f["properties"]["event_id"] for f in verified} == {top}
    late = built.json("violations", "list", "--user", "mon", "--start", f"{DAY}T05:00:00Z")["features"]
    assert {f["properties"]["event_id"] for f in late} == {top}
    assert built.json("violations", "list", "--user", "mon", "--end", f"{DAY}T04:00:00Z")["features"] == []
    fire = built.json("events", "list", "--user", "mon", "--kind", "fire")["features"]
    assert len(fire) == 2 and top in {f["id"] for f in fire}
    confirmed = built.json("events", "list", "--user", "mon", "--status", "confirmed")["features"]
    assert [f["id"] for f in confirmed] == [top]
    table = built.run("violations", "list", "--user", "mon", "--provision", "P2").stdout
    assert top in table and "P2" in table
    refused = built.runner.invoke(app, ["violations", "list", "--user", "nobody"])
    assert refused.exit_code == 2 and "no active user" in refused.output


def test_review_queue_json_act_then_acts(built: Cli) -> None:
    queue = built.json("review", "queue", "--analyst", "ana")["features"]
    severity = [f["properties"]["severity"] for f in queue]
    assert len(queue) == 2 and severity == sorted(severity, reverse=True)
    top = queue[0]["id"]
    assert built.json("review", "acts", top, "--user", "mon")["acts"] == []
    built.run("review", "act", top, "annotate", "--analyst", "ana", "--reason", "two posts agree")
    built.run("review", "act", top, "confirm", "--analyst", "ana", "--reason", "two sources agree")
    acts = built.json("review", "acts", top, "--user", "mon")["acts"]
    assert [(a["act"], a["actor"]) for a in acts] == [("annotate", "ana"), ("confirm", "ana")]
    assert acts[0]["reason"] == "two posts agree"
    shown = built.run("review", "acts", top, "--user", "mon").stdout
    assert "annotate" in shown and "confirm" in shown and "two posts agree" in shown
    assert [f["id"] for f in built.json("review", "queue", "--analyst", "ana")["features"]] == [
        queue[1]["id"]
    ]


def test_acts_paginate_every_act_once(built: Cli) -> None:
    top = _radar_event(built)
    for k in range(5):
        built.run("review", "act", top, "annotate", "--analyst", "ana", "--reason", f"note {k}")
    app_ = create_app(Settings(data_dir=built.tmp, database_url=built.db.url), built.db)
    monitor = {"Authorization": f"Bearer {make_principal(built.db, 'api-mon')}"}
    with TestClient(app_, raise_server_exceptions=False) as c:
        whole = c.get(f"/api/v1/events/{top}/acts", headers=monitor).json()
        url: str | None = f"/api/v1/events/{top}/acts?limit=2"
        pages = []
        while url:
            page = c.get(url, headers=monitor).json()
            pages.append([a["id"] for a in page["acts"]])
            assert page["numberReturned"] == len(page["acts"])
            url = page["links"]["next"]
        bad = c.get(f"/api/v1/events/{top}/acts", params={"cursor": "nonsense"}, headers=monitor)
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == [a["id"] for a in whole["acts"]]
    assert [a["reason"] for a in whole["acts"]] == [f"note {k}" for k in range(5)]
    assert whole["links"]["next"] is None
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


def test_stats_api_names_the_bad_parameter(built: Cli) -> None:
    app_ = create_app(Settings(data_dir=built.tmp, database_url=built.db.url), built.db)
    monitor = {"Authorization": f"Bearer {make_principal(built.db, 'api-mon')}"}
    base = {"start": f"{DAY}T00:00:00Z", "end": "2026-03-02T00:00:00Z"}
    with TestClient(app_, raise_server_exceptions=False) as c:
        ok = c.get("/api/v1/stats", params={**base, "window": 3}, headers=monitor)
        zero = c.get("/api/v1/stats", params={**base, "window": 0}, headers=monitor)
        half = c.get("/api/v1/stats", params={**base, "party_threshold": 0.5}, headers=monitor)
        swapped = c.get("/api/v1/stats", params={"start": base["end"], "end": base["start"]}, headers=monitor)
    assert ok.status_code == 200 and ok.json()["window_days"] == 3
    for bad, field in ((zero, "window"), (half, "party_threshold"), (swapped, "start")):
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
        assert bad.json()["errors"][0]["field"] == field


def test_pipeline_run_prints_both_stages_and_counts_its_steps(cli: Cli) -> None:
    blast = across(-3.0)
    fired = datetime(2026, 3, 1, 5, 0, tzinfo=UTC).timestamp()
    heard = blast_detections(blast[0], blast[1], fired, "arr")
    assert not ingest_with_retry(cli.db, [*_scenario(), *heard]).errors
    out = cli.run("pipeline", "run").stdout
    with cli.db.read() as conn:
        kinds = dict(
            conn.execute(
                select(events.c.kind == "acoustic", func.count()).group_by(events.c.kind == "acoustic")
            ).all()
        )
        n_rows = len(vstore.list_violations(conn, vstore.ViolationFilter(viewer=SYSTEM)))
    assert kinds[True] >= 1 and kinds[False] >= 2 and n_rows >= 3
    assert f"{len(heard)} acoustic detections taken in: {kinds[True]} new events" in out
    assert f"verified bulletin: {kinds[False]} new events, 0 revised, 0 closed, {n_rows} violations" in out
    # the numeric hook a bar counts: every step once, in order, without changing the run
    more = _barrage(when=(datetime(2026, 3, 1, 9, 0, tzinfo=UTC)).isoformat())
    more = [{**o, "client_id": o["client_id"] + "-2"} for o in more]
    assert not ingest_with_retry(cli.db, more).errors
    from garant.services.verification import STEPS

    seen: list[tuple[int, int]] = []
    report = update_verification(cli.db, steps=lambda done, total, _what: seen.append((done, total)))
    assert seen == [(k, STEPS) for k in range(STEPS + 1)]
    assert report.events_created >= 1
