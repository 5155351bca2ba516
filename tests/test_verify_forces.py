"""Forces and the no-advance provision: whose forces they are is what the monitors identified,
never presumed from the side of the line they stand near; a breach is identified forces on
ground their party does not hold, with the probability that their place lies there."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from garant.domain.agreement import ProvisionKind
from garant.sim.run import run_scenario
from garant.sim.scenario import Scenario
from garant.verify.evidence import AcousticEvents
from garant.verify.pipeline import VerifiedEvent, run_pipeline
from tests.factories import make
from tests.verify_factories import across, terms

SIGMA_95 = 2.4477  # a 95% radius over the 2-D standard deviation


def _parties() -> tuple[str, str, str]:
    """The positive side's code, the other party's, and the no-advance provision's id."""
    agreement, _ = terms()
    pos = agreement.positive_side
    neg = next(p.code for p in agreement.parties if p.code != pos)
    p4 = next(p.id for p in agreement.provisions if p.kind == ProvisionKind.NO_ADVANCE)
    return pos, neg, p4


def _forces(i: int, km: float, party: str | None, moving: bool = True, **over: Any) -> dict[str, Any]:
    """Tanks seen `km` from the line (positive: on the positive side's ground)."""
    extra = {} if party is None else {"forces_party": party}
    return make(
        "weapon_presence",
        i,
        weapon_class="tank_artillery_lt_100",
        count=8,
        moving=moving,
        lon=across(km)[0],
        lat=48.3,
        location_uncertainty_m=over.pop("location_uncertainty_m", 40),
        observed_at=f"2026-03-01T{i:02d}:00:00Z",
        **extra,
        **over,
    )


def _run(observations: list[dict[str, Any]]) -> dict[str, VerifiedEvent]:
    agreement, geo = terms()
    events = run_pipeline(observations, AcousticEvents.empty(), agreement, geo)
    return {e.observation_ids[0]: e for e in events}


def _p4(ev: VerifiedEvent, p4: str) -> float | None:
    return next((b.probability for b in ev.breaches if b.provision_id == p4), None)


def test_identified_forces_moving_behind_their_own_line_breach_nothing() -> None:
    pos, neg, p4 = _parties()
    events = _run([_forces(1, -25.0, neg), _forces(2, 25.0, pos)])
    for obs_id, own in (("test-weapon_presence-1", neg), ("test-weapon_presence-2", pos)):
        ev = events[obs_id]
        assert ev.kind == "advance"
        assert _p4(ev, p4) is None, ev.breaches
        assert ev.attribution.probs is not None
        assert ev.attribution.probs[own] == 1.0  # their own, not the other side's


def test_unidentified_forces_moving_behind_a_line_are_not_blamed_on_the_other_party() -> None:
    pos, neg, p4 = _parties()
    events = _run([_forces(1, -25.0, None), _forces(2, 1.0, None)])
    rear, near = events["test-weapon_presence-1"], events["test-weapon_presence-2"]
    assert _p4(rear, p4) is None and _p4(near, p4) is None
    # attributed to the ground they are on, as weapons in place are; and it says why no P4
    assert rear.attribution.probs == {neg: 1.0, pos: 0.0}
    assert near.attribution.probs is not None and near.attribution.probs[pos] > 0.99
    for ev in (rear, near):
        assert "forces not identified" in ev.attribution.reason


def test_identified_forces_two_km_inside_the_other_partys_ground_breach_p4_and_answer_for_it() -> None:
    pos, neg, p4 = _parties()
    for moving in (True, False):  # standing there, they have taken a new position across the line
        (ev,) = _run([_forces(1, 2.0, neg, moving=moving)]).values()
        assert ev.attribution.probs == {neg: 1.0, pos: 0.0}
        got = _p4(ev, p4)
        assert got is not None and got > 0.99, ev.breaches
        assert ev.attribution.ground is not None and ev.attribution.ground[pos] > 0.99


