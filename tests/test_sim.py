"""The simulator: determinism, the physics of each observation kind checked statistically,
the truth it writes, and that what it writes is accepted by `garant ingest` as it is."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import orjson
import pytest
import yaml
from pyproj import Geod
from scipy.spatial import cKDTree
from typer.testing import CliRunner

from garant.cli import app
from garant.domain.agreement import WithdrawalZone
from garant.evaluation.tables import parse_time
from garant.geo.engine import Geography
from garant.services.agreements import AgreementFileError, parse_agreement_text
from garant.services.demo import demo_files
from garant.sim.run import run_scenario
from garant.sim.scenario import Scenario, load_scenario

GEOD = Geod(ellps="WGS84")
# A short, busy scenario: 8 hours, a quiet line with a flare-up on one sector, wind and a
# daily temperature cycle, no false detections and no dead time (so every arrival is a blast's)
PHYSICS = {
    "name": "physics-check",
    "seed": 5,
    "start": "2026-03-02T04:00:00Z",
    "hours": 8,
    "atmosphere": {"temperature_c": 12, "diurnal_amplitude_c": 6, "wind_speed_ms": 6, "wind_from_deg": 250},
    "acoustic": {"false_per_sensor_hour": 0, "dead_time_s": 0, "timing_sigma_s": 0.03, "bias_sigma_s": 0.02},
    "patrols": {"stops_per_day": 400, "crater_radius_km": 10, "offset_km": [0.5, 15]},
    "regimes": [
        {"kind": "quiet"},
        {
            "kind": "flare_up",
            "start_hour": 1,
            "hours": 6,
            "sector_km": [300, 420],
            "fire_per_day": 1200,
            "weapon_mix": {"mortar_lt_120": 0.4, "artillery_100_plus": 0.4, "mlrs": 0.2},
        },
    ],
}


def _scenario(data: dict[str, object]) -> Scenario:
    return Scenario.model_validate(data)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def physics_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("physics")
    run_scenario(_scenario(PHYSICS), out)
    return out


def test_same_seed_gives_byte_identical_output_and_another_seed_does_not(tmp_path: Path) -> None:
    data = {**PHYSICS, "hours": 3, "acoustic": {"dead_time_s": 0.5, "false_per_sensor_hour": 1}}
    run_scenario(_scenario(data), tmp_path / "a")
    run_scenario(_scenario(data), tmp_path / "b")
    run_scenario(_scenario({**data, "seed": 6}), tmp_path / "c")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 10
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert (tmp_path / "a" / "observations.jsonl").read_bytes() != (
        tmp_path / "c" / "observations.jsonl"
    ).read_bytes()


def _stations(out: Path) -> dict[str, tuple[float, float, float]]:
    hidden = {r["station_id"]: float(r["bias_s"]) for r in _rows(out / "truth" / "stations.csv")}
    return {
        r["station_id"]: (float(r["lon"]), float(r["lat"]), hidden[r["station_id"]])
        for r in _rows(out / "stations.csv")
    }


def test_arrival_times_follow_sound_speed_wind_and_noise(physics_run: Path) -> None:
    """residual = arrival - (origin time + distance / (c(T) + wind along the path)) - sensor bias
    must be N(0, timing_sigma): mean within 4 standard errors of 0, standard deviation within 5%."""
    stations = _stations(physics_run)
    blasts = {r["event_id"]: r for r in _rows(physics_run / "truth" / "blasts.csv")}
    detections = {r["detection_id"]: r for r in _rows(physics_run / "detections.csv")}
    pairs = _rows(physics_run / "truth" / "detections.csv")
    assert len(pairs) == len(detections) > 20_000  # no false detections in this scenario
    s_lon, s_lat, bias, b_lon, b_lat, t0, arrival = ([] for _ in range(7))
    for p in pairs:
        d = detections[p["detection_id"]]
        b = blasts[p["event_id"]]
        lo, la, bi = stations[d["station_id"]]
        s_lon.append(lo), s_lat.append(la), bias.append(bi)
        b_lon.append(float(b["lon"])), b_lat.append(float(b["lat"]))
        t0.append(parse_time(b["time"])), arrival.append(parse_time(d["time"]))
    t = np.array(t0)
    az_at_blast, _, dist = GEOD.inv(b_lon, b_lat, s_lon, s_lat)
    hour = (t / 3600.0) % 24
    temperature = 12 + 6 * np.cos(2 * np.pi * (hour - 12) / 24)
    wind_towards = (250 + 180) % 360
    speed = 331.3 * np.sqrt(1 + temperature / 273.15) + 6 * np.cos(
        np.radians(np.asarray(az_at_blast) - wind_towards)
    )
    residual = np.array(arrival) - t - np.asarray(dist) / speed - np.array(bias)
    assert abs(residual.mean()) < 4 * 0.03 / math.sqrt(len(residual))
    assert residual.std() == pytest.approx(0.03, rel=0.05)
    # and the wind matters: downwind, sound arrives earlier than still air would bring it
    still = (
        np.array(arrival)
        - t
        - np.asarray(dist) / (speed - 6 * np.cos(np.radians(np.asarray(az_at_blast) - wind_towards)))
    )
    downwind = np.cos(np.radians(np.asarray(az_at_blast) - wind_towards)) > 0.8
    assert (still - np.array(bias))[downwind].mean() < -5 * 0.03 / math.sqrt(downwind.sum())


def test_detection_rate_follows_the_configured_curve(physics_run: Path) -> None:
    """For every (blast, sensor) pair within hearing range, the share detected per range band
    matches the mean configured probability over that band."""
    sc = _scenario(PHYSICS)
    curve = sc.acoustic.detection
    stations = _stations(physics_run)
    ids = list(stations)
    s_xy = np.array([stations[i][:2] for i in ids])
    blasts = _rows(physics_run / "truth" / "blasts.csv")
    incidents = {r["event_id"]: r for r in _rows(physics_run / "truth" / "incidents.csv")}
    heard = {(d["event_id"], r["station_id"]) for d, r in _zip_detections(physics_run)}
    lon0, lat0 = float(np.median(s_xy[:, 0])), float(np.median(s_xy[:, 1]))
    kx, ky = 111_320 * math.cos(math.radians(lat0)), 110_574.0
    tree = cKDTree(np.column_stack([(s_xy[:, 0] - lon0) * kx, (s_xy[:, 1] - lat0) * ky]))
    by_band: dict[int, list[tuple[float, bool]]] = defaultdict(list)
    for b in blasts:
        w = sc.weapon(incidents[b["incident_id"]]["weapon_class"])
        loud = w.launch_loudness if b["blast_type"] == "launch" else w.impact_loudness
        f = loud * (w.calibre_mm / curve.reference_calibre_mm) ** curve.calibre_exponent
        bx, by = (float(b["lon"]) - lon0) * kx, (float(b["lat"]) - lat0) * ky
        for k in tree.query_ball_point([bx, by], (curve.r50_km + 6 * curve.width_km) * 1000 * f):
            _, _, d = GEOD.inv(float(b["lon"]), float(b["lat"]), *stations[ids[k]][:2])
            p = curve.max_probability / (
                1 + math.exp((d - curve.r50_km * 1000 * f) / (curve.width_km * 1000 * f))
            )
            by_band[int(d // 3000)].append((p, (b["event_id"], ids[k]) in heard))
    checked = 0
    for items in by_band.values():
        if len(items) < 400:
            continue
        p = np.array([i[0] for i in items])
        seen = np.array([i[1] for i in items])
        expected = p.mean()
        sd = math.sqrt(max((p * (1 - p)).sum(), 1.0)) / len(items)
        assert abs(seen.mean() - expected) < 4 * sd + 0.005, (len(items), seen.mean(), expected)
        checked += 1
    assert checked >= 4


def _zip_detections(out: Path) -> list[tuple[dict[str, str], dict[str, str]]]:
    det = {r["detection_id"]: r for r in _rows(out / "detections.csv")}
    return [(p, det[p["detection_id"]]) for p in _rows(out / "truth" / "detections.csv")]


def test_dead_time_and_false_detections(tmp_path: Path) -> None:
    data = {**PHYSICS, "hours": 4, "acoustic": {"dead_time_s": 1.0, "false_per_sensor_hour": 2.0}}
    run_scenario(_scenario(data), tmp_path)
    by_sensor: dict[str, list[float]] = defaultdict(list)
    rows = _rows(tmp_path / "detections.csv")
    for r in rows:
        by_sensor[r["station_id"]].append(parse_time(r["time"]))
    gaps = np.concatenate([np.diff(sorted(v)) for v in by_sensor.values() if len(v) > 1])
    assert gaps.min() >= 1.0 - 1e-6
    n_true = len(_rows(tmp_path / "truth" / "detections.csv"))
    n_false = len(rows) - n_true
    meta = orjson.loads((tmp_path / "truth" / "meta.json").read_bytes())
    expected = 2.0 * 4 * meta["counts"]["sensors"]
    # a few false arrivals fall within the dead time of another: slightly fewer than drawn
    assert 0.85 * expected < n_false <= expected + 4 * math.sqrt(expected)
    # the file is in time order, and the array sensors give an azimuth
    times = [parse_time(r["time"]) for r in rows]
    assert times == sorted(times)
    assert any(r["azimuth_deg"] for r in rows) and any(not r["azimuth_deg"] for r in rows)


def test_radar_ellipses_cover_95_percent_of_true_origins(physics_run: Path) -> None:
    incidents = {r["event_id"]: r for r in _rows(physics_run / "truth" / "incidents.csv")}
    truth_of = {r["observation_id"]: r["event_id"] for r in _rows(physics_run / "truth" / "observations.csv")}
    blasts_by_incident: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for b in _rows(physics_run / "truth" / "blasts.csv"):
        if b["blast_type"] == "launch":
            blasts_by_incident[b["incident_id"]].append(
                (parse_time(b["time"]), float(b["lon"]), float(b["lat"]))
            )
    inside = []
    for line in (physics_run / "observations.jsonl").read_text().splitlines():
        o = orjson.loads(line)
        if o["kind"] != "radar_track":
            continue
        inc = truth_of[o["client_id"]]
        assert incidents[inc]["type"] == "fire"
        t = parse_time(o["observed_at"])
        # the round it tracked: the launch at that time
        _, lon, lat = min(blasts_by_incident[inc], key=lambda b: abs(b[0] - t))
        az, _, d = GEOD.inv(o["lon"], o["lat"], lon, lat)
        e = o["origin_ellipse"]
        rel = math.radians(az - e["azimuth_deg"])
        inside.append(
            (d * math.cos(rel) / e["semi_major_m"]) ** 2 + (d * math.sin(rel) / e["semi_minor_m"]) ** 2 <= 1
        )
    assert len(inside) > 2_000
    assert np.mean(inside) == pytest.approx(0.95, abs=0.015)


def test_sighting_bearings_and_crater_azimuths_are_unbiased(physics_run: Path) -> None:
    incidents = {r["event_id"]: r for r in _rows(physics_run / "truth" / "incidents.csv")}
    truth_of = {r["observation_id"]: r["event_id"] for r in _rows(physics_run / "truth" / "observations.csv")}
    bearing_err = []
    crater_err = []
    for line in (physics_run / "observations.jsonl").read_text().splitlines():
        o = orjson.loads(line)
        if o["kind"] == "sighting":
            inc = incidents[truth_of[o["client_id"]]]
            # a sighting is of the firing position or of the impacts; the nearer in bearing
            errs = []
            for lon, lat in ((inc["origin_lon"], inc["origin_lat"]), (inc["lon"], inc["lat"])):
                az, _, _ = GEOD.inv(o["lon"], o["lat"], float(lon), float(lat))
                errs.append((o["bearing_deg"] - az + 180) % 360 - 180)
            bearing_err.append(min(errs, key=abs))
        elif o["kind"] == "crater":
            inc = incidents[truth_of[o["client_id"]]]
            az, _, _ = GEOD.inv(o["lon"], o["lat"], float(inc["origin_lon"]), float(inc["origin_lat"]))
            crater_err.append((o["azimuth_of_origin_deg"] - az + 180) % 360 - 180)
    assert len(bearing_err) > 100
    assert abs(np.mean(bearing_err)) < 4 * 5 / math.sqrt(len(bearing_err))
    assert np.std(bearing_err) == pytest.approx(5.0, rel=0.2)
    # crater azimuths point back to the battery within their stated noise (10 degrees, plus the
    # battery's spread seen from the impact)
    assert len(crater_err) > 20
    assert np.percentile(np.abs(crater_err), 50) < 15


def test_reports_at_the_impacts_give_the_incidents_dead_and_injured(physics_run: Path) -> None:
    """A crater team (or a post that saw the impacts from close by) counts an incident's
    casualties 7 times in 10, every report of one incident the same figures, the truth's; reports
    of incidents without casualties, and posts far off, give none."""
    incidents = {r["event_id"]: r for r in _rows(physics_run / "truth" / "incidents.csv")}
    truth_of = {r["observation_id"]: r["event_id"] for r in _rows(physics_run / "truth" / "observations.csv")}
    crater_counts = []  # whether each crater of an incident with casualties counted them
    for line in (physics_run / "observations.jsonl").read_text().splitlines():
        o = orjson.loads(line)
        if o["kind"] not in ("sighting", "crater"):
            continue
        inc = incidents[truth_of[o["client_id"]]]
        casualties, killed = int(inc["casualties"]), int(inc["killed"])
        if "killed" in o:
            assert (o["killed"], o["injured"]) == (killed, casualties - killed) and casualties > 0
        if o["kind"] == "sighting" and "killed" in o:
            assert o["sighting_type"] == "impact"
            _, _, d = GEOD.inv(o["lon"], o["lat"], float(inc["lon"]), float(inc["lat"]))
            assert d < 1_500.0  # 1 km from the impacts, which spread around their centre
        if o["kind"] == "crater" and casualties:
            crater_counts.append("killed" in o)
    n = len(crater_counts)
    assert n > 30 and abs(np.mean(crater_counts) - 0.7) < 4 * math.sqrt(0.21 / n)
    hurt = [(int(r["casualties"]), int(r["killed"])) for r in incidents.values() if int(r["casualties"])]
    assert all(0 <= k <= c for c, k in hurt)
    total = sum(c for c, _ in hurt)
    assert abs(sum(k for _, k in hurt) / total - 0.3) < 4 * math.sqrt(0.21 / total)


def test_truth_provisions_follow_the_agreement(physics_run: Path) -> None:
    agreement = parse_agreement_text(demo_files()[0].read_text())
    geo = Geography.from_agreement(agreement)
    zones = {z.weapon_class: z.id for z in agreement.zones if isinstance(z, WithdrawalZone)}
    rows = _rows(physics_run / "truth" / "incidents.csv")
    fire = [r for r in rows if r["type"] == "fire"]
    assert len(fire) > 200
    for r in fire:
        provisions = set(r["provisions"].split(";"))
        assert "P1" in provisions
        lon, lat = float(r["origin_lon"]), float(r["origin_lat"])
        assert geo.controlling_party(lon, lat) == r["party"]
        assert geo.controlling_party(float(r["lon"]), float(r["lat"])) == r["victim"] != r["party"]
        inside = geo.zones_containing(lon, lat)
        zone = zones.get(r["weapon_class"])
        in_own_zone = zone is not None and bool(inside[geo.zone_ids.index(zone)])
        assert ("P2" in provisions) == in_own_zone, r
        assert ("P6" in provisions) == bool(inside[geo.zone_ids.index("buffer_2km")]), r
    assert any("P2" in r["provisions"] for r in fire) and any("P2" not in r["provisions"] for r in fire)
    presence = [r for r in rows if r["type"] == "presence"]
    assert presence and all(r["provisions"] in ("", "P2", "P2;P6") for r in presence)


def test_allegations_are_never_more_reliable_than_their_source(physics_run: Path) -> None:
    truth = {r["observation_id"]: r for r in _rows(physics_run / "truth" / "allegations.csv")}
    incidents = {r["event_id"]: r for r in _rows(physics_run / "truth" / "incidents.csv")}
    kinds = defaultdict(int)
    credibility: dict[str, list[int]] = defaultdict(list)
    for line in (physics_run / "observations.jsonl").read_text().splitlines():
        o = orjson.loads(line)
        if o["kind"] != "allegation":
            continue
        t = truth[o["client_id"]]
        kinds[t["truth"]] += 1
        assert o["reliability"] == "F" and o["nation"] == o["alleging_party"]
        credibility[t["truth"] == "true"].append(o["credibility"])  # type: ignore[index]
        if t["truth"] == "true":
            inc = incidents[t["event_id"]]
            assert (o["accused_party"], o["alleging_party"]) == (inc["party"], inc["victim"])
        elif t["truth"] == "blame_flip":
            # the party that fired accuses the one it fired at
            inc = incidents[t["event_id"]]
            assert (o["alleging_party"], o["accused_party"]) == (inc["party"], inc["victim"])
        else:
            assert t["event_id"] == ""
    assert kinds["true"] > 50 and kinds["fabricated"] > 0 and kinds["blame_flip"] > 0
    # the grade does not give the truth away
    assert abs(np.mean(credibility[True]) - np.mean(credibility[False])) < 0.6  # type: ignore[index]


def test_a_generated_day_ingests_with_zero_rejections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    out = tmp_path / "sim"
    result = runner.invoke(app, ["sim", "--scenario", "quiet-day", "--seed", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    n_lines = sum(1 for _ in (out / "observations.jsonl").open())
    meta = orjson.loads((out / "truth" / "meta.json").read_bytes())
    kinds = meta["counts"]["observations"]
    assert sum(kinds.values()) == n_lines
    assert set(kinds) >= {
        "acoustic_detection",
        "sighting",
        "radar_track",
        "allegation",
        "air_track",
        "weapon_presence",
    }
    monkeypatch.setenv("GARANT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GARANT_DATABASE_URL", raising=False)
    assert runner.invoke(app, ["agreement", "load", str(demo_files()[0])]).exit_code == 0
    result = runner.invoke(app, ["ingest", str(out / "observations.jsonl")])
    assert result.exit_code == 0, result.output
    assert f"accepted {n_lines}, duplicates 0, rejected 0" in result.output


def test_scenario_errors_name_the_path_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {"name": "bad", "start": "2026-03-02T00:00:00", "hours": 4, "regimes": [{"kind": "riot"}]},
            sort_keys=False,
        )
    )
    with pytest.raises(AgreementFileError) as exc:
        load_scenario(str(bad))
    text = str(exc.value)
    assert "start" in text and "UTC offset" in text
    assert "regimes[0].kind" in text and ":5:" in text
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(
        "name: unknown\nstart: '2026-03-02T00:00:00Z'\nhours: 4\nregimes:\n"
        "  - kind: quiet\n    weapon_mix: {howitzer: 1}\n"
    )
    result = CliRunner().invoke(app, ["sim", "--scenario", str(unknown), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "regimes[0].weapon_mix.howitzer: not a weapon class of paris-2026-demo@1" in result.output
    spaced = tmp_path / "spaced.yaml"
    spaced.write_text(
        "name: spaced\nstart: '2026-03-02T00:00:00Z'\nhours: 4\nid_prefix: 'a b'\nregimes: [{kind: quiet}]\n"
    )
    with pytest.raises(AgreementFileError, match=r"spaced\.yaml:4: id_prefix: String should match pattern"):
        load_scenario(str(spaced))
    result = CliRunner().invoke(app, ["sim", "--scenario", "no-such-scenario", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "armed-attack-day" in result.output
