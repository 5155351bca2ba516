"""Bursts of fire located from the rhythm of their arrivals: found where each shot reaches too
few sensors to be located alone, placed within their stated ellipses, never made from random
arrivals or a barrage's slow rounds, and carried by the pipeline into a fire event with its
origin, its breaches and every arrival it rests on."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from pyproj import Geod
from sqlalchemy import select

from garant.services.agreements import load_agreement_file
from garant.services.demo import demo_files
from garant.services.intake import ingest_with_retry
from garant.services.verification import update_verification
from garant.store import verified as vstore
from garant.store.db import Database
from garant.store.schema import events, violations
from garant.verify.acoustic import semi_major_95
from garant.verify.bursts import HEARD_M, BurstParams, _Run, _wrap, locate_bursts
from garant.verify.evidence import AcousticEvents
from garant.verify.pipeline import run_pipeline

from .factories import make
from .verify_factories import across, iso, radar, sighting, terms

C = 343.0
SIGMA = 0.02
GEOD = Geod(ellps="WGS84")


def _rows(n_per_row: int = 14) -> tuple[np.ndarray, np.ndarray]:
    """Sensors in two staggered rows 5 km apart, 3 km apart along each row."""
    x = np.r_[np.arange(n_per_row) * 3_000.0, np.arange(n_per_row) * 3_000.0 + 1_500.0]
    y = np.r_[np.zeros(n_per_row), np.full(n_per_row, 5_000.0)]
    return x, y


def _burst(
    rng: np.random.Generator,
    sx: np.ndarray,
    sy: np.ndarray,
    src: tuple[float, float],
    t0: float,
    shots: int = 40,
    interval: tuple[float, float] = (0.15, 0.45),
) -> tuple[list[int], list[float], list[float]]:
    """Each sensor hears each shot with a probability that falls with range (half at 3.5 km)."""
    times = t0 + np.cumsum(rng.uniform(*interval, shots))
    d = np.hypot(sx - src[0], sy - src[1])
    st, t, amp = [], [], []
    for s in range(len(sx)):
        heard = rng.random(shots) < 1.0 / (1.0 + math.exp((d[s] - 3_500.0) / 400.0))
        for when in times[heard]:
            st.append(s)
            t.append(float(when + d[s] / C + rng.normal(0.0, SIGMA)))
            amp.append(float(1_000.0 / d[s] * rng.lognormal(0.0, 0.3)))
    return st, t, amp


def test_bursts_heard_by_three_or_four_sensors_are_located_within_their_ellipses() -> None:
    rng = np.random.default_rng(11)
    sx, sy = _rows()
    found, inside, errors = 0, 0, []
    trials = 30
    for k in range(trials):
        src = (rng.uniform(6_000.0, 34_000.0), rng.uniform(1_000.0, 4_000.0))
        st, t, amp = _burst(rng, sx, sy, src, 1_000.0 + 600.0 * k)
        b = locate_bursts(sx, sy, np.array(st), np.array(t), np.array(amp), BurstParams(speed_ms=C))
        if len(b) != 1:
            continue
        found += 1
        assert b.n_stations[0] >= 3 and len(b.members[0]) >= 3 * 3
        dx = np.array([b.x[0] - src[0], b.y[0] - src[1]])
        errors.append(float(np.hypot(*dx)))
        inside += float(dx @ np.linalg.solve(b.cov[0], dx)) <= 5.991  # chi-square 95%, 2 dof
        assert 1_000.0 + 600.0 * k - 1.0 < b.t0[0] < 1_000.0 + 600.0 * k + 1.0
    assert found >= 0.8 * trials
    assert np.median(errors) < 50.0
    assert inside >= 0.85 * found


@given(
    st.lists(st.floats(-30.0, 390.0) | st.just(math.nan), min_size=3, max_size=60),
    st.lists(st.tuples(st.floats(-5e3, 5e3), st.floats(-5e3, 5e3)), min_size=1, max_size=40),
    st.floats(0.5, 30.0),
)
def test_the_arrivals_pointing_at_a_place_are_counted_as_defined(
    azimuths: list[float], points: list[tuple[float, float]], sigma_deg: float
) -> None:
    """The scan's count (binary searches on the sorted azimuths, once more either side of the
    circle) is the definition: arrivals whose azimuth is within 2 sigma of the direction to the
    place, whatever turn the azimuths are given in (grid north can take them below 0 or past 360)."""
    az = np.radians(azimuths)
    run = _Run(0, np.arange(len(az)), np.arange(len(az), dtype=np.float64), 1.0, az, math.radians(sigma_deg))
    px, py = np.array(points).T
    to = np.arctan2(px - 100.0, py + 50.0)
    defined = np.sum(np.abs(_wrap(az[None, :] - to[:, None])) <= 2.0 * run.az_sigma, axis=1)
    assert np.array_equal(run.pointing(100.0, -50.0, px, py), defined)


def test_bursts_whose_sensors_share_few_shots_say_how_uncertain_they_are() -> None:
    """Sensors 3-4 km off hear one shot in four or five, so two sensors share few shots and a
    chance coincidence can outscore the true lag: the place may be hundreds of metres off, and
    its ellipse must say so (the places that score nearly as well widen it; without that, 27% of
    these were inside their 95% ellipse)."""
    rng = np.random.default_rng(11)
    sx, sy = _rows()
    found, inside = 0, 0
    trials = 40
    for k in range(trials):
        src = (rng.uniform(6_000.0, 34_000.0), rng.uniform(1_000.0, 4_000.0))
        times = 1_000.0 + 600.0 * k + np.cumsum(rng.uniform(0.15, 0.45, 40))
        d = np.hypot(sx - src[0], sy - src[1])
        st, t = [], []
        for s in range(len(sx)):
            heard = times[rng.random(40) < 1.0 / (1.0 + math.exp((d[s] - 2_500.0) / 400.0))]
            st += [s] * len(heard)
            t += list(heard + d[s] / C + rng.normal(0.0, SIGMA, len(heard)))
        b = locate_bursts(sx, sy, np.array(st), np.array(t), None, BurstParams(speed_ms=C))
        if len(b) != 1:
            continue
        found += 1
        dx = np.array([b.x[0] - src[0], b.y[0] - src[1]])
        inside += float(dx @ np.linalg.solve(b.cov[0], dx)) <= 5.991
    assert found >= 0.6 * trials
    assert inside >= 0.85 * found


def test_random_arrivals_and_a_barrages_slow_rounds_make_no_burst() -> None:
    rng = np.random.default_rng(5)
    sx, sy = _rows()
    # one false arrival every 20 s at every sensor for an hour
    st = list(np.repeat(np.arange(len(sx)), 180))
    t = list(rng.uniform(0.0, 3_600.0, len(st)))
    amp = list(rng.lognormal(-2.0, 0.5, len(st)))
    # a mortar firing every 4-6 s for two minutes, heard by the sensors near it
    s2, t2, a2 = _burst(rng, sx, sy, (20_000.0, 2_500.0), 4_000.0, shots=25, interval=(4.0, 6.0))
    b = locate_bursts(
        sx, sy, np.array(st + s2), np.array(t + t2), np.array(amp + a2), BurstParams(speed_ms=C)
    )
    assert len(b) == 0
    # the same mortar at a rifle's cadence is a burst: the rule is the cadence, not the place
    s3, t3, a3 = _burst(rng, sx, sy, (20_000.0, 2_500.0), 4_000.0, shots=25)
    b = locate_bursts(
        sx, sy, np.array(st + s3), np.array(t + t3), np.array(amp + a3), BurstParams(speed_ms=C)
    )
    assert len(b) == 1


def test_two_sensors_place_a_burst_when_one_of_them_is_an_array() -> None:
    """A rifle heard by two sensors only: their lag draws a hyperbola, and an array's bearings
    cross it. Placed in most trials, within its ellipse; without the bearings, no point."""
    rng = np.random.default_rng(21)
    sx, sy = np.array([0.0, 3_000.0, 20_000.0, -20_000.0]), np.array([0.0, 0.0, 5_000.0, 5_000.0])
    trials, found, inside, errors = 20, 0, 0, []
    for k in range(trials):
        src = (rng.uniform(-500.0, 3_500.0), rng.uniform(800.0, 2_500.0))
        t0 = 1_000.0 + 600.0 * k
        times = t0 + np.cumsum(rng.uniform(0.15, 0.45, 30))
        d = np.hypot(sx[:2] - src[0], sy[:2] - src[1])
        station = np.repeat([0, 1], 30)
        t = np.concatenate([times + d[s] / C + rng.normal(0.0, SIGMA, 30) for s in range(2)])
        # a false arrival a minute at each of the four sensors
        station = np.r_[station, np.repeat(np.arange(4), 10)]
        t = np.r_[t, rng.uniform(t0 - 300.0, t0 + 300.0, 40)]
        truth_az = math.degrees(math.atan2(src[0] - sx[0], src[1] - sy[0]))
        az = np.where(station == 0, truth_az + rng.normal(0.0, 4.0, len(t)), np.nan)
        az[30:] = np.where(station[30:] == 0, rng.uniform(0.0, 360.0, len(t) - 30), np.nan)
        sigma = np.where(station == 0, 4.0, np.nan)
        params = BurstParams(speed_ms=C, timing_sigma_s=SIGMA)
        # without the bearings, two single sensors give at best a curve, never a point
        assert all(arc is not None for arc in locate_bursts(sx, sy, station, t, None, params).arcs)
        b = locate_bursts(sx, sy, station, t, None, params, az, sigma)
        if len(b) != 1:
            continue
        found += 1
        assert b.n_stations[0] == 2
        dx = np.array([b.x[0] - src[0], b.y[0] - src[1]])
        errors.append(float(np.hypot(*dx)))
        inside += float(dx @ np.linalg.solve(b.cov[0], dx)) <= 5.991
    assert found >= 0.8 * trials
    assert np.median(errors) < 100.0
    assert inside >= 0.85 * found


def _detections(
    shooter: tuple[float, float],
    t0: float,
    rng: np.random.Generator,
    prefix: str = "det",
    ring: list[tuple[float, float]] | None = None,
) -> list[dict[str, Any]]:
    """A rifleman's 40 shots heard by the sensors within a few kilometres of him (a ring of its
    own for each `prefix`; else at the azimuths and ranges of `ring`)."""
    out = []
    sensor = "ac" if prefix == "det" else f"{prefix}-ac"
    ring = ring or [(az, 2_000.0 + 700.0 * (k % 3)) for k, az in enumerate(range(0, 360, 45))]
    times = t0 + np.cumsum(rng.uniform(0.15, 0.45, 40))
    for k, (az, dist) in enumerate(ring):
        slon, slat, _ = GEOD.fwd(shooter[0], shooter[1], az, dist)
        heard = rng.random(len(times)) < (0.9 if dist < 3_000.0 else 0.5)
        for n, when in enumerate(times[heard]):
            arrival = iso(when + dist / C + rng.normal(0.0, SIGMA))
            out.append(
                {
                    "kind": "acoustic_detection",
                    "client_id": f"{prefix}-{k}-{n}",
                    "sensor_id": f"{sensor}-{k}",
                    "source_id": f"{sensor}-{k}",
                    "observed_at": arrival,
                    "lon": slon,
                    "lat": slat,
                    "nation": "US",
                    "location_uncertainty_m": 5.0,
                    "reliability": "A",
                    "credibility": 2,
                    "releasability": "mechanism",
                    "amplitude": round(1_000.0 / dist, 4),
                }
            )
    return out


def test_a_burst_by_the_line_is_a_fire_event_that_breaches_the_buffer_and_names_its_party() -> None:
    agreement, geo = terms()
    rng = np.random.default_rng(3)
    shooter = across(-0.6)  # 600 m on the negative party's side: inside the 2 km buffer strip
    loose = _detections(shooter, 1_772_400_000.0, rng)
    events = run_pipeline([], AcousticEvents.empty(), agreement, geo, loose_detections=loose)
    assert len(events) == 1
    ev = events[0]
    assert ev.kind == "fire" and ev.rounds >= 20
    _, _, err = GEOD.inv(ev.origin_lon, ev.origin_lat, shooter[0], shooter[1])
    assert err < 100.0
    # nobody saw where its shots fell: placed at the firing point, with the firing point's ellipse
    assert ev.placed_at_origin and (ev.lon, ev.lat) == (ev.origin_lon, ev.origin_lat)
    assert ev.ellipse == ev.origin_ellipse and ev.ellipse[0] < 500.0
    assert {b.provision_id for b in ev.breaches} == {"P1", "P6"}
    negative = next(p.code for p in agreement.parties if p.code != agreement.positive_side)
    assert ev.attribution.probs[negative] > 0.95
    assert sorted(ev.observation_ids) == sorted(d["client_id"] for d in loose)
    (again,) = run_pipeline([], AcousticEvents.empty(), agreement, geo, loose_detections=loose[::-1])
    assert (again.origin_lon, again.origin_lat, again.rounds) == (ev.origin_lon, ev.origin_lat, ev.rounds)
    assert ev.grade.technical and ev.grade.level == "reported"
    # without the loose arrivals there is nothing
    assert run_pipeline([], AcousticEvents.empty(), agreement, geo) == []
    # a post that takes the rifle for a tank gun is not believed against the cadence heard: no
    # withdrawal-zone breach (P2), which the same sighting alone does make
    post = GEOD.fwd(shooter[0], shooter[1], 250.0, 3_000.0)[:2]
    tank = sighting(
        1, post, shooter, "TR", observed_at=iso(1_772_400_005.0), weapon_class="tank_artillery_lt_100"
    )
    tank["sighting_type"] = "outgoing"
    (both,) = run_pipeline([tank], AcousticEvents.empty(), agreement, geo, loose_detections=loose)
    assert both.weapon_class is None and {b.provision_id for b in both.breaches} == {"P1", "P6"}
    assert both.grade.level == "corroborated" and both.placed_at_origin
    (alone,) = run_pipeline([tank], AcousticEvents.empty(), agreement, geo)
    assert alone.weapon_class == "tank_artillery_lt_100" and "P2" in {b.provision_id for b in alone.breaches}


def test_the_server_locates_a_burst_from_the_stored_arrivals_and_keeps_it_on_a_rerun(db: Database) -> None:
    load_agreement_file(db, demo_files()[0])
    loose = _detections(across(-0.6), 1_772_400_000.0, np.random.default_rng(3))
    assert not ingest_with_retry(db, loose).errors
    first = update_verification(db, bursts=BurstParams(speed_ms=C))
    assert first.events_created == 1
    with db.read() as conn:
        (row,) = conn.execute(select(events).where(events.c.kind == "fire")).all()
        reports, parts = vstore.members_of(conn, row.id)
        breached = {v.provision_id for v in conn.execute(select(violations)).all()}
    assert len(reports) == len(loose) and parts == []
    assert breached == {"P1", "P6"}
    # a later report elsewhere re-runs the pipeline over the same hours: the burst stays one event
    assert not ingest_with_retry(db, [make("weapon_presence", 1, observed_at="2026-03-01T22:10:00Z")]).errors
    update_verification(db, bursts=BurstParams(speed_ms=C))
    with db.read() as conn:
        fire = conn.execute(select(events.c.id, events.c.revision).where(events.c.kind == "fire")).all()
    assert [(r.id, r.revision) for r in fire] == [(row.id, row.revision)]


def test_a_burst_whose_lags_hardly_fix_a_place_is_not_located() -> None:
    """Three sensors almost in line with a rifleman 5 km beyond the last: every lag is nearly the
    sensors' spacing over the speed of sound, whatever the range, so the fit runs off along the
    line (without the rule: 358 km away, a 95% ellipse of 189,000 km). A place no better known
    than the sensors' own spread is no location; its arrivals stay loose."""
    rng = np.random.default_rng(3)
    sx, sy = np.array([0.0, 1_500.0, 3_000.0]), np.array([0.0, 10.0, -10.0])
    times = 100.0 + np.cumsum(rng.uniform(0.15, 0.45, 40))
    d = np.hypot(sx - 8_000.0, sy - 60.0)
    station = np.repeat(np.arange(3), 40)
    t = np.concatenate([times + d[s] / C + rng.normal(0.0, SIGMA, 40) for s in range(3)])
    assert len(locate_bursts(sx, sy, station, t, None, BurstParams(speed_ms=C, timing_sigma_s=SIGMA))) == 0


