"""Need-to-know, exhaustively: every API route × every role and kind of organisation × nations ×
every releasability level, on SQLite and PostgreSQL.

The dataset: one observation per originating nation (MECH, US, FR, UA, RU) and releasability
(originator, mechanism, REL TO FR, REL TO UA+US, REL TO a named group, members, public), each
carrying unique markers (id, client id, a note), plus corrections that are narrower than what
they correct. Every route of the OpenAPI document is called by every principal; no response
(body, count, pagination, proof, leaf, error message) may carry a marker of a record not
released to the caller. Routes are taken from the document, so a new endpoint is covered, or
this test fails until it is.
"""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from garant.api.app import create_app
from garant.config import Settings
from garant.domain.access import ANONYMOUS, SYSTEM, OrgKind, Principal, Role, may_see
from garant.services import identity
from garant.services.bulletin import update_acoustic
from garant.services.demo import demo_files
from garant.services.intake import ingest
from garant.services.verification import update_verification
from garant.store import events as ev_store
from garant.store.db import Database

from .factories import blast_detections, make

ORIGINS = ("MECH", "US", "FR", "UA", "RU")
LEVELS: dict[str, tuple[str, list[str]]] = {
    "originator": ("originator", []),
    "mechanism": ("mechanism", []),
    "rel-fr": ("sharing_group", ["FR"]),
    "rel-ua-us": ("sharing_group", ["UA", "US"]),
    "rel-group": ("sharing_group", ["group:eastern"]),
    "members": ("members", []),
    "public": ("public", []),
}
PRINCIPALS: dict[str, tuple[Role, str, OrgKind, str] | None] = {
    "anonymous": None,
    "mech-analyst": (Role.ANALYST, "MECH", OrgKind.MECHANISM, "MECH"),
    "us-liaison": (Role.NATIONAL_LIAISON, "US-MOD", OrgKind.NATION, "US"),
    "fr-monitor": (Role.MONITOR, "FR-MOD", OrgKind.NATION, "FR"),
    "ua-representative": (Role.PARTY_REPRESENTATIVE, "UA-GOV", OrgKind.PARTY, "UA"),
    "ru-representative": (Role.PARTY_REPRESENTATIVE, "RU-GOV", OrgKind.PARTY, "RU"),
    "commissioner": (Role.COMMISSIONER, "COMM", OrgKind.COMMISSION, "COMM"),
    "commission-chair": (Role.COMMISSION_CHAIR, "COMM", OrgKind.COMMISSION, "COMM"),
    "coordinator": (Role.COORDINATOR, "CELL", OrgKind.COORDINATION, "CELL"),
    "administrator": (Role.ADMINISTRATOR, "ADMIN", OrgKind.MECHANISM, "ADM"),
    "us-sensor": (Role.SENSOR, "US-SENSORS", OrgKind.NATION, "US"),
}
GROUP_MEMBERS = {"eastern": ("FR", "UA")}


@dataclass
class Record:
    id: str
    client_id: str
    marker: str
    nation: str
    releasability: str
    rel_to: list[str]
    supersedes: str | None = None
    blast: int | None = None  # a detection: the blast it heard


@dataclass
class World:
    client: TestClient
    db: Database
    records: list[Record]
    principals: dict[str, Principal]
    tokens: dict[str, str]
    events: dict[str, list[Record]]  # bulletin event id -> the records it rests on
    acoustic: frozenset[str] = frozenset()  # which of them are located blasts


def _principal(name: str, spec: tuple[Role, str, OrgKind, str] | None) -> Principal:
    if spec is None:
        return ANONYMOUS
    role, org, kind, nation = spec
    groups = frozenset(f"group:{g}" for g, members in GROUP_MEMBERS.items() if nation in members)
    return Principal("user", name, role, org, kind, nation, groups=groups)


def _ingest_records(db: Database, items: list[dict[str, Any]], records: list[Record]) -> None:
    outcome = ingest(db, items)
    assert outcome.created == len(items), outcome.errors
    for r, result in zip(records, outcome.results, strict=True):
        r.id = result.id


