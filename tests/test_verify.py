"""The verification pipeline: fusion, attribution, classification and grading, alone and on a
simulated day scored by `garant eval`."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from garant.cli import app
from garant.domain.observations import SIGHTING_DISTANCE_BANDS_M
from garant.evaluation.matching import match_events
from garant.evaluation.score import EvalOptions, evaluate
from garant.evaluation.tables import read_events
from garant.services.agreements import read_agreement
from garant.sim.run import run_scenario
from garant.sim.scenario import load_scenario
from garant.verify.acoustic import AssociationParams, Events, IncrementalAssociator, Network, associate
from garant.verify.bulletin_files import write_bulletin
from garant.verify.evidence import AcousticEvents, Ray, neighbouring_bands
from garant.verify.files import read_detections, read_stations
from garant.verify.pipeline import VerifiedEvent, run_pipeline
from tests.factories import make
from tests.verify_factories import FIRED_AT, GEOD, across, blasts, iso, radar, sighting, terms


def _run(observations: list[dict[str, Any]]) -> list[VerifiedEvent]:
    agreement, geo = terms()
    return run_pipeline(observations, AcousticEvents.empty(), agreement, geo)


def test_two_posts_bearings_on_one_barrage_make_one_event_where_they_cross() -> None:
    target = across(-4.0)
    posts = [
        GEOD.fwd(target[0], target[1], 300.0, 6_000.0)[:2],
        GEOD.fwd(target[0], target[1], 30.0, 7_000.0)[:2],
    ]
    events = _run([sighting(1, posts[0], target, "US"), sighting(2, posts[1], target, "TR")])
    assert len(events) == 1
    ev = events[0]
    _, _, err = GEOD.inv(ev.lon, ev.lat, target[0], target[1])
    # each bearing alone is ±1 km along its line; crossed, the place is fixed far better
    assert err < 400.0
    assert ev.ellipse[0] < 2_000.0
    assert ev.grade.level == "corroborated"  # two nations
    assert sorted(ev.observation_ids) == ["test-sighting-1", "test-sighting-2"]


def test_one_post_alone_is_reported_and_not_attributed_from_where_it_landed() -> None:
    target = across(-4.0)
    post = GEOD.fwd(target[0], target[1], 300.0, 6_000.0)[:2]
    (ev,) = _run([sighting(1, post, target, "US")])
    assert ev.grade.level == "reported"
    assert ev.attribution.probs is None  # an impact says nothing of who fired
    assert [b.provision_id for b in ev.breaches] == ["P1"]


def test_attribution_integrates_the_origin_over_the_control_areas() -> None:
    agreement, _ = terms()
    pos = agreement.positive_side
    neg = next(p.code for p in agreement.parties if p.code != pos)
    far = radar(1, across(12.0), across(-8.0), 300.0)
    on_line = radar(2, across(0.0), across(-8.0), 3_000.0, observed_at="2026-03-01T09:00:00Z")
    events = {e.observation_ids[0]: e for e in _run([far, on_line])}
    p_far = events["test-radar_track-1"].attribution.probs
    assert p_far == {pos: 1.0, neg: 0.0}
    p_line = events["test-radar_track-2"].attribution.probs
    assert p_line is not None
    assert math.isclose(sum(p_line.values()), 1.0)
    assert 0.25 < p_line[pos] < 0.75  # a 3 km ellipse astride the line: either side
    # the origin 12 km behind the line is in the artillery's withdrawal zone (P2), not the buffer
    assert {b.provision_id for b in events["test-radar_track-1"].breaches} == {"P1", "P2"}
    assert events["test-radar_track-1"].grade.technical


def test_attribution_probabilities_match_the_gaussian_mass_on_each_side() -> None:
    """Against the closed form: for an origin `d` from a locally straight line with a circular
    standard deviation s, the mass on the far side is Phi(-d/s)."""
    agreement, _ = terms()
    pos = agreement.positive_side
    semi = 2_447.7  # 95% radius of s = 1,000 m
    rows = [
        radar(i, across(d), across(-9.0), semi, observed_at=f"2026-03-01T{i:02d}:00:00Z")
        for i, d in enumerate((0.5, 1.0, 2.0), start=1)
    ]
    got = sorted(e.attribution.probs[pos] for e in _run(rows) if e.attribution.probs)
    want = [0.5 * math.erfc(-d / math.sqrt(2.0)) for d in (0.5, 1.0, 2.0)]
    assert np.allclose(got, want, atol=0.03), (got, want)


def test_allegations_alone_stay_leads_however_often_repeated() -> None:
    place = across(-3.0)
    rows = [
        make(
            "allegation",
            i,
            lon=place[0],
            lat=place[1],
            location_uncertainty_m=1_000,
            nation="UA",
            source_id="liaison-UA",
            reliability="F",
            credibility=2,
        )
        for i in range(5)
    ]
    (ev,) = _run(rows)
    assert ev.kind == "allegation"
    assert ev.grade.level == "reported"
    assert ev.breaches == []
    assert ev.attribution.probs is None
    assert len(ev.observation_ids) == 5


def test_an_allegation_does_not_corroborate_and_does_not_move_the_event() -> None:
    target = across(-4.0)
    post = GEOD.fwd(target[0], target[1], 300.0, 6_000.0)[:2]
    alone = _run([sighting(1, post, target, "US")])[0]
    far_claim = GEOD.fwd(target[0], target[1], 90.0, 1_500.0)[:2]
    claim = make(
        "allegation", 9, lon=far_claim[0], lat=far_claim[1], location_uncertainty_m=3_000, nation="UA"
    )
    (ev,) = _run([sighting(1, post, target, "US"), claim])
    assert ev.grade.level == "reported"
    assert (ev.lon, ev.lat) == (alone.lon, alone.lat)
    assert "test-allegation-9" in ev.observation_ids


def _two_posts_and_a_claim() -> tuple[
    tuple[float, float], tuple[float, float], tuple[float, float], dict[str, Any]
]:
    """A place 4 km inside the negative side, two posts 6 and 7 km from it, and a party's
    allegation of fire there at 04:53, good to 40 minutes (from 04:13 on)."""
    target = across(-4.0)
    post = GEOD.fwd(target[0], target[1], 300.0, 6_000.0)[:2]
    other = GEOD.fwd(target[0], target[1], 30.0, 7_000.0)[:2]
    claim = make(
        "allegation",
        9,
        lon=target[0],
        lat=target[1],
        location_uncertainty_m=3_000,
        nation="UA",
        observed_at="2026-03-01T04:53:00Z",
        time_precision_s=2_400.0,
    )
    return target, post, other, claim


def test_an_allegations_vague_time_does_not_join_fire_half_an_hour_apart() -> None:
    """A post sees an impact at 04:12; a party alleges fire there at 04:53, give or take 40
    minutes; 27 minutes after the impact another nation's post sees another one at the same
    place. The
    allegation joins the first, but its window must not stretch the event to the second
    (which would also make two nations corroborate what each saw alone)."""
    target, post, other, claim = _two_posts_and_a_claim()
    later = sighting(2, other, target, "TR", observed_at="2026-03-01T04:39:09.250Z")
    events = _run([sighting(1, post, target, "US"), claim, later])
    assert len(events) == 2
    first = next(ev for ev in events if "test-sighting-1" in ev.observation_ids)
    assert "test-sighting-2" not in first.observation_ids
    assert first.grade.level == "reported"


def test_a_videos_vague_time_does_not_stretch_a_sighting_to_fire_24_minutes_later() -> None:
    """A post sees an impact at 04:12; a video of impacts there is dated 04:29, give or take 10
    minutes; at 04:36 another nation's post sees another impact at the same place. The two
    sightings are two fires: the union of the windows of the first and the video once let the
    second join, 24 minutes after the first (and made two nations corroborate what each saw
    alone). The video, within whose window only the second lies, is the second's. Nor does a
    video's window stretch the event it joins to another video."""
    target, post, other, _ = _two_posts_and_a_claim()
    video = make(
        "osint", 8, lon=target[0], lat=target[1], location_uncertainty_m=4_000, nation="US",
        observed_at="2026-03-01T04:29:00Z", time_precision_s=600.0,
    )  # fmt: skip
    later = sighting(2, other, target, "TR", observed_at="2026-03-01T04:36:09.250Z")
    events = _run([sighting(1, post, target, "US"), video, later])
    first = next(ev for ev in events if "test-sighting-1" in ev.observation_ids)
    assert first.observation_ids == ["test-sighting-1"] and first.grade.level == "reported"
    second = next(ev for ev in events if "test-sighting-2" in ev.observation_ids)
    assert sorted(second.observation_ids) == ["test-osint-8", "test-sighting-2"]
    # a video dated 04:14 is the first post's fire; one dated 04:33 (from 04:23) is not, though
    # the union of the first video's window and the post's would reach it
    early = {**video, "observed_at": "2026-03-01T04:14:00Z"}
    late = {**video, "client_id": "test-osint-9", "observed_at": "2026-03-01T04:33:00Z"}
    events = _run([sighting(1, post, target, "US"), early, late])
    assert sorted(sorted(ev.observation_ids) for ev in events) == [
        ["test-osint-8", "test-sighting-1"],
        ["test-osint-9"],
    ]