def _fire(events: list[Any]) -> list[Any]:
    return [ev for ev in events if ev.kind == "fire"]


def test_a_report_whose_time_is_good_to_minutes_joins_the_burst_it_speaks_of() -> None:
    """An OSINT video of the firefight, dated 04:23 give or take ten minutes, of a burst that
    ended at 04:20:50: one event of both (before, the report's stated time alone was compared,
    and the burst and the video were two events of one firefight)."""
    agreement, geo = terms()
    shooter = across(-0.6)
    t0 = 1_772_425_236.0  # 2026-03-02T04:20:36Z
    loose = _detections(shooter, t0, np.random.default_rng(3))
    near = GEOD.fwd(shooter[0], shooter[1], 280.0, 1_000.0)[:2]
    video = make(
        "osint", 1, lon=near[0], lat=near[1], location_uncertainty_m=4_000, reliability="C", credibility=3,
        observed_at=iso(t0 + 148.0), time_precision_s=600.0,
    )  # fmt: skip
    (ev,) = _fire(run_pipeline([video], AcousticEvents.empty(), agreement, geo, loose_detections=loose))
    assert "test-osint-1" in ev.observation_ids and len(ev.observation_ids) == len(loose) + 1
    assert ev.grade.level == "corroborated"
    assert {b.provision_id for b in ev.breaches} == {"P1", "P6"}


