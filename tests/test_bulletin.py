"""The automatic bulletin in the server: acoustic detections taken in through intake become
located events in the store, as good as the standalone engine's; late detections update the
events they belong to, which keep their ids; an event is shown only to those who may see all
of its observations; the API lists and reads events, and a POST of detections brings the
bulletin up to date by itself."""

from __future__ import annotations

import csv
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from sqlalchemy import select, update

from garant.api.state import AppState
from garant.config import Settings
from garant.domain.access import ANONYMOUS, SYSTEM
from garant.evaluation.score import EvalOptions, evaluate
from garant.evaluation.tables import parse_time
from garant.services.agreements import load_agreement_file
from garant.services.bulletin import RunReport, _one_batch, _separable, _stations, update_acoustic
from garant.services.demo import demo_files
from garant.services.intake import ingest_with_retry
from garant.sim.run import run_scenario
from garant.sim.scenario import load_scenario
from garant.store import events as ev_store
from garant.store.db import Database
from garant.store.events import Detection
from garant.store.schema import event_observations, events, log_leaves, observations
from garant.verify.acoustic import AssociationParams, Network, associate

from .factories import blast_detections

GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few minutes of the armed-attack day along the whole line (about 1,500 detections)."""
    out = tmp_path_factory.mktemp("bulletin-sim")
    sc, path = load_scenario("armed-attack-day", 1)
    run_scenario(sc.model_copy(update={"hours": 0.05}), out, scenario_file=path)
    return out


def _params(root: Path) -> AssociationParams:
    meta = orjson.loads((root / "truth" / "meta.json").read_bytes())["scenario"]
    speed = 331.3 * math.sqrt(1 + meta["atmosphere"]["temperature_c"] / 273.15)
    return AssociationParams(speed_ms=speed, timing_sigma_s=math.hypot(0.02, 0.01))


def _acoustic(root: Path) -> list[dict[str, Any]]:
    with (root / "observations.jsonl").open("rb") as fh:
        items = [orjson.loads(line) for line in fh]
    return [o for o in items if o["kind"] == "acoustic_detection"]


def _ingest(db: Database, items: list[dict[str, Any]]) -> None:
    outcome = ingest_with_retry(db, items)
    assert not outcome.errors, outcome.errors[:3]


def _write_events(rows: list[dict[str, Any]], path: Path) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["event_id", "time", "lon", "lat", "semi_major_m", "semi_minor_m", "azimuth_deg"])
        for r in rows:
            w.writerow(
                [r["id"], r["time"].isoformat(), r["lon"], r["lat"], r["semi_major_m"], r["semi_minor_m"],
                 r["azimuth_deg"]]
            )  # fmt: skip
    return path


def _stored(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        return ev_store.list_events(conn, ev_store.EventFilter(viewer=SYSTEM, limit=1_000_000))


def _standalone_f1(root: Path, items: list[dict[str, Any]], tmp: Path) -> float:
    keys = sorted({o["sensor_id"] for o in items})
    where = {o["sensor_id"]: (o["lon"], o["lat"]) for o in items}
    index = {k: i for i, k in enumerate(keys)}
    net = Network.from_lonlat([where[k][0] for k in keys], [where[k][1] for k in keys])
    t = [parse_time(o["observed_at"]) for o in items]
    found = associate(net, [index[o["sensor_id"]] for o in items], t, None, _params(root))
    rows = [
        {"id": f"e{i}", "time": _dt(found.time[i]), "lon": found.lon[i], "lat": found.lat[i],
         "semi_major_m": found.semi_major_m[i], "semi_minor_m": found.semi_minor_m[i],
         "azimuth_deg": found.azimuth_deg[i]}
        for i in range(len(found))
    ]  # fmt: skip
    return float(
        evaluate(root, _write_events(rows, tmp / "standalone.csv"), None, EvalOptions("blast"))["f1"]
    )


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _score(db: Database, root: Path, tmp: Path) -> dict[str, Any]:
    return evaluate(root, _write_events(_stored(db), tmp / "bulletin.csv"), None, EvalOptions("blast"))


def test_detections_taken_in_become_the_engines_events(db: Database, sim_run: Path, tmp_path: Path) -> None:
    load_agreement_file(db, demo_files()[0])
    items = _acoustic(sim_run)
    _ingest(db, items)
    report = update_acoustic(db, _params(sim_run))
    assert report.detections == len(items)
    stored = _stored(db)
    assert len(stored) == report.events_created > 50
    with db.read() as conn:
        links = conn.execute(select(event_observations.c.event_id)).scalars().all()
    counts: dict[str, int] = {}
    for e in links:
        counts[e] = counts.get(e, 0) + 1
    assert {r["id"]: r["n_observations"] for r in stored} == counts  # each count is its links
    quality = _score(db, sim_run, tmp_path)
    assert quality["f1"] >= 0.78
    assert quality["f1"] >= _standalone_f1(sim_run, items, tmp_path) - 0.03
    again = update_acoustic(db, _params(sim_run))  # nothing new: nothing changes
    assert (again.detections, again.events_created, again.events_updated) == (0, 0, 0)
    assert _stored(db) == stored


def test_a_late_backlog_updates_events_that_keep_their_ids(
    sqlite_db: Database, sim_run: Path, tmp_path: Path
) -> None:
    load_agreement_file(sqlite_db, demo_files()[0])
    items = _acoustic(sim_run)
    sensors = sorted({o["sensor_id"] for o in items})
    late = set(sensors[::8])  # one sensor in eight uploads its backlog afterwards
    _ingest(sqlite_db, [o for o in items if o["sensor_id"] not in late])
    update_acoustic(sqlite_db, _params(sim_run))
    before = {r["id"]: r for r in _stored(sqlite_db)}
    _ingest(sqlite_db, [o for o in items if o["sensor_id"] in late])
    report = update_acoustic(sqlite_db, _params(sim_run))
    after = {r["id"]: r for r in _stored(sqlite_db)}
    assert set(before) <= set(after)  # no event lost, every id kept
    grown = [i for i in before if after[i]["n_observations"] > before[i]["n_observations"]]
    assert len(grown) == report.events_updated > 10
    assert all(after[i]["revision"] == before[i]["revision"] + 1 for i in grown)
    assert all(after[i]["n_observations"] >= before[i]["n_observations"] for i in before)
    assert _score(sqlite_db, sim_run, tmp_path)["f1"] >= 0.78


def test_an_event_is_shown_only_to_who_may_see_all_its_observations(
    sqlite_db: Database, sim_run: Path
) -> None:
    load_agreement_file(sqlite_db, demo_files()[0])
    items = _acoustic(sim_run)
    west = float(np.median([o["lon"] for o in items]))
    for o in items:  # the western half of the network is public: events there are, not across
        if o["lon"] < west:
            o["releasability"] = "public"
    _ingest(sqlite_db, items)
    update_acoustic(sqlite_db, _params(sim_run))
    with sqlite_db.read() as conn:
        rows = conn.execute(
            select(event_observations.c.event_id, observations.c.releasability).join(
                observations, observations.c.id == event_observations.c.observation_id
            )
        ).all()
        shown = ev_store.list_events(conn, ev_store.EventFilter(viewer=ANONYMOUS, limit=100_000))
        everything = conn.execute(select(events.c.id)).scalars().all()
    all_public: dict[str, bool] = {}
    for event_id, rel in rows:
        all_public[event_id] = all_public.get(event_id, True) and rel == "public"
    expected = {e for e, ok in all_public.items() if ok}
    assert 0 < len(expected) < len(everything)  # both cases occur
    assert {r["id"] for r in shown} == expected
    hidden = next(e for e, ok in all_public.items() if not ok)
    with sqlite_db.read() as conn:
        assert ev_store.get_event(conn, hidden, ANONYMOUS) is None
        assert ev_store.get_event(conn, hidden, SYSTEM) is not None


def test_api_lists_reads_and_updates_the_bulletin_after_a_post(client: TestClient) -> None:
    state: AppState = client.app.state.garant  # type: ignore[attr-defined]
    when = parse_time("2026-03-10T12:00:00Z")
    r = client.post("/api/v1/observations", json=blast_detections(37.8, 48.1, when, "api"))
    assert r.status_code == 201, r.text
    assert state.bulletin_idle(60)
    page = client.get(
        "/api/v1/events", params={"start": "2026-03-10T11:59:00Z", "end": "2026-03-10T12:01:00Z"}
    )
    assert page.status_code == 200 and page.headers["content-type"].startswith("application/geo+json")
    feats = page.json()["features"]
    assert len(feats) == 1
    ev = feats[0]
    _, _, miss = GEOD.inv(37.8, 48.1, *ev["geometry"]["coordinates"])
    assert miss < 5.0
    assert ev["properties"]["n_observations"] == 7 and ev["properties"]["evaluation_mode"] == "automatic"
    one = client.get(f"/api/v1/events/{ev['id']}").json()
    assert len(one["properties"]["observations"]) == 7
    assert client.get(f"/api/v1/observations/{one['properties']['observations'][0]}").status_code == 200
    # the same sensors' arrivals of a second blast, late: a new event; the first keeps its id
    r = client.post("/api/v1/observations", json=blast_detections(37.8, 48.1, when + 30, "api"))
    assert r.status_code == 201 and state.bulletin_idle(60)
    ids = [
        f["id"]
        for f in client.get("/api/v1/events", params={"start": "2026-03-10T11:59:00Z"}).json()["features"]
    ]
    assert ids[0] == ev["id"] and len(ids) == 2
    paged = client.get("/api/v1/events", params={"start": "2026-03-10T11:59:00Z", "limit": 1}).json()
    assert paged["numberReturned"] == 1 and paged["links"]["next"]
    nxt = client.get(paged["links"]["next"]).json()
    assert [f["id"] for f in nxt["features"]] == ids[1:]
    missing = client.get("/api/v1/events/no-such-event")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    bad = client.get("/api/v1/events", params={"cursor": "nonsense"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


def test_demo_load_builds_the_bulletin(loaded_db: Database) -> None:
    stored = _stored(loaded_db)
    assert len(stored) > 5
    assert all(np.isfinite(r["semi_major_m"]) and r["semi_major_m"] >= r["semi_minor_m"] > 0 for r in stored)


def test_a_sensor_is_one_station_until_it_is_moved() -> None:
    when = datetime(2026, 3, 2, tzinfo=UTC)
    at = [(37.8, 48.1), (37.80004, 48.10003), (37.8, 48.1), (37.81, 48.1)]  # ~4 m jitter, then 740 m
    dets = [Detection(f"d{i}", when, ("US", "ac-1", x, y), None) for i, (x, y) in enumerate(at)]
    dets.append(Detection("d9", when, ("FR", "ac-1", 37.8, 48.1), None))  # another nation's ac-1
    station, lon, lat = _stations(dets)
    assert station == [0, 0, 0, 1, 2]
    assert (lon, lat) == ([37.8, 37.81, 37.8], [48.1, 48.1, 48.1])


def test_arrivals_a_sensor_cannot_separate_are_not_associated() -> None:
    station = np.array([0, 0, 0, 1, 0])
    times = np.array([10.0, 10.01, 10.2, 10.0, 10.03])
    assert _separable(station, times, 0).tolist() == [True, False, True, True, False]
    # rows of stored events (the first `kept`) stay whatever their neighbours
    assert _separable(station, times, 2).tolist() == [True, True, True, True, False]


def test_a_rerun_never_moves_an_analysts_event(sqlite_db: Database, sim_run: Path) -> None:
    load_agreement_file(sqlite_db, demo_files()[0])
    items = _acoustic(sim_run)
    late = set(sorted({o["sensor_id"] for o in items})[::8])
    _ingest(sqlite_db, [o for o in items if o["sensor_id"] not in late])
    update_acoustic(sqlite_db, _params(sim_run))
    with sqlite_db.write() as conn:  # every event reviewed by an analyst
        conn.execute(update(events).values(evaluation_mode="manual"))
    before = _stored(sqlite_db)
    _ingest(sqlite_db, [o for o in items if o["sensor_id"] in late])
    report = update_acoustic(sqlite_db, _params(sim_run))
    assert report.detections > 0 and report.events_updated == 0
    after = {r["id"]: r for r in _stored(sqlite_db)}
    assert all(after[r["id"]] == r for r in before)


def test_batches_never_take_in_a_later_batchs_detections_early(sqlite_db: Database) -> None:
    """Everything ingested first, then taken in by small batches: a batch links only detections
    it has taken in (never one a later batch will bring: it would be linked twice), and the
    batches together find what one run finds."""
    when = parse_time("2026-03-10T12:00:00Z")
    items = [d for k in range(3) for d in blast_detections(37.8, 48.1, when + 5.0 * k, f"b{k}")]
    items.sort(key=lambda d: d["observed_at"])  # interleaved blasts: each batch splits some
    _ingest(sqlite_db, items)
    first = RunReport()
    assert _one_batch(sqlite_db, AssociationParams(), 8, first) == 8
    with sqlite_db.read() as conn:
        linked = {o for (o,) in conn.execute(select(event_observations.c.observation_id))}
        order = [
            r.record_id
            for r in conn.execute(
                select(log_leaves.c.record_id)
                .where(log_leaves.c.record_type == "observation")
                .order_by(log_leaves.c.idx)
            )
        ]
    first_eight = set(order[:8])
    assert linked and linked <= first_eight
    report = update_acoustic(sqlite_db, batch=8)
    assert report.detections == 13
    stored = [r for r in _stored(sqlite_db) if r["kind"] == "acoustic"]
    assert sorted(r["n_observations"] for r in stored) == [7, 7, 7]


def test_the_server_takes_the_speed_of_sound_hour_by_hour(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A blast at 12:00 heard at 343 m/s: located where it was with the right speed for that
    hour (whatever the others), not with a wrong one."""
    hourly = ",".join("343" if h == 12 else "300" for h in range(24))
    monkeypatch.setenv("GARANT_ACOUSTIC_SPEED_BY_HOUR", hourly)
    settings = Settings.from_env()
    assert settings.acoustic_params().speeds()[12] == 343.0
    when = parse_time("2026-03-10T12:00:00Z")
    _ingest(sqlite_db, blast_detections(37.8, 48.1, when, "hourly"))
    update_acoustic(sqlite_db, settings.acoustic_params())
    (ev,) = [r for r in _stored(sqlite_db) if r["kind"] == "acoustic"]
    _, _, miss = GEOD.inv(37.8, 48.1, ev["lon"], ev["lat"])
    assert miss < 5.0
    monkeypatch.setenv("GARANT_ACOUSTIC_SPEED_BY_HOUR", "343," * 23)
    with pytest.raises(ValueError, match="GARANT_ACOUSTIC_SPEED_BY_HOUR"):
        Settings.from_env()


def test_a_wrong_hourly_speed_misplaces_the_blast(sqlite_db: Database) -> None:
    when = parse_time("2026-03-10T12:00:00Z")
    _ingest(sqlite_db, blast_detections(37.8, 48.1, when, "hourly"))
    wrong = Settings(acoustic_speed_by_hour=tuple(343.0 if h != 12 else 300.0 for h in range(24)))
    update_acoustic(sqlite_db, wrong.acoustic_params())
    located = [r for r in _stored(sqlite_db) if r["kind"] == "acoustic"]
    misses = [GEOD.inv(37.8, 48.1, r["lon"], r["lat"])[2] for r in located]
    assert not located or min(misses) > 50.0
