"""Geography engine speed on the real front: side, zone membership and signed distance of 10^6 points.

The geography is the DeepState line of 2025-06-01 (1,249 km, MultiLineString), the occupied
area of that day as the RU control area, and Ukraine's DCW outline minus that area as the UA
control area, with a 2 km buffer and Minsk-like withdrawal zones of 25, 35 and 70 km. The points
are 10^6 uniform random positions over the line's bounding box (seeded), so about a quarter fall
in neither area (Russia, the Sea of Azov) and exercise the nearest-area rule.

Targets (on the 2-core reference machine): side + zone membership under 2 s, signed distance
under 10 s, per 10^6 points. Each timing is the best of 3.

    python bench/bench_geo.py          # table, then the JSON
    python bench/bench_geo.py --json   # JSON only

`run()` returns the same figures as a dict, for a collecting `bench/run.py`.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

from garant.geo import NO_PARTY, Geography, ZoneSpec

N_POINTS = 1_000_000
SEED = 20250601
REPEAT = 3
TARGET_SIDE_ZONES_S = 2.0
TARGET_DISTANCE_S = 10.0
ZONES: dict[str, ZoneSpec | float] = {
    "buffer_2km": ZoneSpec(2.0, "buffer", "Buffer strip"),
    "wz_artillery_100_plus": ZoneSpec(25.0, "withdrawal", "Artillery 100 mm+", "artillery_100_plus"),
    "wz_mlrs": ZoneSpec(35.0, "withdrawal", "MLRS", "mlrs"),
    "wz_mlrs_heavy": ZoneSpec(70.0, "withdrawal", "Heavy MLRS, tactical missiles", "mlrs_heavy"),
}


def shared_data() -> Path:
    env = os.environ.get("GARANT_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def _geometry(path: Path) -> Any:
    feats = json.loads(path.read_text(encoding="utf-8"))["features"]
    return shapely.union_all([shape(f["geometry"]) for f in feats])


def _best(fn: Callable[[], Any], repeat: int = REPEAT) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run(n_points: int = N_POINTS, seed: int = SEED) -> dict[str, Any]:
    data = shared_data()
    paths = {
        "line": data / "deepstate" / "derived_contact_line_20250601.geojson",
        "occupied": data / "deepstate" / "deepstatemap_data_20250601.geojson",
        "outline": data / "boundaries" / "ukraine_outline_dcw_gmt_1to1M.geojson",
    }
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        return {"name": "geo", "skipped": f"shared data absent (set GARANT_SHARED_DATA): {missing}"}

    line = _geometry(paths["line"])
    occupied = _geometry(paths["occupied"])
    ukraine = _geometry(paths["outline"])
    areas = {"UA": ukraine.difference(occupied), "RU": occupied}
    t0 = time.perf_counter()
    geo = Geography(line, areas, "UA", ZONES)
    build_s = time.perf_counter() - t0

    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = line.bounds
    lon = rng.uniform(minx, maxx, n_points)
    lat = rng.uniform(miny, maxy, n_points)

    def side_and_zones() -> tuple[Any, Any]:
        return geo.party_index(lon, lat), geo.zones_containing(lon, lat)

    side_zones_s, (party, zones) = _best(side_and_zones)
    side_s, _ = _best(lambda: geo.party_index(lon, lat))
    zones_s, _ = _best(lambda: geo.zones_containing(lon, lat))
    distance_s, dist = _best(lambda: geo.signed_distance_m(lon, lat))

    segments = int(shapely.get_num_coordinates(geo.projected_line) - shapely.get_num_geometries(line))
    return {
        "name": "geo",
        "n_points": n_points,
        "seed": seed,
        "repeat": REPEAT,
        "line_km": round(geo.line_length_m / 1000.0, 1),
        "line_segments": segments,
        "crs": geo.crs,
        "scale_error": geo.scale_error,
        "zones": {zid: spec.half_width_km for zid, spec in geo.zone_specs.items()},
        "build_s": round(build_s, 3),
        "side_s": round(side_s, 3),
        "zones_s": round(zones_s, 3),
        "side_and_zones_s": round(side_zones_s, 3),
        "signed_distance_s": round(distance_s, 3),
        "targets_s": {"side_and_zones": TARGET_SIDE_ZONES_S, "signed_distance": TARGET_DISTANCE_S},
        "meets_targets": bool(side_zones_s < TARGET_SIDE_ZONES_S and distance_s < TARGET_DISTANCE_S),
        "share": {
            "UA": float(np.mean(party == 0)),
            "RU": float(np.mean(party == 1)),
            "none": float(np.mean(party == NO_PARTY)),
            **{zid: float(zones[:, j].mean()) for j, zid in enumerate(geo.zone_ids)},
        },
        "median_abs_distance_km": round(float(np.median(np.abs(dist))) / 1000.0, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "shapely": shapely.__version__,
        },
    }


def _table(r: dict[str, Any]) -> str:
    if "skipped" in r:
        return f"geo benchmark skipped: {r['skipped']}"
    n = f"{r['n_points']:,}"
    rows = [
        ("build Geography (once per agreement version)", r["build_s"], None),
        (f"side (party_index), {n} points", r["side_s"], None),
        (f"zone membership, {len(r['zones'])} zones, {n} points", r["zones_s"], None),
        (f"side + zone membership, {n} points", r["side_and_zones_s"], r["targets_s"]["side_and_zones"]),
        (f"signed distance, {n} points", r["signed_distance_s"], r["targets_s"]["signed_distance"]),
    ]
    width = max(len(name) for name, _, _ in rows)
    out = [
        f"contact line 2025-06-01: {r['line_km']:,.1f} km, {r['line_segments']:,} segments; "
        f"scale error of the CRS <= {r['scale_error'] * 100:.3f} %",
        f"points: UA {r['share']['UA']:.1%}, RU {r['share']['RU']:.1%}, no area {r['share']['none']:.1%}",
        "",
        f"{'operation':<{width}}  best of {r['repeat']}   target",
    ]
    for name, secs, target in rows:
        t = "" if target is None else f"< {target:.0f} s  {'ok' if secs < target else 'MISSED'}"
        out.append(f"{name:<{width}}  {secs:8.3f} s   {t}")
    return "\n".join(out)


if __name__ == "__main__":
    result = run()
    if "--json" not in sys.argv[1:]:
        print(_table(result))
        print()
    print(json.dumps(result, indent=2))