def test_an_allegation_joins_the_fire_it_fits_best_even_seen_before_its_stated_time() -> None:
    """A party alleges fire at 04:53, give or take 40 minutes. Posts saw impacts there at 04:50
    and at 04:20: the allegation is one more report of the fire nearer its stated time, not an
    event of its own (the fire at 04:50 comes later in time order than the allegation's window
    opens, and once the allegation had made its event, a report three minutes before its
    stated time could not join it). It still moves nothing."""
    target, post, other, claim = _two_posts_and_a_claim()
    near = sighting(1, post, target, "US", observed_at="2026-03-01T04:50:00Z")
    early = sighting(2, other, target, "TR", observed_at="2026-03-01T04:20:00Z")
    alone = {e.observation_ids[0]: e for e in _run([near, early])}
    events = _run([near, early, claim])
    assert len(events) == 2
    by_post = {next(o for o in e.observation_ids if "sighting" in o): e for e in events}
    assert sorted(by_post["test-sighting-1"].observation_ids) == ["test-allegation-9", "test-sighting-1"]
    assert by_post["test-sighting-2"].observation_ids == ["test-sighting-2"]
    for k in ("test-sighting-1", "test-sighting-2"):
        got, want = by_post[k], alone[k]
        assert (got.lon, got.lat, got.t_start) == (want.lon, want.lat, want.t_start)
        assert by_post[k].grade.level == "reported"
    # far from every fire, it stays a lead of its own
    elsewhere = across(-12.0, at=(37.8, 48.6))
    events = _run([near, early, {**claim, "lon": elsewhere[0], "lat": elsewhere[1]}])
    assert len(events) == 3
    assert next(e for e in events if "test-allegation-9" in e.observation_ids).kind == "allegation"


def test_weapons_in_their_withdrawal_zone_breach_p2_and_beyond_it_do_not() -> None:
    agreement, _ = terms()
    zone_km = next(z.distance_km for z in agreement.zones if getattr(z, "weapon_class", None) == "mlrs")
    inside = make(
        "weapon_presence",
        1,
        weapon_class="mlrs",
        count=4,
        lon=across(zone_km - 5)[0],
        lat=48.3,
        location_uncertainty_m=40,
    )
    beyond = make(
        "weapon_presence",
        2,
        weapon_class="mlrs",
        count=4,
        lon=across(zone_km + 5)[0],
        lat=48.3,
        location_uncertainty_m=40,
    )
    events = {e.observation_ids[0]: e for e in _run([inside, beyond])}
    assert [b.provision_id for b in events["test-weapon_presence-1"].breaches] == ["P2"]
    assert events["test-weapon_presence-2"].breaches == []
    assert events["test-weapon_presence-1"].attribution.probs == {
        agreement.positive_side: 1.0,
        **{p.code: 0.0 for p in agreement.parties if p.code != agreement.positive_side},
    }