@pytest.mark.parametrize("km", [0.5, -0.5, 1.0])
def test_identified_forces_astride_the_line_breach_p4_with_the_share_across(km: float) -> None:
    """The place, a circle of s = 1 km at `km` from a locally straight line: the mass on the
    positive side is Phi(km / s), and it is the probability that the other party's forces stand
    on ground it does not hold; recorded at one half or more."""
    pos, neg, p4 = _parties()
    (ev,) = _run([_forces(1, km, neg, location_uncertainty_m=1_000.0 * SIGMA_95)]).values()
    want = 0.5 * math.erfc(-km / math.sqrt(2.0))
    assert ev.attribution.probs == {neg: 1.0, pos: 0.0}
    assert ev.attribution.ground is not None
    assert math.isclose(ev.attribution.ground[pos], want, abs_tol=0.03), (ev.attribution.ground, want)
    got = _p4(ev, p4)
    if want >= 0.5:
        assert got is not None and math.isclose(got, want, abs_tol=0.03), (got, want)
    else:
        assert got is None, ev.breaches


def test_reports_that_disagree_on_whose_forces_leave_them_unidentified() -> None:
    pos, neg, p4 = _parties()
    a = _forces(1, 2.0, neg)
    b = {**_forces(2, 2.0, pos), "observed_at": a["observed_at"], "lon": a["lon"] + 1e-4}
    (ev,) = _run([a, b]).values()
    assert _p4(ev, p4) is None
    assert ev.attribution.probs is not None and ev.attribution.probs[pos] > 0.99  # the ground's
    assert "forces not identified" in ev.attribution.reason


def test_an_unknown_forces_party_is_refused_at_intake_naming_the_field(client: TestClient) -> None:
    r = client.post("/api/v1/observations", json=make("weapon_presence", 1, moving=True, forces_party="XX"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    fields = {e["field"]: e["reason"] for e in r.json()["errors"]}
    assert "unknown party 'XX'" in fields.get("forces_party", ""), fields
    ok = client.post(
        "/api/v1/observations", json=make("weapon_presence", 2, moving=True, forces_party=_parties()[1])
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["properties"]["forces_party"] == _parties()[1]


def test_a_simulated_day_advances_breach_p4_and_rear_movements_do_not(tmp_path: Path) -> None:
    """The simulator's truth and the pipeline agree: an advance's reports name the advancing
    party and breach P4 against it; columns moving well behind their own line, identified or
    not, breach nothing."""
    scenario = Scenario.model_validate(
        {
            "name": "forces-check",
            "seed": 4,
            "start": "2026-03-02T06:00:00Z",
            "hours": 6,
            "uav": {"sorties_per_day": 400},
            "regimes": [
                {"kind": "quiet", "fire_per_day": 0, "advance_per_day": 60, "rear_movement_per_day": 200}
            ],
        }
    )
    run_scenario(scenario, tmp_path)
    agreement, geo = terms()
    with (tmp_path / "truth" / "incidents.csv").open(encoding="utf-8") as fh:
        incidents = {r["event_id"]: r for r in csv.DictReader(fh)}
    with (tmp_path / "truth" / "observations.csv").open(encoding="utf-8") as fh:
        truth_of = {r["observation_id"]: r["event_id"] for r in csv.DictReader(fh)}
    _, _, p4 = _parties()
    moves = [r for r in incidents.values() if r["type"] == "movement"]
    assert moves
    for r in incidents.values():
        if r["type"] in ("movement", "advance"):
            own = geo.controlling_party(float(r["lon"]), float(r["lat"])) == r["party"]
            assert (p4 in r["provisions"].split(";")) == (not own) == (r["type"] == "advance"), r
    observations = [json.loads(line) for line in (tmp_path / "observations.jsonl").read_text().splitlines()]
    seen = {"advance": 0, "movement": 0}
    for o in observations:
        if o["kind"] == "weapon_presence" and o["moving"]:
            inc = incidents[truth_of[o["client_id"]]]
            seen[inc["type"]] += 1
            if inc["type"] == "advance":
                assert o["forces_party"] == inc["party"]
    assert seen["advance"] > 5 and seen["movement"] > 5, seen
    events = run_pipeline(observations, AcousticEvents.empty(), agreement, geo)
    checked = 0
    for ev in events:
        kinds = {incidents[truth_of[i]]["type"] for i in ev.observation_ids}
        if ev.kind != "advance" or len(kinds) != 1:
            continue
        checked += 1
        assert (_p4(ev, p4) is not None) == (kinds == {"advance"}), (kinds, ev.breaches)
    assert checked > 5
