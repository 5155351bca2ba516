"""The verified bulletin in the server: built from the store incrementally, reviewed by analysts
with acts that are records (logged, keeping ids), never overridden by a re-run; the queue, the
violations and the figures through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from garant.api.app import create_app
from garant.config import Settings
from garant.domain.access import SYSTEM, OrgKind, Role
from garant.services.agreements import load_agreement_file
from garant.services.audit import audit
from garant.services.demo import demo_files
from garant.services.identity import principal_of
from garant.services.intake import ingest_with_retry
from garant.services.review import ReviewAct, ReviewError, apply
from garant.services.verification import update_verification
from garant.store import verified as vstore
from garant.store.db import Database
from garant.store.events import get_event
from garant.store.schema import events, observations, review_acts, violations

from .conftest import make_principal
from .factories import make
from .verify_factories import GEOD, across, radar, sighting, terms


def _analyst(db: Database, name: str = "ana") -> Any:
    make_principal(db, name, Role.ANALYST)
    return principal_of(db, name)


@pytest.fixture
def agreed(db: Database) -> Database:
    load_agreement_file(db, demo_files()[0])
    return db


def _barrage(i: int, when: str = "2026-03-01T04:12:09Z") -> list[dict[str, Any]]:
    """A barrage 4 km into the negative party's side seen from two posts of two nations."""
    target = across(-4.0)
    posts = [
        GEOD.fwd(target[0], target[1], 300.0, 6_000.0)[:2],
        GEOD.fwd(target[0], target[1], 30.0, 7_000.0)[:2],
    ]
    return [
        sighting(10 * i + 1, posts[0], target, "US", observed_at=when, client_id=f"b{i}-us"),
        sighting(10 * i + 2, posts[1], target, "TR", observed_at=when, client_id=f"b{i}-tr"),
    ]