def test_a_drone_over_the_no_fly_strip_breaches_the_airspace_provision() -> None:
    start, turn = across(30.0), across(5.0)
    points = [
        {
            "lon": start[0] + (turn[0] - start[0]) * f,
            "lat": 48.3,
            "time": f"2026-03-01T04:{12 + k:02d}:00Z",
            "altitude_m": 400,
        }
        for k, f in enumerate(np.linspace(0, 1, 6))
    ]
    track = make(
        "air_track", 1, lon=start[0], lat=start[1], points=points, aircraft_type="drone", reliability="A"
    )
    (ev,) = _run([track])
    assert [b.provision_id for b in ev.breaches] == ["P3"]
    assert ev.kind == "air"
    assert abs(ev.lon - turn[0]) < 1e-3  # where it went, not where it took off


def test_span_matching_finds_a_report_hours_into_a_lasting_incident() -> None:
    lon, lat = np.array([37.8]), np.array([48.3])
    start, end = np.array([0.0]), np.array([6 * 3600.0])
    ti, _ = match_events(lon, lat, start, lon, lat, np.array([5 * 3600.0]), 3000.0, 300.0)
    assert len(ti) == 0
    ti, _ = match_events(lon, lat, start, lon, lat, np.array([5 * 3600.0]), 3000.0, 300.0, true_t_end=end)
    assert len(ti) == 1
    ti, _ = match_events(
        lon, lat, start, lon, lat, np.array([6 * 3600.0 + 400.0]), 3000.0, 300.0, true_t_end=end
    )
    assert len(ti) == 0


