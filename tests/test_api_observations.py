"""Observation intake and listing through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from garant.services.intake import ingest

from .factories import KINDS, make

PROBLEM = "application/problem+json"


def _post(client: TestClient, body: Any) -> Any:
    return client.post("/api/v1/observations", json=body)


def _count(client: TestClient, **params: Any) -> int:
    total, url = 0, "/api/v1/observations"
    query: dict[str, Any] = {"limit": 10_000, **params}
    while url:
        r = client.get(url, params=query) if query else client.get(url)
        assert r.status_code == 200, r.text
        body = r.json()
        total += body["numberReturned"]
        url, query = body["links"]["next"], {}
    return total


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_round_trips(client: TestClient, kind: str) -> None:
    obs = make(kind, client_id=f"rt-{kind}")
    r = _post(client, obs)
    assert r.status_code == 201, r.text
    feature = r.json()
    assert feature["geometry"]["coordinates"] == [obs["lon"], obs["lat"]]
    got = client.get(f"/api/v1/observations/{feature['id']}").json()
    assert got == feature
    assert got["properties"]["kind"] == kind
    assert got["properties"]["client_id"] == obs["client_id"]


def test_same_client_id_same_content_is_idempotent(client: TestClient) -> None:
    obs = make("crater", client_id="idem-1")
    first = _post(client, obs)
    again = _post(client, obs)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    # equal content written differently (offset spelled +00:00, fields reordered) is the same content
    respelled = dict(reversed(list({**obs, "observed_at": "2026-03-01T04:12:09.250+00:00"}.items())))
    assert _post(client, respelled).json()["id"] == first.json()["id"]


def test_same_client_id_other_content_is_409(client: TestClient) -> None:
    obs = make("crater", client_id="idem-2")
    assert _post(client, obs).status_code == 201
    r = _post(client, {**obs, "lat": obs["lat"] + 0.01})
    assert r.status_code == 409
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == 409 and body["errors"][0]["field"] == "client_id"
    stored = client.get("/api/v1/observations", params={"kind": "crater"}).json()["features"]
    assert [f["geometry"]["coordinates"][1] for f in stored if f["properties"]["client_id"] == "idem-2"] == [
        obs["lat"]
    ]


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"lat": 91.0}, "lat", "less than or equal to 90"),
        ({"lon": -181}, "lon", "greater than or equal to -180"),
        ({"observed_at": "2026-03-01T04:12:09"}, "observed_at", "timezone info"),
        ({"bearing_deg": 361}, "bearing_deg", "less than or equal to 360"),
        ({"reliability": "G"}, "reliability", "'A'"),
        ({"credibility": 7}, "credibility", "less than or equal to 6"),
        ({"weapon_class": "death_ray"}, "weapon_class", "unknown weapon class"),
        ({"count": "many"}, "count", "valid integer"),
        ({"kind": "rumour"}, "kind", "unknown kind 'rumour'; expected one of acoustic_detection,"),
        ({"unexpected": 1}, "unexpected", "Extra inputs are not permitted"),
    ],
)
def test_bad_field_is_named(client: TestClient, change: dict[str, Any], field: str, fragment: str) -> None:
    r = _post(client, {**make("sighting", client_id="bad-1"), **change})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    fields = {e["field"]: e["reason"] for e in body["errors"]}
    assert field in fields, fields
    assert fragment in fields[field]
    assert _count(client, source_id="op-12") == 0


def test_missing_field_is_named(client: TestClient) -> None:
    obs = make("sighting")
    del obs["observed_at"]
    body = _post(client, obs).json()
    assert body["status"] == 422
    assert body["errors"] == [{"pointer": "/observed_at", "field": "observed_at", "reason": "Field required"}]


def test_malformed_json_is_400_problem(client: TestClient) -> None:
    r = client.post(
        "/api/v1/observations", content=b'{"kind": "sighting",', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.headers["content-type"] == PROBLEM
    assert "malformed JSON" in r.json()["detail"]


def test_wrong_media_type_is_415(client: TestClient) -> None:
    r = client.post("/api/v1/observations", content=b"kind=sighting", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and r.headers["content-type"] == PROBLEM


def test_batch_of_10000_with_3_bad_keeps_9997(client: TestClient) -> None:
    items = [make("acoustic_detection", i, client_id=f"b-{i}") for i in range(10_000)]
    items[17]["lat"] = 123.0
    items[5000]["observed_at"] = "yesterday"
    del items[9999]["sensor_id"]
    r = _post(client, {"observations": items})
    assert r.status_code == 207, r.text[:500]
    body = r.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (9997, 0, 3)
    assert [e["index"] for e in body["errors"]] == [17, 5000, 9999]
    assert body["errors"][0]["errors"][0]["pointer"] == "/observations/17/lat"
    assert body["errors"][2]["errors"][0]["field"] == "sensor_id"
    assert len(body["results"]) == 9997
    assert _count(client, kind="acoustic_detection", source_id="op-12") == 9997
    # the same batch again: all duplicates, the same ids, nothing new
    again = _post(client, {"observations": items}).json()
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 9997, 3)
    assert [r["id"] for r in again["results"]] == [r["id"] for r in body["results"]]
    assert _count(client, kind="acoustic_detection", source_id="op-12") == 9997


def test_batch_over_the_limit_is_413(client: TestClient) -> None:
    items = [make("osint", i, client_id=f"big-{i}") for i in range(10_001)]
    r = _post(client, items)
    assert r.status_code == 413 and r.headers["content-type"] == PROBLEM
    assert _count(client, kind="osint", source_id="op-12") == 0


def test_batch_all_bad_is_422_and_stores_nothing(client: TestClient) -> None:
    items = [make("sighting", i, client_id=f"ab-{i}", lat=100) for i in range(3)]
    r = _post(client, items)
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert [e["index"] for e in r.json()["errors"]] == [0, 1, 2]
    assert r.json()["errors"][1]["pointer"] == "/1/lat" and r.json()["errors"][1]["field"] == "lat"


def test_conflict_inside_one_batch(client: TestClient) -> None:
    a = make("crater", client_id="twin")
    b = {**a, "calibre_mm": 152}
    body = _post(client, [a, a, b]).json()
    statuses = [(r["index"], r["status"]) for r in body["results"]]
    assert statuses == [(0, "created"), (1, "duplicate")]
    assert body["errors"][0]["index"] == 2 and body["errors"][0]["status"] == 409


def test_correction_supersedes_and_original_stays(client: TestClient) -> None:
    original = _post(client, make("crater", client_id="c-1")).json()
    fix = _post(client, make("crater", client_id="c-2", calibre_mm=152, supersedes=original["id"])).json()
    assert fix["properties"]["supersedes"] == original["id"]
    old = client.get(f"/api/v1/observations/{original['id']}").json()
    assert old["properties"]["superseded_by"] == fix["id"]
    assert old["properties"]["calibre_mm"] == 122  # unchanged
    listed = {
        f["id"] for f in client.get("/api/v1/observations", params={"kind": "crater"}).json()["features"]
    }
    assert fix["id"] in listed and original["id"] not in listed
    everything = client.get(
        "/api/v1/observations", params={"kind": "crater", "include_superseded": True}
    ).json()
    assert original["id"] in {f["id"] for f in everything["features"]}


def test_only_the_source_may_correct(client: TestClient) -> None:
    original = _post(client, make("crater", client_id="s-1")).json()
    r = _post(client, make("crater", client_id="s-2", source_id="someone-else", supersedes=original["id"]))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "supersedes"
    r = _post(client, make("crater", client_id="s-3", supersedes="0190a0a0-0000-7000-8000-000000000000"))
    assert r.status_code == 422 and "no observation" in r.json()["errors"][0]["reason"]


def test_filters_and_pagination(client: TestClient) -> None:
    items = []
    for i in range(250):
        items.append(
            make(
                "sighting",
                i,
                client_id=f"f-{i}",
                nation="FR" if i % 2 else "GB",
                source_id=f"post-{i % 5}",
                observed_at=f"2026-04-01T{i // 60:02d}:{i % 60:02d}:00Z",
                lon=36.0 + (i % 50) * 0.02,
                lat=47.0 + (i // 50) * 0.02,
            )
        )
    # French and British posts: stored by the operator (a US monitor may submit only US observations)
    assert ingest(client.app.state.garant.db, items).created == 250  # type: ignore[attr-defined]
    assert _count(client, source_id="post-0,post-1,post-2,post-3,post-4") == 250
    assert _count(client, nation="FR", source_id="post-1") == 25  # i = 1 (mod 10)
    assert _count(client, start="2026-04-01T01:00:00Z", end="2026-04-01T02:00:00Z", source_id="post-3") == 12
    # bbox: columns 0..9 (lon 36.00..36.18), rows 0..1 (lat 47.00..47.02) -> 20 points
    assert _count(client, bbox="35.999,46.999,36.181,47.021") == 20
    # pagination walks every row exactly once, in time order
    seen: list[str] = []
    url, params = "/api/v1/observations", {"limit": 37, "nation": "GB", "source_id": "post-0,post-2,post-4"}
    while url:
        page = (client.get(url, params=params) if params else client.get(url)).json()
        seen += [f["properties"]["observed_at"] for f in page["features"]]
        url, params = page["links"]["next"], {}
    expected = sum(1 for i in range(250) if i % 2 == 0 and i % 5 in (0, 2, 4))
    assert len(seen) == expected == 75 and seen == sorted(seen)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "10,50,5,40"}, "bbox"),
        ({"start": "2026-04-01T00:00:00"}, "start"),
        ({"start": "not-a-time"}, "start"),
        ({"limit": 0}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
def test_bad_query_is_named(client: TestClient, params: dict[str, Any], field: str) -> None:
    r = client.get("/api/v1/observations", params=params)
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert field in [e["field"] for e in r.json()["errors"]]


def test_unknown_id_is_404_problem(client: TestClient) -> None:
    r = client.get("/api/v1/observations/does-not-exist")
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
    r = client.get("/api/v1/nowhere")
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM


def test_csv_export_has_the_listing_rows_and_defuses_formulas(client: TestClient) -> None:
    import csv
    import io

    risky = make("osint", 77, client_id="=A1+A2", source_id="op-12")
    assert _post(client, [risky]).status_code == 201
    listing = client.get("/api/v1/observations", params={"limit": 10_000}).json()
    r = client.get("/api/v1/observations.csv", params={"limit": 100_000})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["id"] for row in rows] == [f["id"] for f in listing["features"]]
    mine = next(row for row in rows if "A1+A2" in row["client_id"])
    assert mine["client_id"].startswith("'=")  # a spreadsheet shows it, does not run it
    assert float(mine["lon"]) == risky["lon"] and mine["kind"] == "osint"
    nation = client.get("/api/v1/observations.csv", params={"nation": "FR"}).text
    assert all(row["nation"] == "FR" for row in csv.DictReader(io.StringIO(nation)))