def _dataset(db: Database) -> list[Record]:
    items, records = [], []
    n = 0
    for origin in ORIGINS:
        for label, (level, rel_to) in LEVELS.items():
            n += 1
            marker = f"mkr{n:03d}{uuid.uuid4().hex[:10]}"
            obs = make(
                "osint", n, client_id=f"cid-{marker}", nation=origin, releasability=level, rel_to=rel_to
            )
            obs["note"] = f"note {marker} {origin} {label}"
            items.append(obs)
            records.append(Record("", obs["client_id"], marker, origin, level, rel_to))
    _ingest_records(db, items, records)
    # corrections narrower than what they correct: public -> originator, members -> REL TO FR
    fixes = []
    for target_level, new_level, rel in (("public", "originator", []), ("members", "sharing_group", ["FR"])):
        for origin in ("US", "RU"):
            target = next(r for r in records if r.nation == origin and r.releasability == target_level)
            n += 1
            marker = f"mkr{n:03d}{uuid.uuid4().hex[:10]}"
            obs = make(
                "osint", n, client_id=f"cid-{marker}", nation=origin, releasability=new_level, rel_to=rel
            )
            obs["note"] = f"correction {marker}"
            obs["supersedes"] = target.id
            obs["source_id"] = "op-12"
            fixes.append((obs, Record("", obs["client_id"], marker, origin, new_level, rel, target.id)))
    outcome = ingest(db, [o for o, _ in fixes])
    assert outcome.created == len(fixes), outcome.errors
    for (_, r), result in zip(fixes, outcome.results, strict=True):
        r.id = result.id
        records.append(r)
    return records


def _bulletin(db: Database) -> tuple[list[Record], dict[str, list[Record]]]:
    """One blast heard by six sensors per origin and level, and one heard by three public and
    three originator-only US sensors; the automatic bulletin makes an event of each."""
    blasts: list[list[tuple[str, str, list[str]]]] = [
        [(origin, level, rel_to)] * 6 for origin in ORIGINS for level, rel_to in LEVELS.values()
    ]
    blasts.append([("US", "public", [])] * 3 + [("US", "originator", [])] * 3)
    items, records = [], []
    for b, members in enumerate(blasts):
        when = datetime(2026, 3, 1, 6, tzinfo=UTC).timestamp() + 120 * b
        for k, (obs, (origin, level, rel_to)) in enumerate(
            zip(blast_detections(36.0 + 0.1 * b, 48.3, when, f"mx{b}", n=6), members, strict=True)
        ):
            marker = f"mkb{b:03d}{k}{uuid.uuid4().hex[:10]}"
            obs.update(nation=origin, releasability=level, rel_to=rel_to, note=f"detection {marker}")
            obs["client_id"] = f"cid-{marker}"
            items.append(obs)
            records.append(Record("", obs["client_id"], marker, origin, level, rel_to, blast=b))
    _ingest_records(db, items, records)
    report = update_acoustic(db)
    assert report.events_created == len(blasts), report
    by_id = {r.id: r for r in records}
    events = {
        i: [by_id[o] for o in row["observations"]] for i, row in _created(db, report.created_ids).items()
    }
    assert sorted(len(m) for m in events.values()) == [6] * len(blasts)
    return records, events


def _verified(
    db: Database, records: list[Record], acoustic: dict[str, list[Record]]
) -> dict[str, list[Record]]:
    """The verified bulletin over the matrix's records: each fused event with every record it
    rests on (its reports, and the detections of its blasts)."""
    report = update_verification(db)
    assert report.events_created > 0, report
    by_id = {r.id: r for r in records}
    return {
        i: [by_id[o] for o in row["observations"]] + [r for part in row["parts"] for r in acoustic[part]]
        for i, row in _created(db, report.created_ids).items()
    }


def _created(db: Database, ids: list[str]) -> dict[str, Any]:
    """The stored events a bulletin run reports it created, as the system sees them."""
    out = {}
    with db.read() as conn:
        for event_id in ids:
            row = ev_store.get_event(conn, event_id, SYSTEM)
            assert row is not None
            out[event_id] = row
    return out


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from .conftest import demo_database

    tmp = tmp_path_factory.mktemp("matrix")
    # the agreement only: the matrix's own records cover every origin and level, and its listing
    # routes return every record to every principal (the simulated demo would make that minutes)
    db = demo_database(request, tmp, observations=False)
    url = db.url
    for group, members in GROUP_MEMBERS.items():
        for nation in members:
            identity.set_group_member(db, group, nation, True)
    records = _dataset(db)
    detections, events = _bulletin(db)
    records += detections
    acoustic = frozenset(events)
    events |= _verified(db, records, events)
    principals, tokens = {}, {}
    for name, spec in PRINCIPALS.items():
        principals[name] = _principal(name, spec)
        if spec is not None:
            role, org, kind, nation = spec
            identity.add_user(db, name, role, org, kind, nation, password="correct horse battery")
            tokens[name] = identity.create_token(db, name, None, "matrix")[1]
    # the bulletins were built above; the matrix's own POSTs must not add events to them
    settings = Settings(
        data_dir=tmp,
        database_url=url,
        writes_per_minute=100_000,
        logins_per_minute=100_000,
        auto_bulletin=False,
    )
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as client:
        yield World(client, db, records, principals, tokens, events, acoustic)
    db.dispose()