@pytest.fixture(scope="module")
def flare(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated flare-up (12 h, one sector), its blasts located by the acoustic engine."""
    out = tmp_path_factory.mktemp("flare")
    scenario, path = load_scenario("flare-up")
    run_scenario(scenario.model_copy(update={"seed": 3}), out, scenario_file=path)
    result = CliRunner().invoke(
        app,
        ["associate", "--stations", str(out / "stations.csv"), "--detections", str(out / "detections.csv"),
         "--out", str(out / "assoc"), "--speed", "337.3"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def test_the_pipeline_on_a_flare_up_attributes_and_classifies_as_the_truth_says(flare: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["verify", "--observations", str(flare / "observations.jsonl"), "--acoustic", str(flare / "assoc"),
         "--out", str(flare / "ver")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = evaluate(flare, flare / "ver" / "events.csv", flare / "ver" / "assignments.csv", EvalOptions())
    att = report["attribution"]
    assert att["accuracy_origin_ge_2km"] >= 0.99 and att["n_origin_ge_2km"] >= 100
    assert att["brier"] <= 0.05
    assert report["false_allegations"]["blamed"] == 0
    assert report["f1"] >= 0.75  # where it stands (docs/verification.md); the issue asks more
    by = report["classification"]["by_provision"]
    assert by["P2"]["f1"] >= 0.9 and by["P3"]["f1"] == 1.0 and by["P5"]["f1"] == 1.0
    with (flare / "ver" / "violations.csv").open() as fh:
        violations = list(csv.DictReader(fh))
    assert {v["agreement"] for v in violations} == {read_agreement("demo").key}
    assert all(0.5 <= float(v["probability"]) <= 1.0 for v in violations)


def test_the_servers_engine_fed_a_flare_up_at_once_makes_the_batch_engines_events(flare: Path) -> None:
    """The server's bulletin from empty (`garant pipeline run` after an offline load) is made by
    the incremental engine: over what it is fed it runs the batch engine's passes, competition
    rounds included, so the bulletin is the one `garant associate` makes, event for event."""
    stations = read_stations(flare / "stations.csv")
    det = read_detections(flare / "detections.csv", stations)
    net = Network.from_lonlat(stations.lon, stations.lat)
    params = AssociationParams(speed_ms=337.3, timing_sigma_s=0.0224)
    batch = associate(net, det.station, det.time_s, det.azimuth_deg, params)
    engine = IncrementalAssociator(net, params)
    engine.add(det.station, det.time_s, det.azimuth_deg)
    _, served = engine.events()

    def partition(found: Events) -> set[frozenset[int]]:
        members: dict[int, set[int]] = {}
        for i, e in enumerate(found.assignment.tolist()):
            if e >= 0:
                members.setdefault(e, set()).add(i)
        return {frozenset(m) for m in members.values()}

    assert len(batch) > 1_000
    assert partition(served) == partition(batch)


def test_the_pipeline_is_deterministic(flare: Path, tmp_path: Path) -> None:
    rows = [json.loads(line) for line in (flare / "observations.jsonl").read_text().splitlines()[:3000]]
    agreement, geo = terms()
    a = run_pipeline(rows, AcousticEvents.empty(), agreement, geo)
    b = run_pipeline(list(reversed(rows)), AcousticEvents.empty(), agreement, geo)
    key = [
        (e.kind, round(e.t_start, 3), round(e.lon, 6), sorted(e.observation_ids), e.attribution.probs)
        for e in a
    ]
    assert key == [
        (e.kind, round(e.t_start, 3), round(e.lon, 6), sorted(e.observation_ids), e.attribution.probs)
        for e in b
    ]


def test_verify_cli_names_a_bad_line(tmp_path: Path) -> None:
    bad = tmp_path / "obs.jsonl"
    bad.write_text(json.dumps(make("sighting", 1)) + "\n{not json\n")
    result = CliRunner().invoke(app, ["verify", "--observations", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert f"{bad}:2" in result.output


def test_acoustic_only_fire_gets_its_origin_from_the_launch_blasts() -> None:
    """A launch heard on one side and its impacts on the other, with the impacts' rhythm, pair
    into one event whose origin is the launch; a lone group has no origin."""
    agreement, geo = terms()
    launch, impact = across(-10.0), across(6.0)
    rhythm = np.array([0.0, 6.0, 12.5, 19.0])
    _, _, d = GEOD.inv(launch[0], launch[1], impact[0], impact[1])
    flight = d / 450.0
    t0 = 1_772_400_000.0
    times = np.concatenate([t0 + rhythm, t0 + flight + rhythm + np.array([0.3, -0.2, 0.1, 0.0])])
    lon = np.concatenate([np.full(4, launch[0]), np.full(4, impact[0])])
    lat = np.full(8, 48.3)
    blasts = AcousticEvents(
        ids=[f"b{k}" for k in range(8)], t=times, lon=lon, lat=lat,
        semi_major_m=np.full(8, 150.0), semi_minor_m=np.full(8, 100.0), azimuth_deg=np.zeros(8),
        n_detections=np.full(8, 7), detections={},
    )  # fmt: skip
    (ev,) = run_pipeline([], blasts, agreement, geo)
    assert abs(ev.lon - impact[0]) < 0.01 and abs(ev.origin_lon - launch[0]) < 0.01
    neg = next(p.code for p in agreement.parties if p.code != agreement.positive_side)
    assert ev.attribution.probs is not None and ev.attribution.probs[neg] == 1.0
    # alone, the launch group cannot say whether it was a launch or an impact: no origin; and
    # two lone blasts with nothing else make no fire event at all
    n = 6
    lone_t = t0 + np.arange(n) * 6.0
    lone = AcousticEvents(
        ids=[f"l{k}" for k in range(n)], t=lone_t, lon=np.full(n, launch[0]), lat=np.full(n, 48.3),
        semi_major_m=np.full(n, 150.0), semi_minor_m=np.full(n, 100.0), azimuth_deg=np.zeros(n),
        n_detections=np.full(n, 7), detections={},
    )  # fmt: skip
    (ev,) = run_pipeline([], lone, agreement, geo)
    assert ev.attribution.probs is None and math.isnan(ev.origin_lon)
    assert ev.kind == "fire" and ev.grade.level == "reported" and ev.grade.technical
    two = AcousticEvents(
        ids=["a", "b"], t=lone_t[:2], lon=np.full(2, launch[0]), lat=np.full(2, 48.3),
        semi_major_m=np.full(2, 150.0), semi_minor_m=np.full(2, 100.0), azimuth_deg=np.zeros(2),
        n_detections=np.full(2, 7), detections={},
    )  # fmt: skip
    assert run_pipeline([], two, agreement, geo) == []


def test_a_craters_azimuth_or_a_direction_of_flight_points_back_to_the_origin() -> None:
    """With no located origin, a ray back over the weapon's range still attributes: here both
    point deep into the positive party's side from an impact just across the line."""
    agreement, geo = terms()
    pos = agreement.positive_side
    impact = across(-1.0)
    behind = across(15.0)
    az_back, _, _ = GEOD.inv(impact[0], impact[1], behind[0], behind[1])
    crater = make(
        "crater", 1, lon=impact[0], lat=impact[1], azimuth_of_origin_deg=round(az_back % 360, 1),
        azimuth_uncertainty_deg=10, weapon_class="artillery_100_plus", location_uncertainty_m=10,
    )  # fmt: skip
    (ev,) = run_pipeline([crater], AcousticEvents.empty(), agreement, geo)
    assert ev.attribution.probs is not None and ev.attribution.probs[pos] > 0.9
    post = GEOD.fwd(impact[0], impact[1], 200.0, 4_000.0)[:2]
    seen = {**sighting(2, post, impact, "US"), "sighting_type": "projectile_in_flight"}
    seen["direction_of_flight_deg"] = round((az_back + 180.0) % 360.0, 1)
    seen["weapon_class"] = "artillery_100_plus"
    (ev,) = run_pipeline([seen], AcousticEvents.empty(), agreement, geo)
    # the projectile may have been seen anywhere on its path: the first stretch behind it still
    # lies on the near side of the line, so the answer is less sure than the crater's
    assert ev.attribution.probs is not None and ev.attribution.probs[pos] > 0.8
    # the opposite direction says the other party
    seen["direction_of_flight_deg"] = round(az_back % 360.0, 1)
    (ev,) = run_pipeline([seen], AcousticEvents.empty(), agreement, geo)
    assert ev.attribution.probs is not None and ev.attribution.probs[pos] < 0.2


def test_a_post_that_sees_a_launcher_fire_30_km_from_where_it_hits_reports_that_fire() -> None:
    """A rocket launcher 25 km inside the positive party's area fires on a point 5 km inside the
    other's; a radar tracks it, and a post 3 km from the launcher sees the launch. One event,
    corroborated: reports were looked up only near each event's impact, so the post's sighting
    of the launch, 30 km from it, made an event of its own."""
    launcher, target = across(25.0), across(-5.0)
    track = radar(1, launcher, target, 150.0, observed_at="2026-03-01T04:12:05Z")
    post = GEOD.fwd(launcher[0], launcher[1], 200.0, 3_000.0)[:2]
    seen = sighting(2, post, launcher, "TR", observed_at="2026-03-01T04:12:09.250Z")
    seen["sighting_type"] = "outgoing"
    (ev,) = _run([track, seen])
    assert sorted(ev.observation_ids) == ["test-radar_track-1", "test-sighting-2"]
    assert ev.grade.level == "corroborated"
    agreement, _ = terms()
    assert ev.attribution.probs[agreement.positive_side] > 0.95


def test_an_event_known_only_where_it_was_fired_says_it_is_placed_at_its_origin(tmp_path: Path) -> None:
    """A post that saw a launcher fire, or a rifleman's burst, tells where the fire came from and
    nothing of where it fell: the event is placed at its origin and says so, in the bulletin's
    `placed_at` too, so that it is never read, or scored, as an impact. A post that saw where
    the rounds fell, or a radar that tracked them, gives the event an impact."""
    launcher, target = across(4.0), across(-2.0)
    post = GEOD.fwd(launcher[0], launcher[1], 200.0, 3_000.0)[:2]
    outgoing = {**sighting(1, post, launcher, "TR"), "sighting_type": "outgoing"}
    burst = {**sighting(2, post, launcher, "TR"), "sighting_type": "burst", "weapon_class": "small_arms"}
    far_post = GEOD.fwd(target[0], target[1], 160.0, 3_500.0)[:2]
    landed = sighting(3, far_post, target, "US")
    (seen_fired,) = _run([outgoing])
    (seen_burst,) = _run([burst])
    for ev in (seen_fired, seen_burst):
        assert ev.placed_at_origin
        assert (ev.lon, ev.lat) == (ev.origin_lon, ev.origin_lat)
    tracked = radar(4, launcher, target, 150.0, observed_at=outgoing["observed_at"])
    (both,) = _run([outgoing, tracked])
    assert sorted(both.observation_ids) == ["test-radar_track-4", "test-sighting-1"]
    assert not both.placed_at_origin and abs(both.lon - target[0]) < 0.03
    assert abs(both.origin_lon - launcher[0]) < 0.03
    (impact_only,) = _run([landed])
    assert not impact_only.placed_at_origin and math.isnan(impact_only.origin_lon)
    agreement, _ = terms()
    write_bulletin(tmp_path, [seen_fired, both, impact_only], tuple(p.code for p in agreement.parties))
    table = read_events(tmp_path / "events.csv")
    assert table.at_origin is not None and table.at_origin.tolist() == [True, False, False]


def _barrage(interval_s: float, weapon: str) -> tuple[list[dict[str, Any]], tuple[float, float]]:
    """Three rounds from 3 km inside the positive party's area onto a point 2 km inside the
    other's, each round tracked by two radars (as happens where their coverages overlap)."""
    battery, target = across(3.0), across(-2.0)
    tracks: list[dict[str, Any]] = []
    for k in range(3):
        when = f"2026-03-01T04:12:{5 + k * interval_s:06.3f}Z"
        for radar_id in ("cbr-1", "cbr-2"):
            t = radar(len(tracks), battery, target, 150.0, observed_at=when)
            t["source_id"], t["weapon_class"] = radar_id, weapon
            tracks.append(t)
    return tracks, target


@pytest.mark.parametrize(("interval_s", "weapon", "events"), [(6.0, "mortar_lt_120", 2), (0.5, "mlrs", 1)])
def test_a_burst_seen_where_rounds_fall_is_the_same_fire_only_if_they_ripple(
    interval_s: float, weapon: str, events: int
) -> None:
    """A post sees a burst of fire 800 m from where a battery's rounds fall, while they fall.
    Rounds seconds apart (a mortar) are another weapon: the burst is the side under fire firing
    back, its own event. Rounds half a second apart (a rocket launcher's ripple) land as a burst
    does: one event. Two radars tracked each round; taking the cadence over both radars' tracks
    together, the mortar's rounds came 0 s apart and seemed a ripple."""
    tracks, target = _barrage(interval_s, weapon)
    near = GEOD.fwd(target[0], target[1], 90.0, 800.0)[:2]
    post = GEOD.fwd(near[0], near[1], 180.0, 3_000.0)[:2]
    seen = sighting(99, post, near, "IT", observed_at="2026-03-01T04:12:09Z")
    seen["sighting_type"], seen["weapon_class"] = "burst", "small_arms"
    out = _run([*tracks, seen])
    assert len(out) == events
    with_tracks = next(e for e in out if "test-radar_track-0" in e.observation_ids)
    assert ("test-sighting-99" in with_tracks.observation_ids) == (events == 1)
    assert len([i for i in with_tracks.observation_ids if "radar" in i]) == 6


def test_a_burst_heard_where_a_ripple_falls_does_not_become_its_origin() -> None:
    """Rockets heard landing (eight impacts half a second apart, no launch heard, no radar) and a
    post that sees the ripple as a burst of fire: one event, and still no origin. The burst's
    place is where the rockets fell; taken as the origin, it attributed the fire to whoever holds
    the ground it landed on and put the launcher in the buffer strip."""
    agreement, geo = terms()
    impact = across(-0.5)
    n, t0 = 8, 1_772_338_325.0
    blasts = AcousticEvents(
        ids=[f"b{k}" for k in range(n)], t=t0 + 0.5 * np.arange(n), lon=np.full(n, impact[0]),
        lat=np.full(n, impact[1]), semi_major_m=np.full(n, 150.0), semi_minor_m=np.full(n, 100.0),
        azimuth_deg=np.zeros(n), n_detections=np.full(n, 7), detections={},
    )  # fmt: skip
    post = GEOD.fwd(impact[0], impact[1], 180.0, 3_000.0)[:2]
    seen = sighting(1, post, impact, "IT", observed_at="2026-03-01T04:12:06Z")
    seen["sighting_type"], seen["weapon_class"] = "burst", "mlrs"
    (ev,) = run_pipeline([seen], blasts, agreement, geo)
    assert ev.observation_ids == ["test-sighting-1"] and len(ev.acoustic_ids) == n
    assert ev.attribution.probs is None and math.isnan(ev.origin_lon)
    assert not any(b.provision_id == "P6" for b in ev.breaches)


@given(
    band=st.one_of(
        st.integers(0, len(SIGHTING_DISTANCE_BANDS_M) - 2).map(
            lambda k: (SIGHTING_DISTANCE_BANDS_M[k], SIGHTING_DISTANCE_BANDS_M[k + 1])
        ),
        st.tuples(st.floats(0.0, 20_000.0), st.floats(100.0, 30_000.0)).map(lambda t: (t[0], t[0] + t[1])),
    ),
    misjudged=st.floats(0.0, 0.5),
)
def test_a_distance_band_law_keeps_its_share_in_the_band(band: tuple[float, float], misjudged: float) -> None:
    """Draws of a post's distance: within the band but for the misjudged share, which lies in
    the neighbouring bands of the sighting form (of the same ratio for a band not on it), split
    evenly where there are two, all on one side at either end of the form."""
    lo, hi = band
    far_lo, far_hi = neighbouring_bands(lo, hi)
    u = (np.arange(10_000) + 0.5) / 10_000
    d = Ray(0.0, 0.0, 0.0, 5.0, lo, hi, misjudged, far_lo, far_hi).distances(u)
    inside = (d >= lo) & (d <= hi)
    assert abs(inside.mean() - (1.0 - misjudged)) < 2e-3
    assert d.min() >= far_lo - 1e-6 and d.max() <= far_hi + 1e-6
    form = SIGHTING_DISTANCE_BANDS_M
    if lo in form and hi in form and form.index(hi) == form.index(lo) + 1:
        k = form.index(lo)
        assert far_lo == form[max(k - 1, 0)] and far_hi == form[min(k + 2, len(form) - 1)]
    sides = int(far_lo < lo) + int(far_hi > hi)
    if far_lo < lo:
        assert abs((d < lo).mean() - misjudged / sides) < 2e-3


def test_one_posts_sighting_is_attributed_from_its_band_not_a_gaussian_across_the_line() -> None:
    """A post 5.5 km from the line sees a burst fired 2-5 km away, straight towards the line: the
    shooter is on the post's side (0.5 to 3.5 km from the line) unless the band was misjudged
    (15%, half of it too near). So P = 0.85 + 0.075 + a little, about 0.93. A Gaussian as long as
    the band (the fusion's covariance) put a fifth of its mass across the line (P = 0.81)."""
    agreement, geo = terms()
    pos = agreement.positive_side
    post = across(5.5)
    # straight towards the line: down the gradient of the distance to it
    step = 1e-3
    d0, d_east, d_north = geo.signed_distance_m(
        np.array([post[0], post[0] + step, post[0]]), np.array([post[1], post[1], post[1] + step])
    )
    az = math.degrees(math.atan2(-(d_east - d0) * math.cos(math.radians(post[1])), -(d_north - d0))) % 360
    seen = make(
        "sighting", 1, lon=post[0], lat=post[1], sighting_type="burst", bearing_deg=round(az, 1),
        distance_band={"min_m": 2000.0, "max_m": 5000.0}, location_uncertainty_m=10,
        weapon_class="small_arms",
    )  # fmt: skip
    (ev,) = _run([seen])
    assert ev.attribution.probs is not None and 0.9 < ev.attribution.probs[pos] < 0.96


def test_a_post_that_misjudges_its_band_by_one_still_reports_the_fire_it_saw() -> None:
    """A mortar battery 5 km from a post fires three rounds, tracked by radar; the post sees the
    launches on the right bearing but puts them in the 500-2000 m band. A band misjudged by one
    is the form's commonest error: the sighting joins the tracked fire. Put 20-50 km away, it is
    not that fire; the Gaussian the fusion weighs, as long as the band is wide (30 km), had let
    it join. (On a simulated flare-up, the gate on that Gaussian left a launch seen 5 km away but
    reported at 500-2000 m out, as a fire of its own in the buffer strip.)"""
    battery, target = across(4.0), across(-3.0)
    tracks = [
        radar(k, battery, target, 150.0, observed_at=f"2026-03-01T04:12:{5 + 6 * k:02d}Z") for k in range(3)
    ]
    for t in tracks:
        t["weapon_class"] = "mortar_lt_120"
    post = GEOD.fwd(battery[0], battery[1], 10.0, 5_000.0)[:2]
    az, _, _ = GEOD.inv(post[0], post[1], battery[0], battery[1])
    seen = make(
        "sighting", 9, lon=post[0], lat=post[1], sighting_type="outgoing", bearing_deg=round(az % 360, 1),
        distance_band={"min_m": 500.0, "max_m": 2000.0}, location_uncertainty_m=10,
        observed_at="2026-03-01T04:12:07Z", weapon_class="mortar_lt_120",
    )  # fmt: skip
    (ev,) = _run([*tracks, seen])
    assert "test-sighting-9" in ev.observation_ids and ev.grade.level == "corroborated"
    seen["distance_band"] = {"min_m": 20_000.0, "max_m": 50_000.0}
    assert len(_run([*tracks, seen])) == 2


@pytest.mark.parametrize("second", ["sighting", "crater"])
def test_a_report_far_beyond_a_posts_band_is_another_fire(second: str) -> None:
    """Post A sees a burst 2-5 km out on its bearing. A second report, a minute later, places fire
    12 km out on that same bearing: another post's sighting from 3.5 km beside it, or a crater.
    Beyond even a band misjudged by one (5-10 km), it is another fire: two events. The Gaussians
    as long as the bands are wide had gated the two together (chi-square 8)."""
    a_post = across(8.0)
    far = GEOD.fwd(a_post[0], a_post[1], 120.0, 12_000.0)[:2]
    a = make(
        "sighting", 1, lon=a_post[0], lat=a_post[1], sighting_type="burst", bearing_deg=120.0,
        distance_band={"min_m": 2000.0, "max_m": 5000.0}, location_uncertainty_m=10,
        weapon_class="small_arms", observed_at="2026-03-01T04:12:00Z",
    )  # fmt: skip
    if second == "sighting":
        b_post = GEOD.fwd(far[0], far[1], 30.0, 3_500.0)[:2]
        b = make(
            "sighting", 2, lon=b_post[0], lat=b_post[1], sighting_type="burst", bearing_deg=210.0,
            distance_band={"min_m": 2000.0, "max_m": 5000.0}, location_uncertainty_m=10,
            weapon_class="small_arms", observed_at="2026-03-01T04:13:00Z", source_id="op-77",
        )  # fmt: skip
    else:
        b = make(
            "crater", 2, lon=far[0], lat=far[1], location_uncertainty_m=10,
            observed_at="2026-03-01T04:13:00Z", weapon_class="mortar_lt_120",
            azimuth_of_origin_deg=300.0, azimuth_uncertainty_deg=10,
        )  # fmt: skip
    assert len(_run([a, b])) == 2
    # the same report on the band's far edge (5 km) is the same fire
    near = GEOD.fwd(a_post[0], a_post[1], 120.0, 5_000.0)[:2]
    if second == "sighting":
        b_post = GEOD.fwd(near[0], near[1], 30.0, 3_500.0)[:2]
        b.update(lon=b_post[0], lat=b_post[1])
    else:
        b.update(lon=near[0], lat=near[1])
    assert len(_run([a, b])) == 1


def test_a_post_that_sees_a_burst_and_names_a_heavy_gun_is_not_believed_on_the_class() -> None:
    """A post sees fire 600 m from the line and names a tank gun. Seen leaving as single shots
    ("outgoing"), the class stands and breaches its withdrawal zone (P2). Seen as a burst, it is
    automatic fire, which no gun of the withdrawal lists fires: the class is not believed, as for
    a burst heard (on the armed-attack day, 5 false P2 breaches)."""
    shooter = across(-0.6)
    post = GEOD.fwd(shooter[0], shooter[1], 250.0, 3_000.0)[:2]
    seen = sighting(1, post, shooter, "TR", weapon_class="tank_artillery_lt_100")
    seen["sighting_type"] = "outgoing"
    (single,) = _run([seen])
    assert single.weapon_class == "tank_artillery_lt_100" and "P2" in {
        b.provision_id for b in single.breaches
    }
    seen["sighting_type"] = "burst"
    (burst,) = _run([seen])
    assert burst.weapon_class is None and "P2" not in {b.provision_id for b in burst.breaches}
    assert "P1" in {b.provision_id for b in burst.breaches}


def _one_round(launch: tuple[float, float], impact: tuple[float, float], semi_m: float) -> AcousticEvents:
    """One round heard where it left and where it fell (a blast at each end, located to
    `semi_m`), flying at 200 m/s; fired at the factories' default observation time."""
    _, _, d = GEOD.inv(launch[0], launch[1], impact[0], impact[1])
    ends = list(zip(launch, impact, strict=True))
    return blasts(["launch", "impact"], [FIRED_AT, FIRED_AT + d / 200.0], *ends, semi_m, [6, 12])


@pytest.mark.parametrize(
    ("flight_km", "semi_m", "weapon", "seen", "off_deg", "confirmed"),
    [
        (5.0, 15.0, "mortar_lt_120", "outgoing", 0.0, True),
        (5.0, 15.0, "mortar_lt_120", "impact", 0.0, True),  # the post saw it land
        (5.0, 15.0, "mortar_lt_120", "outgoing", 8.0, True),  # a bearing 8 degrees off (sigma 5)
        (5.0, 15.0, "mortar_lt_120", "outgoing", 15.0, False),  # 15 degrees off: not this round
        (5.0, 15.0, "mortar_lt_120", "impact at launch", 0.0, False),  # which end is which?
        (5.0, 15.0, None, "outgoing", 0.0, False),  # no weapon named: was it one round's flight?
        (5.0, 2_500.0, "mortar_lt_120", "outgoing", 0.0, False),  # ends known to kilometres
        (21.0, 15.0, "mortar_lt_120", "outgoing", 0.0, False),  # beyond a mortar's 7.1 km
        (21.0, 15.0, "artillery_100_plus", "outgoing", 0.0, True),  # within a gun's 30 km
    ],
)
def test_a_single_round_heard_at_both_ends_is_confirmed_by_a_post_that_saw_it(
    flight_km: float, semi_m: float, weapon: str | None, seen: str, off_deg: float, confirmed: bool
) -> None:
    """A mortar fires one round from 1.3 km inside the buffer strip; its launch and impact are
    heard (two blasts: a stray, alone) and a post sees it leave, or land. The post's sighting
    confirms the round: one event, the origin the launch blast's, the buffer strip breached,
    corroborated. On the code before, the sighting made an event of its own, with no origin and
    no attribution, and the round's blasts were dropped as a stray. A sighting that does not
    say which end it saw, or of a weapon that cannot fly so far, or off the round, does not."""
    agreement, geo = terms()
    launch = across(-1.3)
    impact = GEOD.fwd(launch[0], launch[1], 345.0, flight_km * 1000.0)[:2]  # across the line, here
    assert geo.signed_distance_m(np.array([impact[0]]), np.array([impact[1]]))[0] > 3_000.0
    target = impact if seen == "impact" else launch
    post = GEOD.fwd(target[0], target[1], 250.0, 1_500.0)[:2]  # off the round's line of flight
    obs = sighting(1, post, target, "DE", weapon_class=weapon, count=1)
    obs["sighting_type"] = seen.split()[0]
    obs["bearing_deg"] = round((obs["bearing_deg"] + off_deg) % 360.0, 1)
    if weapon is None:
        del obs["weapon_class"]
    (ev,) = run_pipeline([obs], _one_round(launch, impact, semi_m), agreement, geo)
    neg = next(p.code for p in agreement.parties if p.code != agreement.positive_side)
    if confirmed:
        assert ev.acoustic_ids == ["launch", "impact"]
        assert ev.observation_ids == ["test-sighting-1"]
        _, _, err = GEOD.inv(ev.origin_lon, ev.origin_lat, launch[0], launch[1])
        assert err < 50.0 and not ev.placed_at_origin
        assert ev.attribution.probs is not None and ev.attribution.probs[neg] > 0.99
        assert "P6" in [b.provision_id for b in ev.breaches]
        assert ev.grade.level == "corroborated"  # a post and the sensors: two kinds
    else:
        assert ev.acoustic_ids == [] and ev.observation_ids == ["test-sighting-1"]
        assert ev.grade.level == "reported"


def _battery(
    first: int, origin: tuple[float, float], rounds: int, start_s: float, semi_m: float = 300.0
) -> list[dict[str, Any]]:
    """A mortar battery's rounds tracked by one radar, 6 s apart from `start_s` after the
    factories' time, each origin known to `semi_m` (95%), falling 4 km across the line."""
    impact = GEOD.fwd(origin[0], origin[1], 345.0, 5_000.0)[:2]
    out = []
    for k in range(rounds):
        track = radar(first + k, origin, impact, semi_m, observed_at=iso(FIRED_AT + start_s + 6.0 * k))
        track["weapon_class"] = "mortar_lt_120"
        out.append(track)
    return out


def test_two_batteries_a_kilometre_and_a_half_apart_are_two_fires() -> None:
    """Two mortar batteries 1.4 km apart, one in the buffer strip and one beyond it, fire within a
    minute of each other; radar tracks each to 300 m. Two events, each with its own origin: only
    the first breaches the buffer strip. Tracks within 1.5 km and two minutes were one barrage,
    whose origin lay between the two, and one of the two fires was lost."""
    _, geo = terms()
    inside = across(-1.2)
    beyond = GEOD.fwd(inside[0], inside[1], 165.0, 1_400.0)[:2]  # away from the line, here
    assert geo.signed_distance_m(np.array([beyond[0]]), np.array([beyond[1]]))[0] < -2_300.0
    events = _run([*_battery(1, inside, 2, 0.0), *_battery(10, beyond, 5, 40.0)])
    assert len(events) == 2
    for ev, (where, n, breach) in zip(events, [(inside, 2, True), (beyond, 5, False)], strict=True):
        _, _, err = GEOD.inv(ev.origin_lon, ev.origin_lat, where[0], where[1])
        assert err < 250.0 and ev.rounds == n
        assert ("P6" in [b.provision_id for b in ev.breaches]) is breach


def test_another_batterys_launches_heard_nearby_do_not_move_a_tracked_origin() -> None:
    """A battery in the buffer strip is tracked by radar; another, 2.2 km away and beyond the
    strip, is heard launching at the same time (blasts located to 15 m) but not tracked. The
    tracked fire keeps its origin and breaches the strip; the other's blasts are not its own.
    Any launch group within 2.5 km was taken, and its tight blasts pulled the origin to it."""
    agreement, geo = terms()
    inside = across(-1.2)
    beyond = GEOD.fwd(inside[0], inside[1], 165.0, 2_200.0)[:2]
    heard = blasts([f"b{k}" for k in range(6)], FIRED_AT + 5.0 + 6.0 * np.arange(6), *beyond)
    events = run_pipeline(_battery(1, inside, 3, 0.0), heard, agreement, geo)
    tracked = next(ev for ev in events if "test-radar_track-1" in ev.observation_ids)
    _, _, err = GEOD.inv(tracked.origin_lon, tracked.origin_lat, inside[0], inside[1])
    assert err < 250.0 and tracked.acoustic_ids == []
    assert "P6" in [b.provision_id for b in tracked.breaches]


def test_a_single_round_is_paired_with_its_own_impact_not_taken_for_an_earlier_ones() -> None:
    """Three lone blasts: one far across the line, then, 147 s later and 28 km away, a mortar's
    launch in the buffer strip, and its impact 18 s after that, 3.6 km across the line; a post
    sees the launch. Each blast alone says nothing of its rhythm, so every pairing costs the
    same: the shorter flight is taken first, and the post confirms the round. The earlier blast
    was taken first, the launch became its impact, and the round was lost with its P6."""
    agreement, geo = terms()
    launch = across(-1.3)
    impact = GEOD.fwd(launch[0], launch[1], 345.0, 3_600.0)[:2]
    far = GEOD.fwd(launch[0], launch[1], 345.0, 28_000.0)[:2]
    heard = blasts(
        ["far", "launch", "impact"], FIRED_AT + np.array([-147.0, 0.0, 18.0]),
        *zip(far, launch, impact, strict=True), n_detections=[8, 5, 13],
    )  # fmt: skip
    post = GEOD.fwd(launch[0], launch[1], 250.0, 1_500.0)[:2]
    obs = sighting(1, post, launch, "DE", weapon_class="mortar_lt_120", count=1)
    obs["sighting_type"] = "outgoing"
    (ev,) = run_pipeline([obs], heard, agreement, geo)
    assert ev.acoustic_ids == ["launch", "impact"]
    assert "P6" in [b.provision_id for b in ev.breaches]


def test_a_video_joins_the_fire_it_shows_not_a_sighting_of_other_fire_whose_window_opened_first() -> None:
    """A post sees impacts at 04:20; another nation's post, its bearing parallel to the first's
    and 4 km off it, sees other impacts at 04:28; a video of impacts there is dated 04:29, give
    or take 10 minutes, placed to 4 km. The video is the second fire's: it joins it. Grouped in
    the order their windows open, the video's (from 04:19) came first and took the first post's
    sighting."""
    target, post, _, _ = _two_posts_and_a_claim()
    there = GEOD.fwd(target[0], target[1], 210.0, 4_000.0)[:2]
    other = GEOD.fwd(there[0], there[1], 120.0, 6_000.0)[:2]
    video = make(
        "osint", 8, lon=there[0], lat=there[1], location_uncertainty_m=4_000, nation="US",
        observed_at="2026-03-01T04:29:00Z", time_precision_s=600.0,
    )  # fmt: skip
    first = sighting(1, post, target, "US", observed_at="2026-03-01T04:20:00Z")
    second = sighting(2, other, there, "TR", observed_at="2026-03-01T04:28:00Z")
    events = _run([first, second, video])
    assert sorted(sorted(ev.observation_ids) for ev in events) == [
        ["test-osint-8", "test-sighting-2"],
        ["test-sighting-1"],
    ]


def test_two_sightings_from_one_post_85_degrees_apart_are_two_fires() -> None:
    """A post sees a burst 2-5 km off to the south-east, and three minutes later one 5-10 km
    off to the south-west: the two bearings meet only at the post. Each sighting's place, a
    Gaussian as long as its band, let the other's bearing in, and the two made one event
    placed at the post itself."""
    post = across(-1.0)
    fire = dict(sighting_type="burst", weapon_class="small_arms")
    near = sighting(1, post, GEOD.fwd(post[0], post[1], 130.0, 3_000.0)[:2], "TR")
    near.update(fire, observed_at="2026-03-01T08:57:43Z", distance_band={"min_m": 2_000.0, "max_m": 5_000.0})
    far = sighting(2, post, GEOD.fwd(post[0], post[1], 215.0, 7_000.0)[:2], "TR")
    far.update(fire, observed_at="2026-03-01T09:00:16Z", distance_band={"min_m": 5_000.0, "max_m": 10_000.0})
    events = _run([near, far])
    assert sorted(ev.observation_ids for ev in events) == [["test-sighting-1"], ["test-sighting-2"]]
    for ev in events:
        assert GEOD.inv(post[0], post[1], ev.lon, ev.lat)[2] > 1_500.0
