"""Fusion of weapons in place, flights and interference: reports of one occurrence are one event
when their places fit within both reports' stated uncertainties and the kind's spread."""

from __future__ import annotations

from typing import Any

import pytest

from garant.verify.evidence import AcousticEvents
from garant.verify.pipeline import VerifiedEvent, run_pipeline
from tests.factories import make
from tests.verify_factories import FIRED_AT, GEOD, across, iso, terms


def _run(observations: list[dict[str, Any]]) -> list[VerifiedEvent]:
    agreement, geo = terms()
    return run_pipeline(observations, AcousticEvents.empty(), agreement, geo)


def _away(at: tuple[float, float], metres: float, azimuth: float = 90.0) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(at[0], at[1], azimuth, metres)
    return float(lon), float(lat)


def _jamming(
    i: int, at: tuple[float, float], nation: str, minutes: float = 0.0, **over: Any
) -> dict[str, Any]:
    return make(
        "interference",
        i,
        lon=at[0],
        lat=at[1],
        nation=nation,
        source_id=f"op-{i}",
        observed_at=iso(FIRED_AT + 60.0 * minutes),
        location_uncertainty_m=over.pop("location_uncertainty_m", 100),
        **over,
    )


def _report(kind: str, i: int, at: tuple[float, float], uncertainty_m: float) -> dict[str, Any]:
    """A report of `kind` at `at`: a flight seen at one point, or weapons in place."""
    if kind == "air_track":
        point = {"lon": at[0], "lat": at[1], "time": make()["observed_at"], "altitude_m": 400}
        return make(kind, i, lon=at[0], lat=at[1], points=[point], location_uncertainty_m=uncertainty_m)
    if kind == "interference":
        return _jamming(i, at, "US", location_uncertainty_m=uncertainty_m)
    return make(kind, i, weapon_class="mlrs", lon=at[0], lat=at[1], location_uncertainty_m=uncertainty_m)


def test_two_nations_jamming_reports_of_one_jamming_make_one_corroborated_p5_event() -> None:
    agreement, _ = terms()
    here = across(-8.0)
    events = _run([_jamming(1, here, "US"), _jamming(2, _away(here, 1_000.0), "TR", minutes=10.0)])
    assert len(events) == 1
    (ev,) = events
    assert ev.kind == "interference"
    assert sorted(ev.observation_ids) == ["test-interference-1", "test-interference-2"]
    assert ev.grade.level == "corroborated"
    assert [b.provision_id for b in ev.breaches] == ["P5"]
    # on the negative side of the line: whoever holds that ground is answerable
    other = next(p.code for p in agreement.parties if p.code != agreement.positive_side)
    assert ev.attribution.probs[other] == pytest.approx(1.0)
    assert ev.attribution.probs[agreement.positive_side] == pytest.approx(0.0)


def test_jamming_reports_20_km_apart_are_two_events() -> None:
    here = across(-8.0)
    events = _run([_jamming(1, here, "US"), _jamming(2, _away(here, 20_000.0, azimuth=0.0), "TR")])
    assert len(events) == 2
    assert all(e.kind == "interference" and e.grade.level == "reported" for e in events)


def test_reports_of_different_interference_types_stay_apart() -> None:
    here = across(-8.0)
    events = _run(
        [_jamming(1, here, "US"), _jamming(2, _away(here, 300.0), "TR", interference_type="access_denial")]
    )
    assert len(events) == 2
    assert {e.observation_ids[0] for e in events} == {"test-interference-1", "test-interference-2"}


# offsets beyond each kind's spread (presence 1 km, air 3 km, interference 5 km, 95% radii), and
# a vague report's stated uncertainty that makes the offset consistent
@pytest.mark.parametrize(
    ("kind", "offset_m", "vague_m"),
    [
        ("weapon_presence", 3_000.0, 4_000.0),
        ("air_track", 4_000.0, 4_000.0),
        ("interference", 8_000.0, 8_000.0),
    ],
)
def test_a_vague_report_joins_a_precise_one_it_fits_and_two_precise_ones_stay_apart(
    kind: str, offset_m: float, vague_m: float
) -> None:
    here = across(-20.0, at=(37.8, 48.6))
    there = _away(here, offset_m)
    (joined,) = _run([_report(kind, 1, here, 20.0), _report(kind, 2, there, vague_m)])
    assert len(joined.observation_ids) == 2
    # the fused place leans to the precise report
    _, _, err = GEOD.inv(joined.lon, joined.lat, here[0], here[1])
    assert err < 100.0
    apart = _run([_report(kind, 1, here, 20.0), _report(kind, 2, there, 20.0)])
    assert len(apart) == 2


def test_a_precise_report_does_not_join_one_beyond_the_kinds_spread_and_both_uncertainties() -> None:
    """Weapons 2 km apart, each placed to 50 m: not one position (the spread is 1 km); a third
    report between them, 1.5 km from one, vague to 2 km, fits both and joins all three."""
    here = across(-20.0, at=(37.8, 48.6))
    far = _away(here, 2_000.0)
    a, b = _report("weapon_presence", 1, here, 50.0), _report("weapon_presence", 2, far, 50.0)
    assert len(_run([a, b])) == 2
    middle = _report("weapon_presence", 3, _away(here, 1_500.0), 2_000.0)
    (ev,) = _run([a, b, middle])
    assert len(ev.observation_ids) == 3


def test_a_site_seen_three_times_is_one_event_of_the_class_most_reports_name() -> None:
    """Mortars 20 km behind the line (their zone is 15 km: lawful), seen twice; a third drone
    names MLRS at the same place (whose zone, 35 km, they would breach). Observers mistake a
    class for its neighbour: one site, one event, the class of the vote, and no P2. (Before,
    each class made its own event: a false P2 of the one mistaken report.)"""
    site = across(20.0)

    def seen(i: int, weapon_class: str, hours: float) -> dict[str, Any]:
        lon, lat = _away(site, 30.0 * i, azimuth=45.0 * i)
        return make(
            "weapon_presence",
            i,
            weapon_class=weapon_class,
            count=5,
            lon=lon,
            lat=lat,
            location_uncertainty_m=60,
            source_id=f"uav-{i}",
            observed_at=iso(FIRED_AT + 3600.0 * hours),
        )

    events = _run([seen(1, "mortar_lt_120", 0.0), seen(2, "mortar_lt_120", 0.5), seen(3, "mlrs", 8.0)])
    assert len(events) == 1
    (ev,) = events
    assert ev.kind == "presence"
    assert sorted(ev.observation_ids) == [f"test-weapon_presence-{i}" for i in (1, 2, 3)]
    assert ev.weapon_class == "mortar_lt_120"
    assert ev.breaches == []
    # the same three with MLRS the vote: the site breaches MLRS's zone
    events = _run([seen(1, "mlrs", 0.0), seen(2, "mlrs", 0.5), seen(3, "mortar_lt_120", 8.0)])
    assert len(events) == 1 and events[0].weapon_class == "mlrs"
    assert [b.provision_id for b in events[0].breaches] == ["P2"]
    # one of each, in either order: the even vote goes to the class withdrawn farther, so the
    # possible breach stands for the analysts to settle
    for first, second in (("mortar_lt_120", "mlrs"), ("mlrs", "mortar_lt_120")):
        (ev,) = _run([seen(1, first, 0.0), seen(2, second, 6.0)])
        assert ev.weapon_class == "mlrs" and [b.provision_id for b in ev.breaches] == ["P2"]
