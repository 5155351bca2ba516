"""`garant pipeline export`: the server's verified bulletin written as `garant verify` writes a run
on files — the same events, provisions, attributions and members for the same observations —
read under the need-to-know filter."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from garant.cli import app
from garant.domain.access import OrgKind, Role
from garant.evaluation.tables import read_assignments, read_events
from garant.services.agreements import load_agreement_file
from garant.services.demo import demo_files
from garant.services.intake import ingest_with_retry
from garant.services.verification import update_verification
from garant.store.db import Database, migrate, open_database

from .conftest import make_principal
from .factories import make
from .verify_factories import GEOD, across, radar, sighting

DAY = "2026-03-01"


def _observations() -> list[dict[str, Any]]:
    """A barrage seen from two posts of two nations; heavy fire tracked by radar from deep in
    the positive side; an allegation of fire nobody else saw (a lead)."""
    target = across(-4.0)
    posts = [GEOD.fwd(target[0], target[1], az, d)[:2] for az, d in ((300.0, 6_000.0), (30.0, 7_000.0))]
    alleged = across(3.0, at=(37.9, 48.6))
    return [
        sighting(11, posts[0], target, "US", observed_at=f"{DAY}T04:12:09Z", client_id="b-us"),
        sighting(12, posts[1], target, "TR", observed_at=f"{DAY}T04:12:09Z", client_id="b-tr"),
        radar(1, across(12.0), across(-8.0), 300.0, observed_at=f"{DAY}T06:00:00Z", client_id="r1"),
        make(
            "allegation", 5, lon=alleged[0], lat=alleged[1], observed_at=f"{DAY}T09:30:00Z", client_id="al-1"
        ),
    ]


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'garant.db'}"
    monkeypatch.setenv("GARANT_DATABASE_URL", url)
    db = open_database(url)
    migrate(db)
    load_agreement_file(db, demo_files()[0])
    make_principal(db, "ana", Role.ANALYST)
    assert not ingest_with_retry(db, _observations()).errors
    update_verification(db)
    yield db
    db.dispose()


def _export(tmp: Path, *args: str) -> Path:
    out = tmp / "export"
    r = CliRunner().invoke(app, ["pipeline", "export", "--out", str(out), *args])
    assert r.exit_code == 0, r.output
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_export_is_the_bulletin_a_run_on_files_gives(built: Database, tmp_path: Path) -> None:
    obs = tmp_path / "obs.jsonl"
    obs.write_bytes(b"".join(orjson.dumps(o) + b"\n" for o in _observations()))
    r = CliRunner().invoke(app, ["verify", "--observations", str(obs), "--out", str(tmp_path / "files")])
    assert r.exit_code == 0, r.output
    out = _export(tmp_path, "--user", "ana", "--client-ids")

    files, store = _rows(tmp_path / "files" / "events.csv"), _rows(out / "events.csv")
    assert [list(row) for row in store[:1]] == [list(row) for row in files[:1]]  # the same columns
    compared = ("kind", "time", "placed_at", "provisions", "status", "weapon_class", "agreement")
    assert [{k: e[k] for k in compared} for e in store] == [{k: e[k] for k in compared} for e in files]
    for a, b in zip(store, files, strict=True):
        for col in ("lon", "lat", "p_UA", "p_RU"):
            assert (a[col] == "") == (b[col] == "")
            if a[col]:
                assert float(a[col]) == pytest.approx(float(b[col]), abs=1e-4)
    assert {e["provisions"] for e in store} >= {"P1", ""}  # fire breaches; the lead breaches nothing

    def members(folder: Path, events: list[dict[str, str]]) -> list[set[str]]:
        by_event: dict[str, set[str]] = {}
        for obs_id, ev in read_assignments(folder / "assignments.csv").items():
            by_event.setdefault(ev, set()).add(obs_id)
        return [by_event.get(e["event_id"], set()) for e in events]

    assert members(out, store) == members(tmp_path / "files", files)
    assert {"b-us", "b-tr"} in members(out, store)  # the client ids the senders gave
    table = read_events(out / "events.csv")  # what `garant eval` reads
    assert len(table.ids) == len(store)
    violations = _rows(out / "violations.csv")
    assert sorted((v["provision"], v["party"]) for v in violations) == sorted(
        (v["provision"], v["party"]) for v in _rows(tmp_path / "files" / "violations.csv")
    )


def test_the_export_names_stored_ids_unless_asked_and_keeps_need_to_know(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'garant.db'}"
    monkeypatch.setenv("GARANT_DATABASE_URL", url)
    db = open_database(url)
    migrate(db)
    load_agreement_file(db, demo_files()[0])
    for nation in ("US", "TR"):
        make_principal(db, f"{nation}-liaison", Role.NATIONAL_LIAISON, nation, OrgKind.NATION, nation)
    barrage = _observations()[:2]
    barrage[0] = {**barrage[0], "releasability": "members"}  # the US post's: to every member
    barrage[1] = {**barrage[1], "releasability": "originator"}  # the Turkish post's: Turkey only
    assert not ingest_with_retry(db, barrage).errors
    update_verification(db)

    tr = _export(tmp_path, "--user", "TR-liaison")
    (event,) = _rows(tr / "events.csv")
    named = set(read_assignments(tr / "assignments.csv"))
    assert len(named) == 2 and not named & {"b-us", "b-tr"}  # stored ids, not the senders'
    assert _rows(tr / "violations.csv")[0]["event_id"] == event["event_id"]

    us = _export(tmp_path, "--user", "US-liaison")
    assert _rows(us / "events.csv") == [] and _rows(us / "violations.csv") == []
    assert read_assignments(us / "assignments.csv") == {}
    db.dispose()


def test_an_unknown_user_exports_nothing(built: Database, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["pipeline", "export", "--out", str(tmp_path / "x"), "--user", "nobody"])
    assert r.exit_code == 2
    assert "--user" in r.output
    assert not (tmp_path / "x").exists()