def test_two_riflemen_a_kilometre_apart_are_two_events_and_one_rifleman_firing_twice_is_one() -> None:
    """Three minutes apart, a kilometre apart: two shooters. The same place 45 s later: one."""
    agreement, geo = terms()
    rng = np.random.default_rng(4)
    here = across(-0.6)
    there = across(-0.6, at=(here[0], here[1] + 0.009))  # 1 km along the line
    t0 = 1_772_400_000.0
    first = _detections(here, t0, rng)
    other = _detections(there, t0 + 180.0, rng, prefix="far")
    again = _detections(here, t0 + 45.0, rng, prefix="again")
    two = _fire(run_pipeline([], AcousticEvents.empty(), agreement, geo, loose_detections=first + other))
    assert len(two) == 2
    for ev, shooter in zip(sorted(two, key=lambda e: e.t_start), (here, there), strict=True):
        _, _, err = GEOD.inv(ev.origin_lon, ev.origin_lat, shooter[0], shooter[1])
        assert err < 150.0
    one = _fire(run_pipeline([], AcousticEvents.empty(), agreement, geo, loose_detections=first + again))
    assert len(one) == 1 and len(one[0].observation_ids) == len(first) + len(again)


def test_a_burst_where_a_barrage_lands_is_fire_from_the_other_side_not_the_barrage() -> None:
    """Shells from 8 km inside the positive party's area land by a rifleman of the other party
    who is firing at that moment: two fires, each answering to its own side (the burst used to
    join the barrage at its impact, and one event then held both parties' fire). A salvo's
    impacts, which ripple like a burst, are the salvo's; a burst after they can have landed is
    not."""
    agreement, geo = terms()
    shooter = across(-0.6)
    t0 = 1_772_400_000.0
    loose = _detections(shooter, t0, np.random.default_rng(3))
    track = radar(1, across(8.0, at=shooter), shooter, 150.0, observed_at=iso(t0 + 3.0))
    fire = _fire(run_pipeline([track], AcousticEvents.empty(), agreement, geo, loose_detections=loose))
    assert len(fire) == 2
    negative = next(p.code for p in agreement.parties if p.code != agreement.positive_side)
    burst = next(ev for ev in fire if "test-radar_track-1" not in ev.observation_ids)
    barrage = next(ev for ev in fire if "test-radar_track-1" in ev.observation_ids)
    assert burst.attribution.probs[negative] > 0.95
    assert barrage.attribution.probs[agreement.positive_side] > 0.95
    # a rocket launcher's salvo ripples: its impacts, half a second apart, are heard as a burst
    # at the impact of the radar's tracks, and are the salvo's own (one event, the launcher's)
    salvo = [
        radar(k, across(8.0, at=shooter), shooter, 150.0, observed_at=iso(t0 - 30.0 + 0.5 * k))
        for k in range(12)
    ]
    for track in salvo:
        track["weapon_class"] = "mlrs"
    (one,) = _fire(run_pipeline(salvo, AcousticEvents.empty(), agreement, geo, loose_detections=loose))
    assert len(one.observation_ids) == len(loose) + len(salvo)
    assert one.attribution.probs[agreement.positive_side] > 0.95
    # the rifleman firing back four minutes after the last launch, when even a rocket at 150 m/s
    # has landed (and the minute of slack is past), is no impact of the salvo: his own fire
    later = _detections(shooter, t0 + 240.0, np.random.default_rng(3))
    fire = _fire(run_pipeline(salvo, AcousticEvents.empty(), agreement, geo, loose_detections=later))
    assert len(fire) == 2
    rifle = next(ev for ev in fire if not any("radar" in o for o in ev.observation_ids))
    assert len(rifle.observation_ids) == len(later) and rifle.attribution.probs[negative] > 0.95
    assert "P6" in {b.provision_id for b in rifle.breaches}
    # a mortar's rounds 5 s apart, each tracked and each launch located: a track and its own
    # launch blast milliseconds apart are no ripple, and the rifle stays a fire of its own
    origin = across(8.0, at=shooter)
    tube = [
        radar(20 + k, origin, shooter, 150.0, observed_at=iso(t0 - 30.0 + 5.0 * k), time_precision_s=0.01)
        for k in range(6)
    ]
    launches = AcousticEvents(
        ids=[f"launch-{k}" for k in range(6)], t=t0 - 30.0 + 5.0 * np.arange(6) + 0.004,
        lon=np.full(6, origin[0]), lat=np.full(6, origin[1]), semi_major_m=np.full(6, 150.0),
        semi_minor_m=np.full(6, 100.0), azimuth_deg=np.zeros(6), n_detections=np.full(6, 7), detections={},
    )  # fmt: skip
    fire = _fire(run_pipeline(tube, launches, agreement, geo, loose_detections=loose))
    assert len(fire) == 2
    rifle = next(ev for ev in fire if not ev.acoustic_ids)
    assert len(rifle.observation_ids) == len(loose) and rifle.attribution.probs[negative] > 0.95


