"""`garant eval`: the truth scores perfectly against itself, every measure moves when the output
is wrong in the way it measures, and the Cramér–Rao bound matches a Monte Carlo estimate."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import orjson
import pytest
from pyproj import Geod
from scipy.optimize import least_squares
from typer.testing import CliRunner

from garant.cli import app
from garant.evaluation.crb import location_crb, rms_radius
from garant.evaluation.matching import match_events
from garant.evaluation.score import EvalOptions, evaluate
from garant.evaluation.tables import EventFileError, read_events
from garant.sim.run import run_scenario
from garant.sim.scenario import Scenario

GEOD = Geod(ellps="WGS84")
SCENARIO = {
    "name": "eval-check",
    "seed": 11,
    "start": "2026-03-02T06:00:00Z",
    "hours": 6,
    "regimes": [
        {"kind": "quiet"},
        {"kind": "flare_up", "hours": 6, "sector_km": [100, 220], "fire_per_day": 600},
    ],
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval")
    run_scenario(Scenario.model_validate(SCENARIO), out)
    return out


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _write(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, header)
        w.writeheader()
        w.writerows(rows)
    return path


def test_the_truth_against_itself_scores_perfectly(run: Path) -> None:
    inc = evaluate(
        run, run / "truth" / "incidents.csv", run / "truth" / "observations.csv", EvalOptions("incident")
    )
    assert inc["true_events_scored"] > 120
    # an incident heard by one sensor only cannot be placed: scored only when asked for
    one = evaluate(
        run,
        run / "truth" / "incidents.csv",
        None,
        EvalOptions("incident", min_detections=1),
    )
    assert one["true_events_scored"] > inc["true_events_scored"]
    assert inc["precision"] == inc["recall"] == inc["f1"] == 1.0
    assert inc["location_error"]["median_m"] == inc["location_error"]["p90_m"] == 0.0
    assert inc["origin_error"]["p90_m"] == 0.0
    att = inc["attribution"]
    assert att["accuracy"] == att["accuracy_origin_ge_2km"] == 1.0 and att["brier"] == 0.0
    assert att["n_origin_ge_2km"] > 50
    assert all(v["f1"] == 1.0 for v in inc["classification"]["by_provision"].values())
    assert {"P1", "P2", "P6"} <= set(inc["classification"]["by_provision"])
    assert inc["false_allegations"]["false_total"] > 0 and inc["false_allegations"]["verified"] == 0
    blast = evaluate(run, run / "truth" / "blasts.csv", None, EvalOptions("blast"))
    assert blast["true_events_scored"] > 1_000
    assert blast["f1"] == 1.0 and blast["location_error"]["p90_m"] == 0.0
    assert blast["cramer_rao"]["median_error_over_bound"] == 0.0
    assert 1.0 < blast["cramer_rao"]["median_bound_m"] < 50.0


def _perturbed_blasts(run: Path, tmp: Path, shift_m: float, drop_every: int, sigma_m: float | None) -> Path:
    header, rows = _rows(run / "truth" / "blasts.csv")
    rng = np.random.default_rng(3)
    out = []
    for k, r in enumerate(rows):
        if k % drop_every == 0:
            continue
        if sigma_m is None:
            lon, lat, _ = GEOD.fwd(float(r["lon"]), float(r["lat"]), 90.0, shift_m)
            out.append({**r, "lon": f"{lon:.7f}", "lat": f"{lat:.7f}"})
        else:
            # a stated ellipse of 95% and errors drawn from the 2-D normal it describes
            e, n = rng.normal(0, sigma_m * 2), rng.normal(0, sigma_m)
            lon, lat, _ = GEOD.fwd(
                float(r["lon"]), float(r["lat"]), math.degrees(math.atan2(e, n)), math.hypot(e, n)
            )
            out.append(
                {
                    **r,
                    "lon": f"{lon:.8f}",
                    "lat": f"{lat:.8f}",
                    "semi_major_m": f"{2.4477 * 2 * sigma_m:.3f}",
                    "semi_minor_m": f"{2.4477 * sigma_m:.3f}",
                    "azimuth_deg": "90",
                }
            )
    # and false events: a copy of some true ones moved 50 km away
    for r in rows[:: drop_every * 2]:
        lon, lat, _ = GEOD.fwd(float(r["lon"]), float(r["lat"]), 0.0, 50_000.0)
        out.append({**r, "event_id": r["event_id"] + "-false", "lon": f"{lon:.7f}", "lat": f"{lat:.7f}"})
    return _write(tmp / "found.csv", [*header, "semi_major_m", "semi_minor_m", "azimuth_deg"], out)


def test_blast_scores_move_with_misses_false_events_and_location_error(run: Path, tmp_path: Path) -> None:
    found = _perturbed_blasts(run, tmp_path, shift_m=400.0, drop_every=10, sigma_m=None)
    r = evaluate(run, found, None, EvalOptions("blast"))
    assert r["recall"] == pytest.approx(0.9, abs=0.02)
    assert r["precision"] < 0.97
    assert r["location_error"]["median_m"] == pytest.approx(400.0, abs=1.0)
    assert r["cramer_rao"]["median_error_over_bound"] > 10
    # beyond the tolerance, only the rare other blast that happens to lie near a shifted one matches
    far = evaluate(run, found, None, EvalOptions("blast", distance_m=300.0))
    assert far["recall"] < 0.15 and far["location_error"]["p90_m"] <= 300.0


def test_ellipse_coverage_is_measured(run: Path, tmp_path: Path) -> None:
    found = _perturbed_blasts(run, tmp_path, shift_m=0.0, drop_every=10**9, sigma_m=60.0)
    r = evaluate(run, found, None, EvalOptions("blast"))
    assert r["ellipse_95"]["n"] > 1_000
    assert r["ellipse_95"]["coverage"] == pytest.approx(0.95, abs=0.02)
    # an ellipse that claims twice the precision covers far less
    header, rows = _rows(found)
    for row in (r for r in rows if r["semi_major_m"]):
        row["semi_major_m"] = str(float(row["semi_major_m"]) / 2)
        row["semi_minor_m"] = str(float(row["semi_minor_m"]) / 2)
    tight = evaluate(run, _write(tmp_path / "tight.csv", header, rows), None, EvalOptions("blast"))
    assert tight["ellipse_95"]["coverage"] < 0.6


def test_attribution_calibration_classification_and_false_allegations(run: Path, tmp_path: Path) -> None:
    header, rows = _rows(run / "truth" / "incidents.csv")
    _, allegations = _rows(run / "truth" / "allegations.csv")
    rng = np.random.default_rng(5)
    out = []
    for r in rows:
        fire = r["type"] == "fire"
        # a forecaster that is right with probability 0.8 and says so
        right = rng.random() < 0.8
        other = "RU" if r["party"] == "UA" else "UA"
        top = r["party"] if right else other
        probs = {"p_UA": 0.8 if top == "UA" else 0.2, "p_RU": 0.8 if top == "RU" else 0.2}
        provisions = r["provisions"]
        if fire and "P2" in provisions and rng.random() < 0.5:
            provisions = provisions.replace("P2", "").strip(";").replace(";;", ";")
        out.append({**r, **{k: str(v) for k, v in probs.items()}, "provisions": provisions, "party": ""})
    found = _write(tmp_path / "att.csv", [*header, "p_UA", "p_RU"], out)
    # a pipeline that verified each false allegation onto an event blamed on the accused
    fake_events = []
    assignments = [
        {"observation_id": a["observation_id"], "event_id": f"fake-{k}"}
        for k, a in enumerate(allegations)
        if a["truth"] != "true"
    ]
    for k, a in enumerate(allegations):
        if a["truth"] == "true":
            continue
        fake_events.append(
            {
                **out[0],
                "event_id": f"fake-{k}",
                "status": "verified",
                "provisions": "",
                "p_UA": "1" if a["accused_party"] == "UA" else "0",
                "p_RU": "1" if a["accused_party"] == "RU" else "0",
            }
        )
    _write(found, [*header, "p_UA", "p_RU"], out + fake_events)
    assign = _write(tmp_path / "assign.csv", ["observation_id", "event_id"], assignments)
    r = evaluate(run, found, assign, EvalOptions("incident"))
    att = r["attribution"]
    assert att["accuracy"] == pytest.approx(0.8, abs=0.06)
    assert att["brier"] == pytest.approx(0.2 * 0.2 * 0.8 + 0.8 * 0.8 * 0.2, abs=0.03)
    high = next(b for b in att["reliability"] if b["bin"] == "0.8-0.9")
    assert high["mean_forecast"] == pytest.approx(0.8) and high["observed"] == pytest.approx(0.8, abs=0.06)
    p2 = r["classification"]["by_provision"]["P2"]
    assert p2["recall"] == pytest.approx(0.5, abs=0.1) and p2["precision"] == 1.0
    assert r["classification"]["by_provision"]["P1"]["f1"] == 1.0
    fa = r["false_allegations"]
    assert fa["verified"] == fa["false_total"] > 0


def _alleged_only(run: Path, min_detections: int = 4) -> set[str]:
    """Incidents no report but an allegation speaks of, and no blast heard by enough sensors."""
    _, obs = _rows(run / "truth" / "observations.csv")
    kinds: dict[str, set[str]] = {}
    for o in obs:
        if o["event_id"]:
            kinds.setdefault(o["event_id"], set()).add(o["kind"])
    _, dets = _rows(run / "truth" / "detections.csv")
    heard_by: dict[str, int] = {}
    for d in dets:
        heard_by[d["event_id"]] = heard_by.get(d["event_id"], 0) + 1
    _, blasts = _rows(run / "truth" / "blasts.csv")
    heard = {b["incident_id"] for b in blasts if heard_by.get(b["event_id"], 0) >= min_detections}
    return {i for i, k in kinds.items() if k == {"allegation"} and i not in heard}


def test_provisions_are_also_scored_without_incidents_revealed_by_allegations_alone(
    run: Path, tmp_path: Path
) -> None:
    """A bulletin that follows the rule (an allegation is never enough for a violation) names no
    provision where only an allegation reveals the incident: the strict score counts those as
    misses, the second leaves them out; what is found on them counts in neither way."""
    header, rows = _rows(run / "truth" / "incidents.csv")
    leads = _alleged_only(run)
    assert any(r["provisions"] for r in rows if r["event_id"] in leads)
    ruled = [{**r, "provisions": ""} if r["event_id"] in leads else r for r in rows]
    r = evaluate(run, _write(tmp_path / "ruled.csv", header, ruled), None, EvalOptions("incident"))
    strict, lead = r["classification"]["by_provision"], r["classification"]["excluding_leads"]
    assert lead["incidents_excluded"] == len(leads)
    for p, v in strict.items():
        missed = sum(1 for x in rows if x["event_id"] in leads and p in x["provisions"].split(";"))
        assert v["fn"] == missed and v["fp"] == 0
        assert lead["by_provision"][p]["fn"] == 0 and lead["by_provision"][p]["f1"] == 1.0
        assert lead["by_provision"][p]["tp"] == v["tp"]
    assert any(v["fn"] for v in strict.values())
    # a provision named on them anyway, wrongly, is a false positive only in the strict score
    wrong = [{**r, "provisions": "P5"} if r["event_id"] in leads else r for r in rows]
    w = evaluate(run, _write(tmp_path / "wrong.csv", header, wrong), None, EvalOptions("incident"))
    assert w["classification"]["by_provision"]["P5"]["fp"] >= len(leads)
    assert w["classification"]["excluding_leads"]["by_provision"] == lead["by_provision"]
    # the truth itself scores perfectly both ways
    t = evaluate(run, run / "truth" / "incidents.csv", None, EvalOptions("incident"))
    assert all(v["f1"] == 1.0 for v in t["classification"]["excluding_leads"]["by_provision"].values())
    assert {p: v["tp"] for p, v in t["classification"]["excluding_leads"]["by_provision"].items()} == {
        p: v["tp"] - sum(1 for x in rows if x["event_id"] in leads and p in x["provisions"].split(";"))
        for p, v in t["classification"]["by_provision"].items()
    }


def test_matching_is_one_to_one_and_prefers_the_closest() -> None:
    # two true events 300 m apart, three found: each true event gets the nearest found one
    tl = np.array([30.0, 30.004]), np.array([48.0, 48.0]), np.array([0.0, 1.0])
    fl = np.array([30.0039, 30.0001, 30.002]), np.array([48.0, 48.0, 48.0]), np.array([1.0, 0.0, 0.5])
    ti, fi = match_events(*tl, *fl, distance_m=1_000.0, time_s=5.0)
    assert sorted(zip(ti.tolist(), fi.tolist(), strict=True)) == [(0, 1), (1, 0)]


def test_an_event_placed_at_its_origin_is_matched_with_the_true_origin() -> None:
    """Like with like: a found event that knows only where the fire came from is compared with
    where the true fire came from. Rifle fire lands 2 km from the rifleman, so compared with the
    impact, the rifleman's burst would be taken for the other side's fire landing there."""
    # A fired from 3.7 km east of its impact; B, fired from A's impact, landed 2.2 km west of it
    t_lon, t_lat, t_t = np.array([30.0, 29.97]), np.array([48.0, 48.0]), np.array([0.0, 10.0])
    origin = np.array([[30.05, 48.0], [30.0, 48.0]])
    # one found event, 70 m from A's impact and from B's origin
    f = np.array([30.001]), np.array([48.0]), np.array([5.0])
    as_impact = match_events(t_lon, t_lat, t_t, *f, 3_000.0, 300.0, true_origin=origin)
    as_origin = match_events(
        t_lon, t_lat, t_t, *f, 3_000.0, 300.0, true_origin=origin, found_at_origin=np.array([True])
    )
    assert as_impact[0].tolist() == [0] and as_origin[0].tolist() == [1]
    # 3.7 km from A's impact but 70 m from its origin: matched only as an event at its origin
    near_a = np.array([30.051]), np.array([48.0]), np.array([0.0])
    one = (t_lon[:1], t_lat[:1], t_t[:1])
    assert len(match_events(*one, *near_a, 3_000.0, 300.0, true_origin=origin[:1])[0]) == 0
    matched = match_events(
        *one, *near_a, 3_000.0, 300.0, true_origin=origin[:1], found_at_origin=np.array([True])
    )
    assert matched[0].tolist() == [0]
    # a true event with no origin (weapons kept in place) is compared with its place
    none = np.full((1, 2), np.nan)
    kept = match_events(*one, *f, 3_000.0, 300.0, true_origin=none, found_at_origin=np.array([True]))
    assert kept[0].tolist() == [0]


def test_the_scorer_reads_where_an_event_is_placed(run: Path, tmp_path: Path) -> None:
    """The truth with its fire placed at its origins and `placed_at` saying so scores as the
    truth does, location error 0; said to be impacts, the same places are misplaced."""
    header, rows = _rows(run / "truth" / "incidents.csv")
    fire = {r["event_id"] for r in rows if r["type"] == "fire" and r["origin_lon"]}
    moved = [
        {**r, "lon": r["origin_lon"], "lat": r["origin_lat"]} if r["event_id"] in fire else r for r in rows
    ]
    placed = [{**r, "placed_at": "origin" if r["event_id"] in fire else "impact"} for r in moved]
    said = evaluate(run, _write(tmp_path / "o.csv", [*header, "placed_at"], placed), None, EvalOptions())
    assert said["f1"] == 1.0 and said["location_error"]["median_m"] == 0.0
    assert said["location_error"]["p90_m"] == 0.0
    unsaid = evaluate(run, _write(tmp_path / "i.csv", header, moved), None, EvalOptions())
    assert unsaid["location_error"]["p90_m"] > 1_000.0 and unsaid["f1"] < 1.0


def test_cramer_rao_bound_matches_the_closed_form_and_a_monte_carlo_estimate() -> None:
    """Six sensors evenly on a circle around the source, equal timing noise: the closed form
    gives var(east) = var(north) = 2 c^2 sigma^2 / N; least-squares locations of 3,000 noisy
    realisations scatter with that variance (an efficient estimator reaches the bound)."""
    n, radius, c, sigma = 6, 4_000.0, 340.0, 0.02
    ang = np.arange(n) * 2 * np.pi / n + 0.3
    east, north = radius * np.sin(ang), radius * np.cos(ang)
    cov = location_crb(np.zeros(n, dtype=np.int64), 1, east, north, np.full(n, c), np.full(n, sigma))[0]
    closed = 2 * c**2 * sigma**2 / n
    assert cov[0, 0] == pytest.approx(closed, rel=1e-9) and cov[1, 1] == pytest.approx(closed, rel=1e-9)
    assert abs(cov[0, 1]) < 1e-9 * closed
    rng = np.random.default_rng(1)
    estimates = []
    for _ in range(3_000):
        t = np.hypot(east, north) / c + rng.normal(0, sigma, n)

        def residual(p: np.ndarray, t: np.ndarray = t) -> np.ndarray:
            return (p[2] + np.hypot(east - p[0], north - p[1]) / c - t) / sigma

        estimates.append(least_squares(residual, x0=[50.0, -50.0, 0.0]).x[:2])
    mc = np.cov(np.array(estimates).T)
    assert mc[0, 0] == pytest.approx(closed, rel=0.08) and mc[1, 1] == pytest.approx(closed, rel=0.08)
    # an azimuth from each sensor adds information: the bound shrinks
    with_az = location_crb(
        np.zeros(n, dtype=np.int64),
        1,
        east,
        north,
        np.full(n, c),
        np.full(n, sigma),
        np.full(n, math.radians(2.0)),
    )
    assert rms_radius(with_az)[0] < rms_radius(cov[None])[0]
    # two sensors cannot fix a position and a time
    assert np.isinf(
        location_crb(np.zeros(2, dtype=np.int64), 1, east[:2], north[:2], np.full(2, c), np.full(2, sigma))
    ).all()


def test_bad_event_files_are_named_with_their_line(tmp_path: Path) -> None:
    missing = _write(
        tmp_path / "a.csv", ["event_id", "time", "lon"], [{"event_id": "e1", "time": "x", "lon": "1"}]
    )
    with pytest.raises(EventFileError, match=r"a\.csv:1: missing column\(s\) lat"):
        read_events(missing)
    header = ["event_id", "time", "lon", "lat"]
    rows = [
        {"event_id": "e1", "time": "2026-03-02T00:00:00Z", "lon": "30", "lat": "48"},
        {"event_id": "e2", "time": "2026-03-02T00:00:00", "lon": "30", "lat": "48"},
    ]
    with pytest.raises(EventFileError, match=r"b\.csv:3: time .* has no UTC offset"):
        read_events(_write(tmp_path / "b.csv", header, rows))
    rows[1] = {**rows[0]}
    with pytest.raises(EventFileError, match=r"c\.csv:3: duplicate event_id 'e1'"):
        read_events(_write(tmp_path / "c.csv", header, rows))
    rows[1] = {**rows[0], "event_id": "e2", "placed_at": "launch"}
    with pytest.raises(EventFileError, match=r"d\.csv:3: placed_at 'launch' is neither impact nor origin"):
        read_events(_write(tmp_path / "d.csv", [*header, "placed_at"], rows))


def test_cli_prints_the_table_and_writes_json(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["eval", "--truth", str(run), "--events", str(run / "truth" / "incidents.csv")]
    args += ["--assignments", str(run / "truth" / "observations.csv"), "--json"]
    result = CliRunner().invoke(app, [*args, str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert "classification by provision" in result.output and "Brier score" in result.output
    report = orjson.loads((tmp_path / "r.json").read_bytes())
    excluded = report["classification"]["excluding_leads"]["incidents_excluded"]
    words = " ".join(result.output.split())  # a long title wraps
    assert f"without the {excluded} incidents revealed by allegations alone" in words
    assert report["f1"] == 1.0 and report["level"] == "incident"
    # "-" is standard output, the report alone (it once made a file named "-")
    monkeypatch.chdir(tmp_path)
    piped = CliRunner().invoke(app, [*args, "-"])
    assert piped.exit_code == 0 and orjson.loads(piped.stdout) == report and not (tmp_path / "-").exists()
    bad = CliRunner().invoke(app, ["eval", "--truth", str(tmp_path), "--events", str(tmp_path / "r.json")])
    assert bad.exit_code == 2 and "truth/meta.json" in bad.output