def _fused(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(select(events).where(events.c.kind != "acoustic").order_by(events.c.seq)).all()
    return [dict(r._mapping) for r in rows]


def test_the_verified_bulletin_is_built_from_the_store_and_kept_up_to_date(agreed: Database) -> None:
    far = radar(1, across(12.0), across(-8.0), 300.0, observed_at="2026-03-01T06:00:00Z", client_id="r1")
    assert not ingest_with_retry(agreed, [*_barrage(1), far]).errors
    first = update_verification(agreed)
    assert (first.events_created, first.events_updated) == (2, 0)
    rows = {r["kind"] + ("-radar" if r["origin_lon"] is not None else ""): r for r in _fused(agreed)}
    fire_radar = rows["fire-radar"]
    agreement, _ = terms()
    other = next(p.code for p in agreement.parties if p.code != agreement.positive_side)
    assert orjson.loads(fire_radar["attribution"]) == {agreement.positive_side: 1.0, other: 0.0}
    assert fire_radar["technical"] is True and fire_radar["agreement_key"] == agreement.key
    crossing = rows["fire"]
    assert crossing["level"] == "corroborated" and crossing["attribution"] is None
    with agreed.read() as conn:
        provisions = {
            (v.event_id, v.provision_id)
            for v in conn.execute(select(violations).where(violations.c.status == "active"))
        }
    assert provisions == {(fire_radar["id"], "P1"), (fire_radar["id"], "P2"), (crossing["id"], "P1")}
    # nothing new: nothing changes
    again = update_verification(agreed)
    assert (again.events_created, again.events_updated, again.events_closed) == (0, 0, 0)
    # a third post on the same barrage: the event keeps its id and gains a revision
    target = across(-4.0)
    third = sighting(9, GEOD.fwd(target[0], target[1], 180.0, 5_000.0)[:2], target, "PL", client_id="b1-pl")
    assert not ingest_with_retry(agreed, [third]).errors
    later = update_verification(agreed)
    assert (later.events_created, later.events_updated) == (0, 1)
    with agreed.read() as conn:
        after = get_event(conn, crossing["id"], SYSTEM)
    assert after is not None and after["revision"] == 2 and len(after["observations"]) == 3


def test_a_rerun_never_moves_what_an_analyst_decided(agreed: Database) -> None:
    ingest_with_retry(agreed, _barrage(1))
    update_verification(agreed)
    (event,) = _fused(agreed)
    ana = _analyst(agreed)
    done = apply(agreed, event["id"], ReviewAct("confirm", reason="two posts, two nations"), ana)
    assert done["event"]["status"] == "confirmed" and done["event"]["level"] == "verified"
    assert done["event"]["evaluation_mode"] == "manual"
    # a new report of the same barrage would have joined it; the analyst's event stays as it was
    target = across(-4.0)
    ingest_with_retry(agreed, [sighting(9, GEOD.fwd(target[0], target[1], 180.0, 5_000.0)[:2], target, "PL")])
    update_verification(agreed)
    with agreed.read() as conn:
        kept = get_event(conn, event["id"], SYSTEM)
    assert kept is not None and kept["revision"] == done["event"]["revision"]
    assert len(kept["observations"]) == 2 and kept["status"] == "confirmed"
    assert len(_fused(agreed)) == 2  # the new report made its own event


def test_acts_follow_the_grading_rules_and_name_the_field(agreed: Database) -> None:
    one = sighting(1, across(-10.0), across(-4.0), "US", client_id="single")
    claims = [
        make("allegation", k, lon=across(-20.0)[0], lat=48.3, nation="UA", observed_at="2026-03-01T09:00:00Z")
        for k in range(3)
    ]
    ingest_with_retry(agreed, [one, *claims])
    update_verification(agreed)
    by_kind = {r["kind"]: r for r in _fused(agreed)}
    ana = _analyst(agreed)
    with pytest.raises(ReviewError) as err:
        apply(agreed, by_kind["fire"]["id"], ReviewAct("confirm", reason="seen"), ana)
    assert err.value.status == 409 and "corroborate" in err.value.reason
    with pytest.raises(ReviewError) as err:
        apply(agreed, by_kind["allegation"]["id"], ReviewAct("confirm", reason="claimed"), ana)
    assert err.value.status == 409 and "allegations alone" in err.value.reason
    with pytest.raises(ReviewError) as err:
        apply(agreed, by_kind["fire"]["id"], ReviewAct("reject"), ana)
    assert (err.value.status, err.value.field) == (422, "reason")
    with pytest.raises(ReviewError) as err:
        apply(
            agreed, by_kind["fire"]["id"], ReviewAct("reattribute", reason="r", attribution={"XX": 1.0}), ana
        )
    assert err.value.field == "attribution" and "XX" in err.value.reason
    with pytest.raises(ReviewError) as err:
        apply(agreed, "no-such-event", ReviewAct("annotate", reason="r"), ana)
    assert err.value.status == 404
    # a patrol checks it: the task and its outcome are records on the event
    task = apply(
        agreed, by_kind["fire"]["id"], ReviewAct("task", assigned_to="patrol-7", instructions="crater?"), ana
    )
    outcome = apply(
        agreed,
        by_kind["fire"]["id"],
        ReviewAct("task_outcome", reason="patrol saw nothing to add", task_id=task["id"], found=True),
        ana,
    )
    assert outcome["payload"] == {"task_id": task["id"], "found": True}
    # nothing was half-done by the refused acts
    with agreed.read() as conn:
        acts = [r.act for r in conn.execute(select(review_acts).order_by(review_acts.c.seq))]
    assert acts == ["task", "task_outcome"]


def test_merge_split_relocate_reattribute_keep_ids_and_are_logged(agreed: Database) -> None:
    ingest_with_retry(agreed, [*_barrage(1), *_barrage(2, "2026-03-01T05:40:00Z")])
    update_verification(agreed)
    a, b = _fused(agreed)
    ana = _analyst(agreed)
    merged = apply(agreed, a["id"], ReviewAct("merge", reason="one battery, one hour", events=[b["id"]]), ana)
    assert merged["event"]["id"] == a["id"] and len(merged["event"]["observations"]) == 4
    with agreed.read() as conn:
        gone = get_event(conn, b["id"], SYSTEM)
    assert (
        gone is not None
        and gone["status"] == "rejected"
        and gone["status_reason"] == f"merged into {a['id']}"
    )
    moved = merged["event"]["observations"][:2]
    split = apply(
        agreed, a["id"], ReviewAct("split", reason="two batteries after all", observations=moved), ana
    )
    new_id = split["payload"]["new_event"]
    with agreed.read() as conn:
        new = get_event(conn, new_id, SYSTEM)
        old = get_event(conn, a["id"], SYSTEM)
    assert new is not None and sorted(new["observations"]) == sorted(moved)
    assert old is not None and len(old["observations"]) == 2 and old["id"] == a["id"]
    place = across(-3.0)
    rel = apply(
        agreed, a["id"], ReviewAct("relocate", reason="crater found", lon=place[0], lat=place[1]), ana
    )
    assert (rel["event"]["lon"], rel["event"]["lat"]) == place
    att = apply(
        agreed,
        a["id"],
        ReviewAct("reattribute", reason="radar of a partner", attribution={"RU": 0.9, "UA": 0.1}),
        ana,
    )
    assert orjson.loads(att["event"]["attribution"]) == {"RU": 0.9, "UA": 0.1}
    with agreed.read() as conn:
        parties = {v.party for v in conn.execute(select(violations).where(violations.c.event_id == a["id"]))}
    assert parties == {"RU"}
    # every act is a leaf, and the audit recomputes each from the table
    report = audit(agreed, [], "test")
    assert report.ok, report.findings
    assert report.records == report.tree_size
    with agreed.read() as conn:
        assert len(vstore.acts_of(conn, a["id"])) == 4


def test_api_review_queue_acts_violations_and_figures(agreed: Database, tmp_path: Path) -> None:
    far = radar(1, across(12.0), across(-8.0), 300.0, observed_at="2026-03-01T06:00:00Z", client_id="r1")
    ingest_with_retry(agreed, [*_barrage(1), far])
    update_verification(agreed)
    app = create_app(Settings(data_dir=tmp_path, database_url=agreed.url), agreed)
    analyst = {"Authorization": f"Bearer {make_principal(agreed, 'api-ana', Role.ANALYST)}"}
    monitor = {"Authorization": f"Bearer {make_principal(agreed, 'api-mon')}"}
    with TestClient(app, raise_server_exceptions=False) as c:
        queue = c.get("/api/v1/review-queue", headers=analyst).json()["features"]
        sev = [f["properties"]["severity"] for f in queue]
        assert len(queue) == 2 and sev == sorted(sev, reverse=True)
        (top,) = [f["properties"] for f in queue if f["properties"]["origin"] is not None]
        assert top["weapon_class"] == "artillery_100_plus" and top["technical"] is True
        assert c.get("/api/v1/review-queue", headers=monitor).status_code == 403
        refused = c.post(f"/api/v1/events/{top['id']}/acts", headers=monitor, json={"act": "confirm"})
        assert refused.status_code == 403
        bad = c.post(f"/api/v1/events/{top['id']}/acts", headers=analyst, json={"act": "reject"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "reason"
        assert bad.headers["content-type"].startswith("application/problem+json")
        unknown = c.post(f"/api/v1/events/{top['id']}/acts", headers=analyst, json={"act": "confirm", "x": 1})
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "x"
        ok = c.post(
            f"/api/v1/events/{top['id']}/acts",
            headers=analyst,
            json={"act": "confirm", "reason": "radar track of a partner"},
        )
        assert ok.status_code == 201, ok.text
        assert ok.json()["event"]["properties"]["level"] == "verified"
        acts = c.get(f"/api/v1/events/{top['id']}/acts", headers=monitor).json()["acts"]
        assert [a["act"] for a in acts] == ["confirm"] and acts[0]["actor"] == "api-ana"
        vio = c.get("/api/v1/violations", params={"provision": "P2"}, headers=monitor).json()["features"]
        assert [v["properties"]["event_id"] for v in vio] == [top["id"]]
        assert vio[0]["properties"]["level"] == "verified"
        stats = c.get(
            "/api/v1/stats",
            params={"start": "2026-03-01T00:00:00Z", "end": "2026-03-02T00:00:00Z"},
            headers=monitor,
        ).json()
        assert stats["verified_violations"] == 2 and stats["pending_review"] == 1
        assert stats["by_provision"] == {"P1": 1, "P2": 1}
        assert stats["credible_cessation"]["measures"]["heavy_weapon_violations"]["value"] == 2
        assert stats["credible_cessation"]["met"] is False
        bad_range = c.get(
            "/api/v1/stats",
            params={"start": "2026-03-02T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
            headers=monitor,
        )
        assert bad_range.status_code == 422


def test_fire_known_only_where_it_was_fired_is_shown_placed_at_its_origin(
    agreed: Database, tmp_path: Path
) -> None:
    """The API says what an event's place is: fire seen leaving and never seen landing is placed
    at its origin, the barrage seen landing at its impact; an analyst who relocates the former
    states where it happened."""
    launcher = across(6.0)
    post = GEOD.fwd(launcher[0], launcher[1], 200.0, 3_000.0)[:2]
    leaving = {
        **sighting(7, post, launcher, "TR", observed_at="2026-03-01T09:00:00Z", client_id="out"),
        "sighting_type": "outgoing",
    }
    ingest_with_retry(agreed, [*_barrage(1), leaving])
    update_verification(agreed)
    app = create_app(Settings(data_dir=tmp_path, database_url=agreed.url), agreed)
    analyst = {"Authorization": f"Bearer {make_principal(agreed, 'api-ana', Role.ANALYST)}"}
    with TestClient(app, raise_server_exceptions=False) as c:
        fire = c.get("/api/v1/events", params={"kind": "fire"}, headers=analyst).json()["features"]
        placed = {f["properties"]["placed_at"]: f for f in fire}
        assert sorted(placed) == ["impact", "origin"]
        out = placed["origin"]
        origin = out["properties"]["origin"]
        assert out["geometry"]["coordinates"] == [origin["lon"], origin["lat"]]
        assert placed["impact"]["properties"]["origin"] is None
        act = {"act": "relocate", "reason": "craters found", "lon": across(-1.0)[0], "lat": across(-1.0)[1]}
        moved = c.post(f"/api/v1/events/{out['id']}/acts", headers=analyst, json=act)
        assert moved.status_code == 201, moved.text
        assert moved.json()["event"]["properties"]["placed_at"] == "impact"


def test_a_fused_event_is_hidden_from_who_may_not_see_one_of_its_reports(
    agreed: Database, tmp_path: Path
) -> None:
    secret = _barrage(1)
    secret[0] = {**secret[0], "releasability": "members"}  # the US post's: to every member
    secret[1] = {**secret[1], "releasability": "originator"}  # the Turkish post's: to Turkey only
    ingest_with_retry(agreed, secret)
    update_verification(agreed)
    app = create_app(Settings(data_dir=tmp_path, database_url=agreed.url), agreed)

    def liaison(nation: str) -> dict[str, str]:
        token = make_principal(
            agreed, f"{nation}-liaison", Role.NATIONAL_LIAISON, nation, OrgKind.NATION, nation
        )
        return {"Authorization": f"Bearer {token}"}

    us, tr = liaison("US"), liaison("TR")
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.get("/api/v1/violations", headers=us).json()["features"] == []
        assert c.get("/api/v1/events", params={"kind": "fire"}, headers=us).json()["features"] == []
        seen = c.get("/api/v1/violations", headers=tr).json()["features"]
        assert len(seen) == 1  # the originator of the restricted report sees the whole event


def test_a_post_brings_the_verified_bulletin_up_to_date_by_itself(client: TestClient) -> None:
    state = client.app.state.garant  # type: ignore[attr-defined]
    barrage = [{**o, "nation": "US", "observed_at": "2026-03-12T08:00:00Z"} for o in _barrage(7)]
    r = client.post("/api/v1/observations", json=barrage)
    assert r.status_code == 201, r.text
    ids = sorted(item["id"] for item in r.json()["results"])
    assert state.bulletin_idle(60)
    feats = client.get(
        "/api/v1/events",
        params={"kind": "fire", "start": "2026-03-12T07:59:00Z", "end": "2026-03-12T08:01:00Z"},
    ).json()["features"]
    assert len(feats) == 1
    one = client.get(f"/api/v1/events/{feats[0]['id']}").json()["properties"]
    assert sorted(one["observations"]) == ids and one["evaluation_mode"] == "automatic"
    assert one["level"] == "reported"  # two posts of one nation: one source family, one nation


def test_an_act_made_while_the_pipeline_runs_wins(agreed: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline reads, works outside any transaction, then writes: an analyst who took the
    event over in between keeps it (the run's result for it is dropped, not written over)."""
    import garant.services.verification as verification

    ingest_with_retry(agreed, _barrage(1))
    update_verification(agreed)
    (event,) = _fused(agreed)
    target = across(-4.0)
    ingest_with_retry(agreed, [sighting(9, GEOD.fwd(target[0], target[1], 180.0, 5_000.0)[:2], target, "PL")])
    real = verification.run_pipeline
    ana = _analyst(agreed)
    place = across(-3.5)

    def meanwhile(*args: Any, **kw: Any) -> Any:
        out = real(*args, **kw)
        apply(
            agreed, event["id"], ReviewAct("relocate", reason="crater found", lon=place[0], lat=place[1]), ana
        )
        return out

    monkeypatch.setattr(verification, "run_pipeline", meanwhile)
    update_verification(agreed)
    with agreed.read() as conn:
        kept = get_event(conn, event["id"], SYSTEM)
    assert kept is not None and kept["evaluation_mode"] == "manual"
    assert (kept["lon"], kept["lat"]) == place and len(kept["observations"]) == 2
    assert kept["revision"] == 2  # the relocation's, not the run's


def _active(db: Database, event_id: str | None = None) -> list[tuple[str, str]]:
    """(event id, provision) of the active violations, of one event or all."""
    q = select(violations.c.event_id, violations.c.provision_id).where(violations.c.status == "active")
    if event_id is not None:
        q = q.where(violations.c.event_id == event_id)
    with db.read() as conn:
        return sorted((e, p) for e, p in conn.execute(q))


def _ingested(db: Database, item: dict[str, Any]) -> str:
    """Ingest one observation; its id."""
    done = ingest_with_retry(db, [item])
    assert not done.errors, done.errors
    return str(done.results[0].id)


def test_a_split_judges_each_side_from_its_own_members_and_counts_each_provision_once(
    agreed: Database,
) -> None:
    """A radar track of a heavy battery and a post's sighting of where it fell are one
    corroborated event breaching P1 and P2 (the battery fired from its withdrawal zone). Split
    the radar off: it alone fired from the zone (P2 goes with it, once), the sighting is a
    single non-technical source again and may not be confirmed."""
    impact = across(-8.0)
    post = GEOD.fwd(impact[0], impact[1], 250.0, 5_000.0)[:2]
    track = radar(1, across(12.0), impact, 300.0, observed_at="2026-03-01T06:00:00Z", client_id="r1")
    seen = sighting(2, post, impact, "TR", observed_at="2026-03-01T06:00:30Z", client_id="s1")
    ingest_with_retry(agreed, [track, seen])
    update_verification(agreed)
    (event,) = _fused(agreed)
    assert (event["level"], event["technical"]) == ("corroborated", True)
    assert [p for _, p in _active(agreed)] == ["P1", "P2"]
    ana = _analyst(agreed)
    with agreed.read() as conn:
        members = get_event(conn, event["id"], SYSTEM)
    assert members is not None
    with agreed.read() as conn:
        kinds = {
            o: orjson.loads(p)["kind"]
            for o, p in conn.execute(
                select(observations.c.id, observations.c.payload).where(
                    observations.c.id.in_(members["observations"])
                )
            )
        }
    radar_id = next(o for o, k in kinds.items() if k == "radar_track")
    done = apply(
        agreed,
        event["id"],
        ReviewAct("split", reason="the post saw other fire", observations=[radar_id]),
        ana,
    )
    new_id = done["payload"]["new_event"]
    with agreed.read() as conn:
        old = get_event(conn, event["id"], SYSTEM)
        new = get_event(conn, new_id, SYSTEM)
    assert old is not None and new is not None
    assert (new["level"], new["technical"], new["origin_lon"] is not None) == ("reported", True, True)
    assert (old["level"], old["technical"], old["origin_lon"]) == ("reported", False, None)
    assert _active(agreed, new_id) == [(new_id, "P1"), (new_id, "P2")]
    assert _active(agreed, event["id"]) == [(event["id"], "P1")]  # P2 withdrawn, not copied
    assert [p for _, p in _active(agreed)].count("P2") == 1
    with agreed.read() as conn:
        withdrawn = conn.execute(
            select(violations.c.provision_id).where(
                violations.c.event_id == event["id"], violations.c.status == "withdrawn"
            )
        ).all()
    assert [w.provision_id for w in withdrawn] == ["P2"]
    assert old["severity"] < event["severity"]  # one breach fewer
    with pytest.raises(ReviewError) as err:
        apply(agreed, event["id"], ReviewAct("confirm", reason="posted"), ana)
    assert err.value.status == 409 and "corroborate" in err.value.reason
    assert (
        apply(agreed, new_id, ReviewAct("confirm", reason="radar, grade A"), ana)["event"]["level"]
        == "verified"
    )


def test_a_merge_with_a_patrols_report_of_another_nation_corroborates_the_event(agreed: Database) -> None:
    """One post's sighting is a single source; the crater a Turkish patrol reported half an
    hour later made its own event. Merged, the event rests on two kinds and two nations: it is
    corroborated and may be confirmed."""
    target = across(-4.0)
    one = sighting(1, across(-10.0), target, "US", client_id="single")
    crater = make(
        "crater", 5, lon=target[0], lat=target[1], nation="TR", source_id="patrol-3",
        observed_at="2026-03-01T04:45:00Z", client_id="crater-tr",
    )  # fmt: skip
    ingest_with_retry(agreed, [one, crater])
    update_verification(agreed)
    a, b = _fused(agreed)
    assert a["level"] == b["level"] == "reported"
    ana = _analyst(agreed)
    with pytest.raises(ReviewError):
        apply(agreed, a["id"], ReviewAct("confirm", reason="seen"), ana)
    merged = apply(
        agreed, a["id"], ReviewAct("merge", reason="the crater of that fire", events=[b["id"]]), ana
    )
    assert merged["event"]["level"] == "corroborated"
    assert merged["payload"]["assessment"]["level"] == "corroborated"
    assert _active(agreed, b["id"]) == []  # the folded event is closed: its violations withdrawn
    provisions = [p for _, p in _active(agreed, a["id"])]
    assert "P1" in provisions and provisions == merged["payload"]["assessment"]["provisions"]
    done = apply(agreed, a["id"], ReviewAct("confirm", reason="post and patrol agree"), ana)
    assert done["event"]["level"] == "verified"


def test_a_relocation_into_or_out_of_the_buffer_strip_adds_or_withdraws_p6(agreed: Database) -> None:
    """Weapons seen 5 km from the line are outside the 2 km buffer strip; the analyst who
    places them 1 km from it makes them breach P6, and moving them back withdraws it."""
    outside, inside = across(5.0), across(1.0)
    seen = make("weapon_presence", 1, lon=outside[0], lat=outside[1], weapon_class="mortar_lt_120",
                location_uncertainty_m=100, client_id="tubes")  # fmt: skip
    ingest_with_retry(agreed, [seen])
    update_verification(agreed)
    (event,) = _fused(agreed)
    eid = event["id"]
    before = [p for _, p in _active(agreed, eid)]
    assert "P6" not in before
    ana = _analyst(agreed)
    moved = apply(agreed, eid, ReviewAct("relocate", reason="imagery", lon=inside[0], lat=inside[1],
                                         semi_major_m=100.0, semi_minor_m=100.0), ana)  # fmt: skip
    assert [p for _, p in _active(agreed, eid)] == sorted([*before, "P6"])
    assert moved["event"]["severity"] > event["severity"]
    assert (moved["event"]["lon"], moved["event"]["lat"]) == inside
    apply(agreed, eid, ReviewAct("relocate", reason="wrong grid", lon=outside[0], lat=outside[1]), ana)
    assert [p for _, p in _active(agreed, eid)] == before
    with agreed.read() as conn:
        p6 = conn.execute(
            select(violations.c.status).where(violations.c.event_id == eid, violations.c.provision_id == "P6")
        ).all()
    assert [r.status for r in p6] == ["withdrawn"]  # kept, never deleted


def test_a_lead_is_queued_after_the_breaches_tasked_and_corroborated_by_a_patrols_reports(
    agreed: Database, tmp_path: Path
) -> None:
    """An allegation alone breaches nothing: it is queued after the events that do, labelled a
    lead. A patrol tasked to it files a crater report the next morning; joined, the lead is a
    fire event of one source (not yet confirmable); a second patrol of another nation finds the
    crater too, and the event is corroborated and may be confirmed."""
    claim = make("allegation", 1, lon=across(-20.0)[0], lat=48.3, nation="UA",
                 observed_at="2026-03-01T09:00:00Z", client_id="claim")  # fmt: skip
    ingest_with_retry(agreed, [*_barrage(1), claim])
    update_verification(agreed)
    app = create_app(Settings(data_dir=tmp_path, database_url=agreed.url), agreed)
    analyst = {"Authorization": f"Bearer {make_principal(agreed, 'api-ana', Role.ANALYST)}"}
    with TestClient(app, raise_server_exceptions=False) as c:
        queue = c.get("/api/v1/review-queue", headers=analyst).json()["features"]
        assert [(f["properties"]["kind"], f["properties"]["lead"]) for f in queue] == [
            ("fire", False),
            ("allegation", True),
        ]
        lead = queue[-1]["id"]
        bare = c.post(f"/api/v1/events/{lead}/acts", headers=analyst, json={"act": "confirm"})
        assert bare.status_code == 422 and bare.json()["errors"][0]["field"] == "reason"
        act = {"act": "task", "assigned_to": "patrol-3", "instructions": "find the crater"}
        task = c.post(f"/api/v1/events/{lead}/acts", headers=analyst, json=act)
        assert task.status_code == 201, task.text
        assert task.json()["reason"] == "find the crater"
        place = (across(-20.0)[0], 48.3)
        craters = [
            make(
                "crater",
                20 + k,
                lon=place[0],
                lat=place[1],
                nation=nation,
                source_id=f"patrol-{k}",
                observed_at="2026-03-02T08:00:00Z",
                client_id=f"crater-{nation}",
            )
            for k, nation in enumerate(("US", "TR"))
        ]
        first = _ingested(agreed, craters[0])
        update_verification(agreed)  # the crater makes an event of its own first
        (own,) = [e for e in _fused(agreed) if e["kind"] == "fire" and e["time"].day == 2]

        def outcome(observations: list[str], reason: str = "crater found") -> Any:
            return c.post(f"/api/v1/events/{lead}/acts", headers=analyst,
                          json={"act": "task_outcome", "reason": reason, "task_id": task.json()["id"],
                                "found": True, "observations": observations})  # fmt: skip

        unknown = outcome(["no-such-observation"])
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "observations"
        one = outcome([first])
        assert one.status_code == 201, one.text
        props = one.json()["event"]["properties"]
        assert (props["kind"], props["level"], props["status"]) == ("fire", "reported", "reviewed")
        assert _active(agreed, lead) == [(lead, "P1")]
        with agreed.read() as conn:
            closed = get_event(conn, own["id"], SYSTEM)
        assert closed is not None and closed["status"] == "rejected" and lead in closed["status_reason"]
        refused = c.post(
            f"/api/v1/events/{lead}/acts", headers=analyst, json={"act": "confirm", "reason": "r"}
        )
        assert refused.status_code == 409
        second = outcome([_ingested(agreed, craters[1])], "the Turkish patrol found it too")
        assert second.json()["event"]["properties"]["level"] == "corroborated"
        ok = c.post(f"/api/v1/events/{lead}/acts", headers=analyst,
                    json={"act": "confirm", "reason": "two patrols found the crater"})  # fmt: skip
        assert ok.status_code == 201, ok.text
        assert ok.json()["event"]["properties"]["level"] == "verified"


def test_paging_through_the_queue_returns_every_item_once(agreed: Database, tmp_path: Path) -> None:
    """Breaches, then leads; a page of one at a time crosses from the one to the other."""
    claims = [
        make(
            "allegation",
            k,
            lon=across(-20.0 - 5 * k)[0],
            lat=48.3,
            nation="UA",
            observed_at=f"2026-03-01T1{k}:00:00Z",
            client_id=f"claim-{k}",
        )
        for k in range(3)
    ]
    ingest_with_retry(agreed, [*_barrage(1), *_barrage(2, "2026-03-01T05:40:00Z"), *claims])
    update_verification(agreed)
    app = create_app(Settings(data_dir=tmp_path, database_url=agreed.url), agreed)
    analyst = {"Authorization": f"Bearer {make_principal(agreed, 'api-ana', Role.ANALYST)}"}
    with TestClient(app, raise_server_exceptions=False) as c:
        whole = c.get("/api/v1/review-queue", headers=analyst).json()["features"]
        assert [f["properties"]["lead"] for f in whole] == [False, False, True, True, True]
        seen, url = [], "/api/v1/review-queue?limit=1"
        while url:
            page = c.get(url, headers=analyst).json()
            seen += [f["id"] for f in page["features"]]
            url = page["links"]["next"]
        assert seen == [f["id"] for f in whole] and len(set(seen)) == 5


def test_members_that_make_no_event_are_refused_naming_the_field(agreed: Database) -> None:
    """An act that leaves an event with a few arrivals of one sensor and nothing else (no burst
    can be located from them, no blast, no report) is refused as a problem on `observations`,
    not a server error: the engine says these members make no event."""
    from datetime import UTC, datetime

    from garant.services.review import _reassess

    ids = [_ingested(agreed, make("acoustic_detection", i, client_id=f"lone-{i}")) for i in (1, 2)]
    with agreed.read() as conn, pytest.raises(ReviewError) as err:
        at = datetime(2026, 3, 1, 6, tzinfo=UTC)
        _reassess(conn, {"time": at}, None, False, datetime.now(UTC), (ids, []))
    assert (err.value.status, err.value.field) == (422, "observations")
    assert "make no event" in err.value.reason


def test_a_patrols_report_held_in_an_analysts_event_is_refused_naming_that_event(agreed: Database) -> None:
    """A report already in an event an analyst holds does not move by a task's outcome: the
    refusal says to merge instead, and names the holding event only to an analyst who may see
    it (its US sighting is released to the US alone: a French analyst is told one is hidden)."""
    us_seen, turkish_seen = _barrage(1)
    us_seen.update(releasability="sharing_group", rel_to=["US"])
    turkish = _ingested(agreed, turkish_seen)
    ingest_with_retry(agreed, [us_seen, *_barrage(2, "2026-03-01T09:30:00Z")])
    update_verification(agreed)
    first, second = _fused(agreed)
    ana = _analyst(agreed)  # US, of the mechanism
    make_principal(agreed, "fr-ana", Role.ANALYST, nation="FR")
    fr = principal_of(agreed, "fr-ana")
    relocated = ReviewAct("relocate", reason="map read again", lon=first["lon"], lat=first["lat"])
    apply(agreed, first["id"], relocated, ana)  # now an analyst's
    with agreed.read() as conn:
        held = get_event(conn, first["id"], SYSTEM)
    assert held is not None and turkish in held["observations"]
    for who, named in ((ana, True), (fr, False)):
        task = apply(agreed, second["id"], ReviewAct("task", assigned_to="p-1", instructions="look"), who)
        outcome = ReviewAct(
            "task_outcome", reason="seen", task_id=task["id"], found=True, observations=[turkish]
        )
        with pytest.raises(ReviewError) as err:
            apply(agreed, second["id"], outcome, who)
        assert (err.value.status, err.value.field) == (409, "observations")
        assert "merge" in err.value.reason
        assert (first["id"] in err.value.reason) is named
        assert ("1 you may not see" in err.value.reason) is not named