def test_a_posts_report_of_a_burst_minutes_earlier_is_another_fire() -> None:
    """A post reports a burst from 01:21:35 to 01:22:08 (good to 20 s); a rifle is heard from
    01:24:43 near where it looked. Two fires: the burst is timed to the second, and three minutes
    is not the same firing (it was joined, and the post's distance band then moved the burst's
    origin across the line). Seen while it fires, the post's report is the same fire; a video
    good to ten minutes does not widen the burst's time to a report five minutes later."""
    agreement, geo = terms()
    shooter = across(-0.6)
    t0 = 1_772_414_683.0  # 01:24:43
    loose = _detections(shooter, t0, np.random.default_rng(3))
    post = GEOD.fwd(shooter[0], shooter[1], 40.0, 3_000.0)[:2]
    earlier = sighting(
        1, post, shooter, "PL", weapon_class="small_arms", time_precision_s=20.0,
        observed_at=iso(t0 - 188.0), observed_until=iso(t0 - 155.0),
    )  # fmt: skip
    earlier["sighting_type"] = "burst"
    fire = _fire(run_pipeline([earlier], AcousticEvents.empty(), agreement, geo, loose_detections=loose))
    assert len(fire) == 2
    meanwhile = {**earlier, "observed_at": iso(t0 + 2.0), "observed_until": iso(t0 + 9.0)}
    (one,) = _fire(run_pipeline([meanwhile], AcousticEvents.empty(), agreement, geo, loose_detections=loose))
    assert "test-sighting-1" in one.observation_ids and one.grade.level == "corroborated"
    # nor does a video of the firefight, good to ten minutes, stretch the burst's own time: the
    # post's report of a burst five minutes later is still another fire
    near = GEOD.fwd(shooter[0], shooter[1], 280.0, 1_000.0)[:2]
    video = make(
        "osint", 1, lon=near[0], lat=near[1], location_uncertainty_m=4_000, reliability="C", credibility=3,
        observed_at=iso(t0 + 120.0), time_precision_s=600.0,
    )  # fmt: skip
    later = {**earlier, "observed_at": iso(t0 + 300.0), "observed_until": iso(t0 + 320.0)}
    fire = _fire(run_pipeline([video, later], AcousticEvents.empty(), agreement, geo, loose_detections=loose))
    assert len(fire) == 2
    burst = next(ev for ev in fire if "test-osint-1" in ev.observation_ids)
    assert "test-sighting-1" not in burst.observation_ids and len(burst.observation_ids) == len(loose) + 1


