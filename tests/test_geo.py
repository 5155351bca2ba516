"""Geography engine: distances against geodesic references, sides, zones, shapes, real data.

The synthetic cases use a meridian contact line (a geodesic), so the distance of a point reached
by a geodesic leaving the line at right angles is exactly the length of that geodesic
(`pyproj.Geod`). The real-data check uses the DeepState line of 2025-06-01 and the GeoNames
settlements published with it in ../shared/data (skipped, saying why, if that folder is absent).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
import yaml
from shapely.geometry import LineString, MultiLineString, box, shape

from garant.domain.agreement import Agreement
from garant.geo import NO_PARTY, Geography, ZoneSpec, agreement_features

from .shared_data import need_shared_data

GEOD = pyproj.Geod(ellps="WGS84")
REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "src" / "garant" / "demo" / "agreement.yaml"

LON0 = 35.0
EAST = box(LON0, 44.0, 41.0, 53.0)  # UA, positive
WEST = box(29.0, 44.0, LON0, 53.0)  # RU


def _offset(lat: float, km: float, azimuth: float) -> tuple[float, float]:
    """Point reached from (LON0, lat) by a geodesic of `km` leaving the meridian at `azimuth`."""
    lon, la, _ = GEOD.fwd(LON0, lat, azimuth, km * 1000.0)
    return float(lon), float(la)


@pytest.fixture(scope="module")
def meridian() -> Geography:
    line = LineString([(LON0, 46.0), (LON0, 51.0)])
    zones: dict[str, ZoneSpec | float] = {
        "buffer": ZoneSpec(2.0, "buffer", "Buffer 2 km"),
        "w25": ZoneSpec(25.0, "withdrawal", "Artillery", "artillery_100_plus"),
        "w70": 70.0,
    }
    return Geography(line, {"UA": EAST, "RU": WEST}, "UA", zones)


# ---------------------------------------------------------------------- distances and sides
@pytest.mark.parametrize("km", [0.1, 1.0, 10.0, 30.0, 70.0])
@pytest.mark.parametrize("lat", [46.5, 48.5, 50.5])
def test_distance_matches_geodesic(meridian: Geography, km: float, lat: float) -> None:
    east = _offset(lat, km, 90.0)
    west = _offset(lat, km, 270.0)
    d = meridian.signed_distance_m([east[0], west[0]], [east[1], west[1]])
    tol = km * 1000.0 * meridian.scale_error + 0.5
    assert d[0] == pytest.approx(km * 1000.0, abs=tol)
    assert d[1] == pytest.approx(-km * 1000.0, abs=tol)
    assert meridian.distance_m(east[0], east[1]) == pytest.approx(abs(d[0]))


def test_ten_km_within_a_few_metres(meridian: Geography) -> None:
    lon, lat = _offset(48.5, 10.0, 90.0)
    assert abs(float(meridian.signed_distance_m(lon, lat)) - 10_000.0) < 5.0
    lon, lat = _offset(48.5, 10.0, 270.0)
    assert abs(float(meridian.signed_distance_m(lon, lat)) + 10_000.0) < 5.0


def test_scale_error_is_small_and_reported(meridian: Geography) -> None:
    # a 555 km line plus 100 km margin: the balanced stereographic stays within 0.05 %
    assert 0 < meridian.scale_error < 5e-4
    assert meridian.crs.startswith("+proj=sterea")
    length = GEOD.inv(LON0, 46.0, LON0, 51.0)[2]
    assert meridian.line_length_m == pytest.approx(length, rel=meridian.scale_error)


def test_beyond_the_end_of_the_line_distance_is_to_the_end(meridian: Geography) -> None:
    lon, lat = 35.3, 52.0  # north of the northern end
    ref = GEOD.inv(LON0, 51.0, lon, lat)[2]
    assert float(meridian.signed_distance_m(lon, lat)) == pytest.approx(ref, rel=1e-3)


def test_sides_and_controlling_party(meridian: Geography) -> None:
    lon = np.array([36.0, 34.0, 40.9, 29.1])
    lat = np.array([48.0, 48.0, 45.0, 52.0])
    assert meridian.controlling_party(lon, lat).tolist() == ["UA", "RU", "UA", "RU"]
    assert meridian.party_index(lon, lat).tolist() == [0, 1, 0, 1]
    assert meridian.parties == ("UA", "RU")
    assert np.sign(meridian.signed_distance_m(lon, lat)).tolist() == [1.0, -1.0, 1.0, -1.0]


def test_point_in_no_area_takes_the_sign_of_the_nearest_area(meridian: Geography) -> None:
    lon = np.array([42.0, 27.0, 36.0])  # east of UA's box, west of RU's box, north of both
    lat = np.array([48.0, 48.0, 53.5])
    assert meridian.party_index(lon, lat).tolist() == [NO_PARTY] * 3
    assert meridian.controlling_party(lon, lat).tolist() == ["", "", ""]
    assert np.sign(meridian.signed_distance_m(lon, lat)).tolist() == [1.0, -1.0, 1.0]


def test_side_comes_from_areas_not_line_direction() -> None:
    # the second piece runs south to north, the first north to south: a cross product would
    # flip the sign along one of them, the areas do not
    line = MultiLineString([[(LON0, 49.0), (LON0, 46.0)], [(LON0, 49.5), (LON0, 51.0)]])
    g = Geography(line, {"RU": WEST, "UA": EAST}, "UA")
    lon = np.array([35.2, 35.2, 34.8, 34.8])
    lat = np.array([47.0, 50.0, 47.0, 50.0])
    d = g.signed_distance_m(lon, lat)
    assert (d[:2] > 0).all() and (d[2:] < 0).all()
    assert g.controlling_party(lon, lat).tolist() == ["UA", "UA", "RU", "RU"]


def test_multilinestring_gap_distance_is_to_the_nearest_piece_end() -> None:
    line = MultiLineString([[(LON0, 46.0), (LON0, 48.0)], [(LON0, 49.0), (LON0, 51.0)]])
    g = Geography(line, {"UA": EAST, "RU": WEST}, "UA")
    lon, lat = 35.1, 48.45  # in the gap, nearer the southern piece's end
    ref = min(GEOD.inv(LON0, 48.0, lon, lat)[2], GEOD.inv(LON0, 49.0, lon, lat)[2])
    assert float(g.signed_distance_m(lon, lat)) == pytest.approx(ref, rel=1e-3)
    lon2, lat2 = _offset(50.0, 5.0, 270.0)  # beside the northern piece
    assert float(g.signed_distance_m(lon2, lat2)) == pytest.approx(-5000.0, abs=5.0)


def test_curved_line_against_brute_force() -> None:
    # a wavy line: the grid search must find the same nearest segment as Shapely's distance
    t = np.linspace(0, 1, 400)
    line = LineString(np.column_stack([35 + 2 * t, 47 + 0.4 * np.sin(12 * t) + 2 * t]))
    g = Geography(line, {"UA": box(30, 43, 40, 53)}, "UA")  # areas play no part in |distance|
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(33, 39, 20_000), rng.uniform(45, 51, 20_000)
    d = g.distance_m(lon, lat)
    x, y = g.project(lon, lat)
    brute = shapely.distance(shapely.points(x, y), g.projected_line)
    np.testing.assert_allclose(d, brute, rtol=0, atol=1e-6)


def test_long_edges_stay_straight_in_lon_lat() -> None:
    # RFC 7946: an edge is straight in lon/lat, as the control-area boundary that shares it is.
    # Along the 48th parallel over 370 km, a chord in the plane would pass 3 km north of it.
    line = LineString([(33.0, 48.0), (38.0, 48.0)])
    g = Geography(line, {"UA": box(30, 48, 40, 52), "RU": box(30, 44, 40, 48)}, "UA")
    lon = np.linspace(33.5, 37.5, 9)
    assert np.abs(g.distance_m(lon, np.full(9, 48.0))).max() < 5.0
    north = g.signed_distance_m(lon, np.full(9, 48.01))  # 1.1 km north of the parallel
    np.testing.assert_allclose(north, 1112.0, atol=10.0)


# ---------------------------------------------------------------------- zones
def test_zone_membership_at_the_edges(meridian: Geography) -> None:
    assert meridian.zone_ids == ("buffer", "w25", "w70")
    pts = [
        _offset(48.5, 1.95, 90.0),
        _offset(48.5, 2.05, 270.0),
        _offset(48.5, 24.9, 270.0),
        _offset(48.5, 25.1, 90.0),
        _offset(48.5, 69.9, 90.0),
        _offset(48.5, 70.1, 270.0),
    ]
    lon, lat = np.array(pts).T
    got = meridian.zones_containing(lon, lat)
    expected = [
        [True, True, True],
        [False, True, True],
        [False, True, True],
        [False, False, True],
        [False, False, True],
        [False, False, False],
    ]
    assert got.tolist() == expected


def test_zones_agree_with_signed_distance(meridian: Geography) -> None:
    rng = np.random.default_rng(11)
    lon, lat = rng.uniform(33.5, 36.5, 50_000), rng.uniform(45.5, 51.5, 50_000)
    d = np.abs(meridian.signed_distance_m(lon, lat))
    z = meridian.zones_containing(lon, lat)
    for j, zid in enumerate(meridian.zone_ids):
        w = meridian.zone_specs[zid].half_width_km * 1000.0
        clear = np.abs(d - w) > 2.0  # polygon arcs are within 1 m of the true strip
        assert np.array_equal(z[clear, j], d[clear] <= w), zid
        assert z[:, j].any() and not z[:, j].all()


def test_zone_polygon_wgs84_round_trip(meridian: Geography) -> None:
    poly = meridian.zone_polygon_wgs84("w25", simplify_m=0)
    assert poly.is_valid
    cut = poly.boundary.intersection(LineString([(33, 48.5), (37, 48.5)]))
    west, east = sorted(shapely.get_coordinates(cut)[:, 0])
    # the strip's edges are 25 km from the line on each side (0.0005 degree is about 37 m here)
    assert west == pytest.approx(_offset(48.5, 25.0, 270.0)[0], abs=5e-4)
    assert east == pytest.approx(_offset(48.5, 25.0, 90.0)[0], abs=5e-4)
    assert shapely.get_num_coordinates(meridian.zone_polygon_wgs84("w25")) < 2_000


# ---------------------------------------------------------------------- shapes and edge cases
def test_vectorised_shapes(meridian: Geography) -> None:
    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(34, 36, (3, 4)), rng.uniform(47, 50, (3, 4))
    assert meridian.signed_distance_m(lon, lat).shape == (3, 4)
    assert meridian.signed_distance_m(lon, lat).dtype == np.float64
    assert meridian.controlling_party(lon, lat).shape == (3, 4)
    assert meridian.party_index(lon, lat).shape == (3, 4)
    assert meridian.zones_containing(lon, lat).shape == (3, 4, 3)
    assert meridian.zones_containing(lon, lat).dtype == np.bool_
    flat = meridian.signed_distance_m(lon.ravel(), lat.ravel())
    np.testing.assert_array_equal(meridian.signed_distance_m(lon, lat).ravel(), flat)
    # scalars give 0-d arrays; a scalar latitude broadcasts against a vector of longitudes
    assert meridian.signed_distance_m(35.5, 48.0).shape == ()
    assert meridian.zones_containing(35.01, 48.0).shape == (3,)
    assert meridian.signed_distance_m([34.0, 36.0], 48.0).shape == (2,)
    # empty input
    assert meridian.signed_distance_m(np.array([]), np.array([])).shape == (0,)
    assert meridian.zones_containing(np.array([]), np.array([])).shape == (0, 3)


def test_non_finite_points(meridian: Geography) -> None:
    lon = np.array([np.nan, 35.1, np.inf])
    lat = np.array([48.0, 48.0, 48.0])
    d = meridian.signed_distance_m(lon, lat)
    assert np.isnan(d[0]) and np.isfinite(d[1]) and np.isnan(d[2])
    assert meridian.party_index(lon, lat).tolist() == [NO_PARTY, 0, NO_PARTY]
    assert meridian.zones_containing(lon, lat)[[0, 2]].sum() == 0


def test_bad_inputs_are_refused() -> None:
    line = LineString([(LON0, 46.0), (LON0, 51.0)])
    with pytest.raises(ValueError, match="positive_party"):
        Geography(line, {"UA": EAST, "RU": WEST}, "XX")
    with pytest.raises(ValueError, match="LineString"):
        Geography(shapely.Point(35, 48), {"UA": EAST}, "UA")
    with pytest.raises(ValueError, match="Polygon"):
        Geography(line, {"UA": line}, "UA")
    with pytest.raises(ValueError, match="half_width_km"):
        Geography(line, {"UA": EAST}, "UA", {"z": -1.0})


# ---------------------------------------------------------------------- the demo agreement
@pytest.fixture(scope="module")
def demo() -> Agreement:
    return Agreement.model_validate(yaml.safe_load(DEMO.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def demo_geo(demo: Agreement) -> Geography:
    return Geography.from_agreement(demo)


def test_demo_agreement_is_valid_and_shaped_as_promised(demo: Agreement) -> None:
    assert demo.key == "paris-2026-demo@1"
    assert "APPROXIMATE" in (demo.description or "")
    assert {p.code for p in demo.parties} == {"UA", "RU"}
    assert [g.code for g in demo.guarantors] == ["US", "FR", "GB", "DE", "PL", "IT", "TR", "CA"]
    assert demo.positive_side == "UA"
    assert [p.id for p in demo.provisions] == ["P1", "P2", "P3", "P4", "P5", "P6"]
    assert 20 <= len(demo.contact_line.coordinates) <= 30
    line = shape(demo.contact_line.model_dump())
    ua, ru = (shape(demo.control_areas[c].model_dump()) for c in ("UA", "RU"))
    assert ua.is_valid and ru.is_valid
    assert ua.intersection(ru).area < 1e-9  # no overlap ...
    shared = ua.boundary.intersection(ru.boundary)
    assert shared.length == pytest.approx(line.length, rel=1e-9)  # ... and they share the line
    assert line.within(ua.boundary) and line.within(ru.boundary)
    assert shapely.get_num_coordinates(ua) + shapely.get_num_coordinates(ru) < 300


def test_demo_geography_sides(demo_geo: Geography) -> None:
    towns = {  # lon, lat (rounded GeoNames / common coordinates)
        "Kharkiv": (36.2304, 49.9808, "UA"),
        "Zaporizhzhia": (35.1396, 47.8229, "UA"),
        "Kherson": (32.6146, 46.6370, "UA"),
        "Kramatorsk": (37.5561, 48.7230, "UA"),
        "Nikopol": (34.3913, 47.5683, "UA"),
        "Donetsk": (37.8028, 48.0159, "RU"),
        "Melitopol": (35.3653, 46.8489, "RU"),
        "Sevastopol": (33.5254, 44.6166, "RU"),
        "Luhansk": (39.3078, 48.5740, "RU"),
    }
    lon = np.array([v[0] for v in towns.values()])
    lat = np.array([v[1] for v in towns.values()])
    side = [v[2] for v in towns.values()]
    assert demo_geo.controlling_party(lon, lat).tolist() == side
    d = demo_geo.signed_distance_m(lon, lat)
    assert ((d > 0) == (np.array(side) == "UA")).all()
    # the demo line ends on the coarse outline: 24 towns, 800-850 km
    assert 800_000 < demo_geo.line_length_m < 850_000


def test_agreement_features(demo: Agreement, demo_geo: Geography) -> None:
    feats = agreement_features(demo, demo_geo)
    layers = [f["properties"]["layer"] for f in feats]
    assert layers.count("contact_line") == 1
    assert sorted(f["properties"]["party"] for f in feats if f["properties"]["layer"] == "control_area") == [
        "RU",
        "UA",
    ]
    zones = {f["id"]: f for f in feats if f["properties"]["layer"] == "zone"}
    assert list(zones) == [z.id for z in demo.zones]
    for f in feats:
        assert f["type"] == "Feature"
        assert {"id", "name", "kind", "layer"} <= set(f["properties"])
        assert f["geometry"]["type"] in {"LineString", "Polygon", "MultiPolygon"}
    mlrs = zones["wz_mlrs"]
    assert mlrs["properties"]["kind"] == "withdrawal"
    assert mlrs["properties"]["weapon_class"] == "mlrs"
    assert mlrs["properties"]["half_width_km"] == 35
    # small enough for a map; every position is WGS84 and rounded
    text = json.dumps(feats)
    assert len(text) < 200_000
    zone_geom = shape(zones["wz_artillery_100_plus"]["geometry"])
    assert zone_geom.is_valid
    assert not shapely.contains_xy(zone_geom, 35.14, 47.82)  # Zaporizhzhia, 29 km from the line
    assert shapely.contains_xy(zone_geom, 35.30, 47.70)  # 12 km north of Stepnohirsk-Orikhiv
    lon, lat = demo_geo.unproject(*demo_geo.project(35.14, 47.82))
    assert float(lon) == pytest.approx(35.14) and float(lat) == pytest.approx(47.82)


# ---------------------------------------------------------------------- the real data
def _real() -> dict[str, Any]:
    return {
        "line": need_shared_data("deepstate", "derived_contact_line_20250601.geojson"),
        "occupied": need_shared_data("deepstate", "deepstatemap_data_20250601.geojson"),
        "outline": need_shared_data("boundaries", "ukraine_outline_dcw_gmt_1to1M.geojson"),
        "settlements": need_shared_data("settlements", "ua_settlements_within30km_contact_line_20250601.csv"),
    }


def _geometry(path: Path) -> Any:
    feats = json.loads(path.read_text(encoding="utf-8"))["features"]
    return shapely.union_all([shape(f["geometry"]) for f in feats])


@pytest.fixture(scope="module")
def real() -> tuple[Geography, list[dict[str, str]]]:
    paths = _real()
    line = _geometry(paths["line"])
    occupied = _geometry(paths["occupied"])  # DeepState occupied area = Russian-controlled
    ukraine = _geometry(paths["outline"])
    geo = Geography(
        line,
        {"UA": ukraine.difference(occupied), "RU": occupied},
        "UA",
        {"buffer": 2.0, "w25": 25.0, "w70": 70.0},
    )
    with paths["settlements"].open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return geo, rows


def test_real_settlements_side_and_distance(real: tuple[Geography, list[dict[str, str]]]) -> None:
    geo, rows = real
    assert len(rows) == 466
    lon = np.array([float(r["longitude"]) for r in rows])
    lat = np.array([float(r["latitude"]) for r in rows])
    ref_km = np.array([float(r["dist_contact_line_20250601_km"]) for r in rows])
    occupied = np.array([r["occupied_20250601"] == "1" for r in rows])

    d_km = geo.signed_distance_m(lon, lat) / 1000.0
    party = geo.controlling_party(lon, lat)
    err = np.abs(d_km - ref_km)
    far = np.abs(ref_km) > 0.5
    agree = (d_km < 0) == occupied
    print(
        f"\nsettlements: {int(agree[far].sum())}/{int(far.sum())} agree on side beyond 0.5 km "
        f"({int(agree.sum())}/{len(rows)} overall); |distance error| max {err.max() * 1000:.0f} m, "
        f"median {np.median(err) * 1000:.1f} m, 95th pct {np.percentile(err, 95) * 1000:.0f} m"
    )
    bad = [(rows[i]["name"], ref_km[i], round(float(d_km[i]), 2)) for i in np.flatnonzero(far & ~agree)]
    assert not bad, f"side disagrees: {bad}"
    assert ((party == "RU") == occupied)[far].all()
    worst = int(np.argmax(err))
    assert err.max() <= 0.5, f"{rows[worst]['name']}: {d_km[worst]:.3f} km vs {ref_km[worst]} km"
    assert np.median(err) < 0.05


def test_real_line_grid_search_is_exact(real: tuple[Geography, list[dict[str, str]]]) -> None:
    geo, _ = real
    rng = np.random.default_rng(17)
    minx, miny, maxx, maxy = geo.contact_line.bounds
    lon, lat = rng.uniform(minx - 1, maxx + 1, 5_000), rng.uniform(miny - 1, maxy + 1, 5_000)
    x, y = geo.project(lon, lat)
    brute = shapely.distance(shapely.points(x, y), geo.projected_line)
    np.testing.assert_allclose(geo.distance_m(lon, lat), brute, rtol=0, atol=1e-6)
    assert 1_240_000 < geo.line_length_m < 1_260_000  # the data set says 1,249 km
    assert geo.scale_error < 1e-3


def test_real_prefilters_match_plain_shapely(real: tuple[Geography, list[dict[str, str]]]) -> None:
    geo, _ = real
    rng = np.random.default_rng(23)
    minx, miny, maxx, maxy = geo.contact_line.bounds
    lon, lat = rng.uniform(minx, maxx, 200_000), rng.uniform(miny, maxy, 200_000)
    expected = np.full(lon.shape, NO_PARTY)
    for k in reversed(range(len(geo.parties))):  # the first area holding a point wins
        expected[shapely.intersects_xy(geo.control_areas[geo.parties[k]], lon, lat)] = k
    np.testing.assert_array_equal(geo.party_index(lon, lat), expected)
    assert (expected == NO_PARTY).any() and (expected == 0).any() and (expected == 1).any()
    x, y = geo.project(lon, lat)
    z = geo.zones_containing(lon, lat)
    for j, zid in enumerate(geo.zone_ids):
        np.testing.assert_array_equal(z[:, j], shapely.intersects_xy(geo.zone_polygons[zid], x, y), zid)


def test_real_prefilters_exact_near_boundaries(real: tuple[Geography, list[dict[str, str]]]) -> None:
    # where the raster prefilter could go wrong: within a few hundred metres of every boundary
    geo, _ = real
    rng = np.random.default_rng(29)
    for code in geo.parties:
        b = shapely.get_coordinates(shapely.segmentize(geo.control_areas[code].boundary, 0.01))
        lon, lat = (b + rng.normal(0.0, 0.004, b.shape)).T
        expected = np.full(lon.shape, NO_PARTY)
        for k in reversed(range(len(geo.parties))):
            expected[shapely.intersects_xy(geo.control_areas[geo.parties[k]], lon, lat)] = k
        np.testing.assert_array_equal(geo.party_index(lon, lat), expected, code)
    for j, zid in enumerate(geo.zone_ids):
        poly = geo.zone_polygons[zid]
        b = shapely.get_coordinates(shapely.segmentize(poly.boundary, 500.0))
        x, y = (b + rng.normal(0.0, 300.0, b.shape)).T
        lon, lat = geo.unproject(x, y)
        xx, yy = geo.project(lon, lat)
        got = geo.zones_containing(lon, lat)[:, j]
        np.testing.assert_array_equal(got, shapely.intersects_xy(poly, xx, yy), zid)
        assert got.any() and not got.all()


def test_documented_example_agreement_is_valid() -> None:
    text = (REPO / "docs" / "agreement-format.md").read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    agreement = Agreement.model_validate(yaml.safe_load(example))
    geo = Geography.from_agreement(agreement)
    assert geo.zone_ids == ("buffer_2km", "wz_mlrs", "airspace_15km")
    lon, lat = _offset(48.5, 20.0, 90.0)
    assert geo.zones_containing(lon, lat).tolist() == [False, True, False]
    assert float(geo.signed_distance_m(lon, lat)) == pytest.approx(20_000.0, abs=10.0)


def test_a_versions_geography_is_built_once_per_plane(demo: Agreement, demo_geo: Geography) -> None:
    """`Geography.of` hands every caller (runs, review acts, figures) one geography per version and
    plane; another plane is another geography, whose metres are that plane's."""
    geo = Geography.of(demo)
    assert Geography.of(demo) is geo
    assert geo.crs == demo_geo.crs
    other_plane = "+proj=utm +zone=37 +datum=WGS84 +units=m +no_defs +type=crs"
    on_utm = Geography.of(demo, other_plane)
    assert on_utm is not geo and on_utm.crs == other_plane
    assert Geography.of(demo, other_plane) is on_utm