def _concrete(path: str, **values: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def _one_per_class(records: list[Record]) -> list[Record]:
    """One record per access class: the same blast, origin, releasability and sharing list.

    A blast's six detections of one class answer every by-id route alike (same releasability,
    same nation, same event), so the by-id routes take one of them; the listings still return all.
    This keeps every class of every route x principal and cuts the calls by three fifths."""
    seen: dict[tuple[int | str, str, str, tuple[str, ...]], Record] = {}
    for r in records:
        own = r.blast if r.blast is not None else r.marker
        seen.setdefault((own, r.nation, r.releasability, tuple(r.rel_to)), r)
    return list(seen.values())


def _calls(world: World, who: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, OpenAPI path, request kwargs): every route, with the variants that could leak."""
    agreement_key = "paris-2026-demo@1"
    ids = [r.id for r in _one_per_class(world.records)]
    yield "GET", "/api/v1/health", {}
    for params in (
        {"limit": 10_000},
        {"limit": 10_000, "include_superseded": "true"},
        {"limit": 7},
        *({"limit": 10_000, "nation": o} for o in ORIGINS),
        {"limit": 10_000, "kind": "osint", "bbox": "30,40,45,55"},
    ):
        yield "GET", "/api/v1/observations", {"params": params}
    for obs_id in [*ids, str(uuid.uuid4())]:
        yield "GET", "/api/v1/observations/{observation_id}", {"path": {"observation_id": obs_id}}
    for params in ({"limit": 100_000}, {"limit": 100_000, "include_superseded": "true"}, {"nation": "RU"}):
        yield "GET", "/api/v1/observations.csv", {"params": params}
    mine = [
        r.id for r in world.records if may_see(world.principals[who], r.releasability, r.nation, r.rel_to)
    ]
    for obs_id in [*ids, str(uuid.uuid4())]:
        yield "GET", "/api/v1/log/bundle", {"params": {"id": [obs_id]}}
    if mine:
        yield "GET", "/api/v1/log/bundle", {"params": {"id": mine}}
    for params in ({"limit": 10_000}, {"limit": 3}, {"limit": 10_000, "status": "preliminary"}):
        yield "GET", "/api/v1/events", {"params": params}
    for event_id in [*world.events, str(uuid.uuid4())]:
        yield "GET", "/api/v1/events/{event_id}", {"path": {"event_id": event_id}}
        yield "GET", "/api/v1/events/{event_id}/acts", {"path": {"event_id": event_id}}
    # an act by anyone: refused to all but analysts, and to them on what they may not see
    # (the fused events, which rest on records of every level, and one that does not exist)
    fused = [e for e in world.events if e not in world.acoustic]
    for event_id in [*fused, str(uuid.uuid4())]:
        act = {"act": "annotate", "reason": f"matrix {who}"}
        yield "POST", "/api/v1/events/{event_id}/acts", {"path": {"event_id": event_id}, "json": act}
    yield "GET", "/api/v1/review-queue", {"params": {"limit": 1000}}
    for params in ({"limit": 10_000}, {"limit": 10_000, "withdrawn": "true"}, {"provision": "P1"}):
        yield "GET", "/api/v1/violations", {"params": params}
    yield "GET", "/api/v1/stats", {"params": {"start": "2026-02-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"}}
    yield "GET", "/api/v1/agreements", {}
    yield "GET", "/api/v1/agreements/current", {}
    yield "GET", "/api/v1/agreements/{key}", {"path": {"key": agreement_key}}
    yield "GET", "/api/v1/agreement/geojson", {}
    yield "GET", "/api/v1/geo/locate", {"params": {"lon": 37.8, "lat": 48.6}}
    yield "GET", "/api/v1/log/checkpoint", {}
    yield "GET", "/api/v1/log/keys", {}
    yield "GET", "/api/v1/log/leaves", {"params": {"start": 0, "end": 1000}}
    for obs_id in [*ids, str(uuid.uuid4())]:
        yield "GET", "/api/v1/log/proof/inclusion", {"params": {"record_id": obs_id}}
    for index in range(0, 90, 7):
        yield "GET", "/api/v1/log/proof/inclusion", {"params": {"leaf_index": index}}
    yield "GET", "/api/v1/log/proof/consistency", {"params": {"first": 3}}
    yield "GET", "/api/v1/auth/me", {}
    yield "GET", "/api/v1/auth/audit", {"params": {"limit": 10_000}}
    spec = PRINCIPALS[who]
    nation = spec[3] if spec else "US"
    own = make("osint", 9000, client_id=f"matrix-post-{who}", nation=nation, releasability="originator")
    yield "POST", "/api/v1/observations", {"json": [own]}
    foreign = make("osint", 9001, client_id=f"matrix-foreign-{who}", nation="RU" if nation != "RU" else "UA")
    yield "POST", "/api/v1/observations", {"json": foreign}
    yield (
        "POST",
        "/api/v1/agreements",
        {"content": demo_files()[0].read_bytes(), "headers": {"content-type": "application/yaml"}},
    )
    yield "POST", "/api/v1/auth/session", {"json": {"username": who, "password": "wrong password, surely"}}
    yield "DELETE", "/api/v1/auth/session", {}


def _send(world: World, who: str, method: str, path: str, kw: dict[str, Any]) -> list[Any]:
    headers = dict(kw.get("headers", {}))
    if who in world.tokens:
        headers["Authorization"] = f"Bearer {world.tokens[who]}"
    url = _concrete(path, **kw.get("path", {}))
    args = {k: v for k, v in kw.items() if k in ("params", "json", "content")}
    responses = [world.client.request(method, url, headers=headers, **args)]
    # follow pagination to the end: every page is a response that could leak
    while responses[-1].status_code == 200 and path in ("/api/v1/observations", "/api/v1/events"):
        nxt = responses[-1].json()["links"]["next"]
        if not nxt:
            break
        responses.append(world.client.get(nxt, headers=headers))
    return responses


def _readable(r: Any) -> str:
    """The response as text; an evidence bundle (a zip) is read member by member."""
    if r.headers.get("content-type", "").startswith("application/zip"):
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            return "\n".join(z.read(n).decode(errors="replace") for n in z.namelist())
    return str(r.text)


def test_no_route_leaks_a_record_to_anyone_it_is_not_released_to(world: World, record_property: Any) -> None:
    operations = {
        (method.upper(), path)
        for path, ops in world.client.app.openapi()["paths"].items()  # type: ignore[attr-defined]
        if path.startswith("/api/")
        for method in ops
    }
    leaks: list[str] = []
    covered: set[tuple[str, str]] = set()
    calls = 0
    for who, principal in world.principals.items():
        hidden = [r for r in world.records if not may_see(principal, r.releasability, r.nation, r.rel_to)]
        visible = [r for r in world.records if r not in hidden]
        secrets = {s: r for r in hidden for s in (r.id, r.client_id, r.marker)}
        # an event is secret from whoever may not see one of its detections
        hidden_ids = {r.id for r in hidden}
        for event_id, members in world.events.items():
            blocked = [r for r in members if r.id in hidden_ids]
            if blocked:
                secrets[event_id] = blocked[0]
        pattern = re.compile("|".join(re.escape(s) for s in secrets)) if secrets else None
        for method, path, kw in _calls(world, who):
            covered.add((method, path))
            for r in _send(world, who, method, path, kw):
                calls += 1
                assert r.status_code < 500, (who, method, path, r.text[:300])
                # an id the caller sent may be echoed back ("no observation with id X"): not a leak
                asked = str(r.request.url) + r.request.content.decode(errors="replace")
                body = _readable(r)
                found = (
                    next((m for m in pattern.finditer(body) if m.group(0) not in asked), None)
                    if pattern
                    else None
                )
                if found:
                    leaks.append(
                        f"{who} {method} {r.request.url}: {secrets[found.group(0)].releasability} "
                        f"record of {secrets[found.group(0)].nation}"
                    )
        # counts: the full listing returns exactly the visible records (no more, no fewer)
        listing = _send(
            world,
            who,
            "GET",
            "/api/v1/observations",
            {"params": {"limit": 10_000, "include_superseded": "true"}},
        )
        if listing[0].status_code == 200:
            got = {f["properties"]["client_id"] for f in listing[0].json()["features"]}
            mine = {r.client_id for r in world.records}
            assert got & mine == {r.client_id for r in visible}, who
        else:
            assert not visible, (who, listing[0].status_code)
        # and the bulletin exactly the events all of whose detections are visible
        shown = _send(world, who, "GET", "/api/v1/events", {"params": {"limit": 10_000}})
        expected = {e for e, members in world.events.items() if all(r.id not in hidden_ids for r in members)}
        if shown[0].status_code == 200:
            assert {f["id"] for f in shown[0].json()["features"]} == expected, who
        else:
            assert not expected, (who, shown[0].status_code)
    missing = operations - covered
    record_property("endpoints_covered", f"{len(operations - missing)}/{len(operations)}")
    record_property("leaks", len(leaks))
    print(
        f"\naccess matrix: {len(world.principals)} principals, {len(world.records)} records, "
        f"{calls} responses, "
        f"endpoints covered {len(operations - missing)}/{len(operations)}, leaks {len(leaks)}"
    )
    assert not missing, f"routes the matrix does not call: {sorted(missing)}"
    assert not leaks, leaks[:20]


def test_the_rule_itself_on_the_cases_that_matter(world: World) -> None:
    """The oracle above, checked against plain statements of the policy."""
    p, recs = world.principals, world.records

    def seen(who: str) -> set[tuple[str, str]]:
        return {
            (r.nation, r.releasability) for r in recs if may_see(p[who], r.releasability, r.nation, r.rel_to)
        }

    assert {lvl for _, lvl in seen("anonymous")} == {"public"}
    assert not seen("us-sensor")
    ua = seen("ua-representative")
    assert all(nation == "UA" or level == "public" or level == "sharing_group" for nation, level in ua)
    assert ("RU", "originator") not in ua and ("RU", "mechanism") not in ua and ("RU", "members") not in ua
    assert ("RU", "members") in seen("commissioner") and ("RU", "mechanism") not in seen("commissioner")
    assert ("RU", "mechanism") in seen("mech-analyst") and ("RU", "originator") not in seen("mech-analyst")


def _get_by_id(world: World, template: str, param: str | None, obs_id: str, headers: dict[str, str]) -> Any:
    if param:
        return world.client.get(template, params={param: obs_id}, headers=headers)
    return world.client.get(template.format(obs_id), headers=headers)


def _get_by_id(world: World, template: str, param: str | None, obs_id: str, headers: dict[str, str]) -> Any:
    if param:
        return world.client.get(template, params={param: obs_id}, headers=headers)
    return world.client.get(template.format(obs_id), headers=headers)


@pytest.mark.parametrize("who", [w for w in PRINCIPALS if w not in ("anonymous", "us-sensor")])
def test_an_unreleased_record_answers_exactly_as_an_absent_one(world: World, who: str) -> None:
    principal = world.principals[who]
    hidden = [r for r in world.records if not may_see(principal, r.releasability, r.nation, r.rel_to)]
    assert hidden, who
    absent = str(uuid.uuid4())
    headers = {"Authorization": f"Bearer {world.tokens[who]}"}
    for template, param in (
        ("/api/v1/observations/{}", None),
        ("/api/v1/log/proof/inclusion", "record_id"),
        ("/api/v1/log/bundle", "id"),
    ):
        a = _get_by_id(world, template, param, absent, headers)
        for r in hidden:
            b = _get_by_id(world, template, param, r.id, headers)
            assert (b.status_code, b.text.replace(r.id, "X")) == (
                a.status_code,
                a.text.replace(absent, "X"),
            ), who


def test_a_derived_record_is_never_released_wider_than_its_narrowest_input(world: World) -> None:
    from garant.domain.access import Release, may_see_derived

    public = Release("public", "US")
    fr_only = Release("sharing_group", "UA", ("FR",))
    mechanism = Release("mechanism", "RU")
    # who sees an event fused from these inputs, stated plainly for each combination
    expected = {
        (public,): {w for w in PRINCIPALS if w != "us-sensor"},
        (public, fr_only): {"fr-monitor", "ua-representative"},  # REL TO FR, and UA its originator
        (public, mechanism): {"mech-analyst", "administrator", "ru-representative"},
        (fr_only, mechanism): set(),  # no one is both FR (or UA) and the mechanism (or RU)
    }
    for inputs, allowed in expected.items():
        seen = {w for w, p in world.principals.items() if may_see_derived(p, inputs)}
        assert seen == allowed, (inputs, seen)
    assert may_see_derived(world.principals["anonymous"], [public])
    assert not may_see_derived(world.principals["anonymous"], [public, mechanism])
    assert not may_see_derived(world.principals["mech-analyst"], [fr_only, mechanism])
    assert not may_see_derived(world.principals["fr-monitor"], [])