def test_a_post_that_sees_the_other_side_fire_back_does_not_join_the_heard_burst() -> None:
    """An exchange of fire: a rifleman 600 m on one side of the line is heard; seconds later a
    post 3 km away sees a rifleman 800 m on the other side fire, 25 degrees off its bearing to
    the first. The post's bearing is compared with the heard burst's firing point, not with the
    kilometres where its shots may land: two fires, each on its own side. Seen looking at the
    heard rifleman, the post's report is the same fire."""
    agreement, geo = terms()
    heard = across(-0.6)
    # 1.4 km from the heard rifleman, straight across the line
    azimuths = np.arange(0.0, 360.0, 1.0)
    lon, lat, _ = GEOD.fwd(np.full(360, heard[0]), np.full(360, heard[1]), azimuths, np.full(360, 1_400.0))
    k = int(np.argmax(geo.signed_distance_m(np.asarray(lon), np.asarray(lat))))
    seen = (float(lon[k]), float(lat[k]))
    assert geo.signed_distance_m(np.array([seen[0]]), np.array([seen[1]]))[0] > 700.0
    t0 = 1_772_414_683.0
    loose = _detections(heard, t0, np.random.default_rng(3))
    post = GEOD.fwd(seen[0], seen[1], azimuths[k] + 90.0, 3_000.0)[:2]

    def burst_seen(target: tuple[float, float]) -> dict[str, Any]:
        obs = sighting(
            1, post, target, "PL", weapon_class="small_arms", time_precision_s=20.0,
            observed_at=iso(t0 + 25.0), observed_until=iso(t0 + 40.0),
        )  # fmt: skip
        obs["sighting_type"] = "burst"
        return obs

    fire = _fire(
        run_pipeline([burst_seen(seen)], AcousticEvents.empty(), agreement, geo, loose_detections=loose)
    )
    assert len(fire) == 2
    by_post = next(ev for ev in fire if "test-sighting-1" in ev.observation_ids)
    assert len(by_post.observation_ids) == 1
    assert by_post.attribution.probs is not None
    assert by_post.attribution.probs[agreement.positive_side] > 0.5
    burst = next(ev for ev in fire if ev is not by_post)
    assert burst.attribution.probs is not None and burst.attribution.probs[agreement.positive_side] < 0.05
    (one,) = _fire(
        run_pipeline([burst_seen(heard)], AcousticEvents.empty(), agreement, geo, loose_detections=loose)
    )
    assert "test-sighting-1" in one.observation_ids and one.grade.level == "corroborated"


def test_a_ripple_tracked_by_radar_keeps_its_heavy_class_when_its_launch_is_heard_as_a_burst() -> None:
    """A rocket launcher 20 km inside the negative party's area fires a ripple, tracked by radar
    as MLRS; its launches are heard as a burst from the same place. The burst is the ripple's
    sound, not a rifle's: the class stays MLRS and the launcher is inside the MLRS withdrawal
    zone (P2). The rule that a burst discredits a heavy class had made it no class at all."""
    agreement, geo = terms()
    launcher, target = across(-20.0), across(10.0)
    t0 = 1_772_400_000.0
    loose = _detections(launcher, t0, np.random.default_rng(3))
    tracks = [radar(k, launcher, target, 150.0, observed_at=iso(t0 + 0.3 * k)) for k in range(12)]
    for t in tracks:
        t["weapon_class"] = "mlrs"
    (ev,) = _fire(run_pipeline(tracks, AcousticEvents.empty(), agreement, geo, loose_detections=loose))
    assert any(i.startswith("det-") for i in ev.observation_ids)  # the burst joined the ripple
    assert ev.weapon_class == "mlrs" and "P2" in {b.provision_id for b in ev.breaches}


def test_a_few_rifle_shots_located_as_blasts_do_not_make_a_burst_a_ripple() -> None:
    """The rifleman's burst again, six of its shots also located as blasts (heard by enough
    sensors), and a post that takes it for a tank gun: still not believed. Only radar tracks, or
    launches paired with their impacts, make a burst the sound of a heavy weapon's ripple."""
    agreement, geo = terms()
    shooter = across(-0.6)
    t0 = 1_772_400_000.0
    loose = _detections(shooter, t0, np.random.default_rng(3))
    n = 6  # enough located blasts to be a fire event of their own
    shots = AcousticEvents(
        ids=[f"shot-{k}" for k in range(n)], t=t0 + 1.0 + 0.4 * np.arange(n), lon=np.full(n, shooter[0]),
        lat=np.full(n, shooter[1]), semi_major_m=np.full(n, 80.0), semi_minor_m=np.full(n, 60.0),
        azimuth_deg=np.zeros(n), n_detections=np.full(n, 4), detections={},
    )  # fmt: skip
    post = GEOD.fwd(shooter[0], shooter[1], 250.0, 3_000.0)[:2]
    tank = sighting(1, post, shooter, "TR", observed_at=iso(t0 + 5.0), weapon_class="tank_artillery_lt_100")
    tank["sighting_type"] = "outgoing"
    (ev,) = _fire(run_pipeline([tank], shots, agreement, geo, loose_detections=loose))
    assert len(ev.acoustic_ids) == n and "test-sighting-1" in ev.observation_ids
    assert any(i.startswith("det-") for i in ev.observation_ids)
    assert ev.weapon_class is None and "P2" not in {b.provision_id for b in ev.breaches}


def test_a_burst_takes_back_the_shots_the_acoustic_engine_located_alone() -> None:
    """A rifleman's burst heard at four sensors, two of whose streams the acoustic engine took as
    two located blasts (a few shots heard widely enough): too few blasts for a fire event, so
    they were left out, and the two streams left loose cannot place the burst. Given back, the
    arrivals place it: one fire event in the buffer strip, the two blasts its parts, the loose
    arrivals its observations."""
    agreement, geo = terms()
    shooter = across(-0.6)
    t0 = 1_772_400_000.0
    heard = [
        d
        for d in _detections(shooter, t0, np.random.default_rng(3))
        if d["sensor_id"] in {f"ac-{k}" for k in range(4)}
    ]
    by_id = {d["client_id"]: d for d in heard}
    taken = {k: [d["client_id"] for d in heard if d["sensor_id"] == f"ac-{k}"] for k in (2, 3)}
    loose = [d for d in heard if d["sensor_id"] in ("ac-0", "ac-1")]
    blasts = AcousticEvents(
        ids=["blast-2", "blast-3"], t=np.array([t0 + 1.0, t0 + 2.0]), lon=np.full(2, shooter[0]),
        lat=np.full(2, shooter[1]), semi_major_m=np.full(2, 80.0), semi_minor_m=np.full(2, 60.0),
        azimuth_deg=np.zeros(2), n_detections=np.array([len(taken[2]), len(taken[3])]),
        detections={"blast-2": taken[2], "blast-3": taken[3]},
    )  # fmt: skip
    assert run_pipeline([], blasts, agreement, geo, loose_detections=loose) == []
    asked: list[list[str]] = []

    def fetch(ids: list[str]) -> list[dict[str, Any]]:
        asked.append(ids)
        return [by_id[i] for i in ids]

    (ev,) = run_pipeline([], blasts, agreement, geo, loose_detections=loose, detections_of=fetch)
    assert asked == [sorted(taken[2] + taken[3])]
    assert ev.acoustic_ids == ["blast-2", "blast-3"]
    assert sorted(ev.observation_ids) == sorted(d["client_id"] for d in loose)
    assert {b.provision_id for b in ev.breaches} == {"P1", "P6"}
    _, _, err = GEOD.inv(ev.origin_lon, ev.origin_lat, shooter[0], shooter[1])
    assert err < 150.0


def test_the_store_returns_the_detections_asked_for_by_id(db: Database) -> None:
    """What the server's pipeline fetches for the arrivals of stray blasts: those detections,
    as accepted and with their ids; not other kinds, not ids it does not hold."""
    load_agreement_file(db, demo_files()[0])
    arrivals = _detections(across(-0.6), 1_772_400_000.0, np.random.default_rng(3))[:3]
    other = make("weapon_presence", 1, observed_at="2026-03-01T22:10:00Z")
    outcome = ingest_with_retry(db, [*arrivals, other])
    assert not outcome.errors
    ids = {r.client_id: r.id for r in outcome.results}
    with db.read() as conn:
        got = vstore.detections_by_id(
            conn, [ids[a["client_id"]] for a in arrivals[:2]] + [ids[other["client_id"]], "nope"]
        )
    assert sorted(g["id"] for g in got) == sorted(ids[a["client_id"]] for a in arrivals[:2])
    assert {g["observed_at"] for g in got} == {a["observed_at"] for a in arrivals[:2]}


def _heard_by(
    rng: np.random.Generator,
    sx: np.ndarray,
    sy: np.ndarray,
    src: tuple[float, float],
    t0: float,
    hear: list[int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A rifle's 30 shots, each heard at the sensors `hear` with probability 0.8 (amplitude falling
    as 1/range, with the shot-to-shot scatter of a real site); every other sensor has one false
    arrival an hour before, so it is known to be listening and to have heard nothing of it."""
    times = t0 + np.cumsum(rng.uniform(0.15, 0.45, 30))
    st: list[int] = []
    t: list[float] = []
    amp: list[float] = []
    for s in range(len(sx)):
        d = math.hypot(sx[s] - src[0], sy[s] - src[1])
        if s not in hear:
            st.append(s)
            t.append(t0 - 3_600.0)
            amp.append(0.1)
            continue
        for when in times[rng.random(30) < 0.8]:
            st.append(s)
            t.append(float(when + d / C + rng.normal(0.0, SIGMA)))
            amp.append(float(1_000.0 / d * rng.lognormal(0.0, 0.3)))
    return np.array(st), np.array(t), np.array(amp)


def test_a_burst_two_single_sensors_alone_hear_lies_along_their_hyperbola_where_none_was_silent() -> None:
    """Two single sensors give one lag: a hyperbola, not a point. The burst's law is that curve,
    cut to where both could hear and no sensor nearer than both heard nothing, weighted by the
    loudness ratio: the rifle lies on it, and every point of it is nearer a hearing sensor than
    any silent one."""
    rng = np.random.default_rng(5)
    sx, sy = _rows()
    params = BurstParams(speed_ms=C, timing_sigma_s=SIGMA)
    trials, found, on_curve, inside = 20, 0, 0, 0
    for k in range(trials):
        a = int(rng.integers(2, 11))  # a sensor of the first row and the nearest of the second
        src = (sx[a] + rng.uniform(0.0, 1_500.0), rng.uniform(800.0, 2_000.0))
        hear = [a, a + 14]
        st, t, amp = _heard_by(rng, sx, sy, src, 1_000.0 + 600.0 * k, hear)
        b = locate_bursts(sx, sy, st, t, amp, params)
        if len(b) != 1:
            continue
        found += 1
        arc = b.arcs[0]
        assert arc is not None and b.n_stations[0] == 2
        assert set(st[b.members[0]].tolist()) == set(hear)
        # the rifle is on the curve, within its stated spread across it
        gap = np.hypot(arc.x - src[0], arc.y - src[1])
        on_curve += float(gap.min()) <= 3.0 * float(arc.sigma_m[np.argmin(gap)]) + 20.0
        # no point of the curve has a silent sensor nearer than both that heard
        reach = np.minimum(*(np.hypot(arc.x - sx[h], arc.y - sy[h]) for h in hear))
        silent = [s for s in range(len(sx)) if s not in hear]
        nearest_silent = np.min([np.hypot(arc.x - sx[s], arc.y - sy[s]) for s in silent], axis=0)
        assert np.all(nearest_silent >= reach)
        dx = np.array([b.x[0] - src[0], b.y[0] - src[1]])
        inside += float(dx @ np.linalg.solve(b.cov[0], dx)) <= 5.991
    assert found >= 0.7 * trials
    assert on_curve >= 0.9 * found
    assert inside >= 0.85 * found


def test_a_two_sensor_burst_on_a_curve_kilometres_long_but_within_hearing_is_placed() -> None:
    """Where the network's sensors are 3.6 km apart along the line, the curve of two neighbours'
    lag, cut to where both hear and none nearer stayed silent, runs 4-6 km (its 95% semi-major):
    long, but no longer than a rifle is heard, and it holds the rifle. The code before dropped
    every such curve over 4 km, and with it most of these bursts; now each is placed, the rifle
    within its ellipse, and only a curve longer than a rifle's reach is no place."""
    n = 10
    sx = np.r_[np.arange(n) * 3_600.0, np.arange(n) * 3_600.0 + 1_800.0]
    sy = np.r_[np.zeros(n), np.full(n, 6_000.0)]
    params = BurstParams(speed_ms=C, timing_sigma_s=SIGMA)
    rng = np.random.default_rng(1)
    trials, placed, long_curves = 20, 0, 0
    for k in range(trials):
        a = int(rng.integers(3, 7))
        src = (sx[a] + rng.uniform(0.2, 0.8) * 3_600.0, rng.uniform(300.0, 1_500.0))
        st, t, amp = _heard_by(rng, sx, sy, src, 1_000.0 + 600.0 * k, [a, a + 1])
        b = locate_bursts(sx, sy, st, t, amp, params)
        if len(b) != 1:
            continue
        placed += 1
        semi_major = semi_major_95(b.cov[0])
        assert semi_major <= HEARD_M
        long_curves += semi_major > 4_000.0
        dx = np.array([b.x[0] - src[0], b.y[0] - src[1]])
        assert float(dx @ np.linalg.solve(b.cov[0], dx)) <= 5.991
    assert placed >= 0.9 * trials
    assert long_curves >= 0.5 * trials


def test_two_sensors_sharing_too_few_shots_or_on_a_long_curve_make_no_burst() -> None:
    """Three shots heard at both of two sensors could be chance; and a curve that runs for
    kilometres between silent sensors far apart places nothing. Neither is a burst."""
    rng = np.random.default_rng(9)
    sx, sy = np.array([0.0, 2_000.0]), np.array([0.0, 0.0])
    params = BurstParams(speed_ms=C, timing_sigma_s=SIGMA)
    src = (1_200.0, 1_500.0)
    times = 50.0 + np.cumsum(rng.uniform(0.15, 0.45, 3))
    d = np.hypot(sx - src[0], sy - src[1])
    st = np.repeat([0, 1], 3)
    t = np.concatenate([times + d[s] / C for s in range(2)])
    assert len(locate_bursts(sx, sy, st, t, 1_000.0 / d[st], params)) == 0
    # thirty shots, but nothing bounds the curve (both halves, mirrored across the sensors' line,
    # for kilometres): no sensor that stayed silent
    times = 50.0 + np.cumsum(rng.uniform(0.15, 0.45, 30))
    st = np.repeat([0, 1], 30)
    t = np.concatenate([times + d[s] / C + rng.normal(0.0, SIGMA, 30) for s in range(2)])
    amp = 1_000.0 / d[st] * rng.lognormal(0.0, 0.3, len(st))
    assert len(locate_bursts(sx, sy, st, t, amp, params)) == 0
    # sensors that listened and heard nothing, farther from the rifle than those that heard it,
    # cut the curve to a place: the same shots make one burst, the rifle within its ellipse
    sx2, sy2 = np.r_[sx, 1_000.0, -2_000.0, 4_000.0], np.r_[sy, -1_500.0, 1_500.0, 1_500.0]
    st2, t2, amp2 = np.r_[st, 2, 3, 4], np.r_[t, -3_600.0, -3_600.0, -3_600.0], np.r_[amp, 0.1, 0.1, 0.1]
    b = locate_bursts(sx2, sy2, st2, t2, amp2, params)
    assert len(b) == 1 and b.arcs[0] is not None
    dx = np.array([b.x[0] - src[0], b.y[0] - src[1]])
    assert float(dx @ np.linalg.solve(b.cov[0], dx)) <= 5.991


def test_a_burst_two_sensors_heard_by_the_line_breaches_the_buffer_with_its_share_of_the_curve() -> None:
    """The pipeline attributes such a burst, and finds it in the buffer strip, by the share of
    its curve, drawn along the curve: no Gaussian spread across the line."""
    agreement, geo = terms()
    rng = np.random.default_rng(3)
    shooter = across(-0.6)
    # two sensors near enough to hear, three farther that do not (beyond a rifle's reach here)
    near = [(20.0, 1_800.0), (110.0, 2_200.0)]
    far = [(200.0, 3_000.0), (290.0, 3_200.0), (65.0, 4_500.0)]
    heard = _detections(shooter, 1_772_400_000.0, rng, ring=near)
    ring = _detections(shooter, 1_772_400_000.0, rng, ring=near + far)
    pair = {"ac-0", "ac-1"}
    loose = list(heard)
    # the others are listening: one false arrival each, an hour before
    for k in range(2, 5):
        first = next(d for d in ring if d["sensor_id"] == f"ac-{k}")
        loose.append({**first, "client_id": f"idle-{k}", "observed_at": iso(1_772_396_400.0)})
    events = run_pipeline([], AcousticEvents.empty(), agreement, geo, loose_detections=loose)
    (ev,) = _fire(events)
    assert {b.provision_id for b in ev.breaches} >= {"P1"}
    assert sorted(ev.observation_ids) == sorted(d["client_id"] for d in loose if d["sensor_id"] in pair)
    x, y = ev.attribution.draws_x, ev.attribution.draws_y
    assert x is not None and y is not None and ev.attribution.probs is not None
    # the draws lie along one hyperbola of the two sensors: one range difference, to metres
    lon, lat = geo.unproject(x, y)
    s0, s1 = (next(d for d in loose if d["sensor_id"] == s) for s in ("ac-0", "ac-1"))
    r0 = GEOD.inv(np.full(len(lon), s0["lon"]), np.full(len(lon), s0["lat"]), lon, lat)[2]
    r1 = GEOD.inv(np.full(len(lon), s1["lon"]), np.full(len(lon), s1["lat"]), lon, lat)[2]
    _, _, r_true0 = GEOD.inv(s0["lon"], s0["lat"], *shooter)
    _, _, r_true1 = GEOD.inv(s1["lon"], s1["lat"], *shooter)
    assert float(np.std((r1 - r0) - (r_true1 - r_true0))) < 30.0
    assert abs(float(np.median(r1 - r0)) - (r_true1 - r_true0)) < 30.0
    # the share of the curve in the buffer strip is the breach's probability
    dist = geo.distance_m(lon, lat)
    share = float(np.mean(np.abs(dist) <= 2_000.0))
    strip = [b.probability for b in ev.breaches if b.provision_id == "P6"]
    assert strip == ([round(share, 4)] if share >= 0.5 else [])


def test_a_sensor_that_heard_two_shots_of_a_two_sensor_burst_helps_place_it() -> None:
    """Two sensors hear a rifle's 30 shots; a third, nearer the rifle's side, hears two of them
    (too few for a lag of its own) and so is not silent: the curve of the two sensors' lag runs
    on for kilometres, and on the code before no burst was placed but in a few trials. Each
    place of the curve now also explains, or not, the third sensor's two arrivals: the burst is
    placed in most trials, the rifle within its 95% ellipse. Two arrivals there at random times
    instead may place it too, by chance, but no less honestly: the rifle is within the ellipse."""
    params = BurstParams(speed_ms=C, timing_sigma_s=SIGMA)
    sx, sy = np.array([0.0, 2_000.0, 1_200.0, 1_000.0]), np.array([0.0, 0.0, 4_200.0, -1_500.0])
    src = (1_200.0, 1_500.0)
    d = np.hypot(sx - src[0], sy - src[1])
    trials, placed = 40, 0
    for trial in range(trials):
        rng = np.random.default_rng(trial)
        times = 50.0 + np.cumsum(rng.uniform(0.15, 0.45, 30))
        t = np.concatenate([times + d[s] / C + rng.normal(0.0, SIGMA, 30) for s in range(2)])
        for mode in ("shots", "random"):
            if mode == "shots":
                third = times[rng.choice(30, 2, replace=False)] + d[2] / C + rng.normal(0.0, SIGMA, 2)
            else:
                third = rng.uniform(times[0] + d[2] / C - 3.0, times[-1] + d[2] / C + 3.0, 2)
            # the fourth sensor listened (an arrival an hour before) and heard nothing of it
            st, tt = np.r_[np.repeat([0, 1], 30), 2, 2, 3], np.r_[t, third, -3_600.0]
            amp = 1_000.0 / np.hypot(sx[st] - src[0], sy[st] - src[1]) * rng.lognormal(0.0, 0.3, len(st))
            b = locate_bursts(sx, sy, st, tt, amp, params)
            if len(b):
                assert len(b) == 1 and b.arcs[0] is not None
                dx = np.array([b.x[0] - src[0], b.y[0] - src[1]])
                assert float(dx @ np.linalg.solve(b.cov[0], dx)) <= 5.991
                placed += mode == "shots"
    assert placed >= 0.5 * trials
