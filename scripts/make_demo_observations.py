"""Write `src/garant/demo/observations.jsonl`: a small, hand-shaped demo set (deterministic).

Three days of a mostly quiet ceasefire over the demo agreement, then a local flare-up:
outgoing fire seen from two posts, craters, a radar track, acoustic detections, allegations
by both parties, a heavy weapon inside its withdrawal zone, a drone over the buffer strip,
jamming of a monitoring UAV. The scenario simulator replaces this set with a generated one.

Run: .venv/bin/python scripts/make_demo_observations.py
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import yaml

from garant.domain.agreement import Agreement
from garant.geo import Geography

DEMO = Path(__file__).resolve().parents[1] / "src" / "garant" / "demo"
START = datetime(2026, 3, 2, tzinfo=UTC)


def _t(dt: datetime) -> str:
    return dt.replace(microsecond=0).isoformat().replace("+00:00", "Z")


WHOLE_FRONT = (33.0, 46.3, 38.5, 50.0)
FLARE_UP = (36.9, 48.0, 37.9, 48.7)  # the Pokrovsk-Toretsk stretch of the demo line


def _points_near_line(
    geo: Geography,
    rng: random.Random,
    n: int,
    lo_m: float,
    hi_m: float,
    side: int,
    box: tuple[float, float, float, float] = WHOLE_FRONT,
) -> list[tuple[float, float]]:
    """n points in `box` at signed distance in [lo, hi] metres on `side` (+1 positive, -1 negative)."""
    out: list[tuple[float, float]] = []
    while len(out) < n:
        lon = np.array([rng.uniform(box[0], box[2]) for _ in range(4000)])
        lat = np.array([rng.uniform(box[1], box[3]) for _ in range(4000)])
        d = geo.signed_distance_m(lon, lat) * side
        ok = np.nonzero((d >= lo_m) & (d <= hi_m))[0]
        out += [(round(float(lon[i]), 5), round(float(lat[i]), 5)) for i in ok[: n - len(out)]]
    return out


def build() -> list[dict[str, Any]]:
    agreement = Agreement.model_validate(yaml.safe_load((DEMO / "agreement.yaml").read_text()))
    geo = Geography.from_agreement(agreement)
    rng = random.Random(2026)
    heavy = [w.code for w in agreement.weapon_classes if w.heavy]
    out: list[dict[str, Any]] = []

    def add(kind: str, lon: float, lat: float, when: datetime, **fields: Any) -> None:
        base = {
            "kind": kind,
            "client_id": f"demo-{len(out):04d}",
            "source_id": "mm-post-01",
            "nation": "US",
            "observed_at": _t(when),
            "lon": lon,
            "lat": lat,
            "location_uncertainty_m": 30.0,
            "reliability": "B",
            "credibility": 2,
            "releasability": "public",
        }
        out.append({**base, **fields})

    # Quiet days: isolated small-arms sightings and single acoustic detections along the line.
    for day in range(3):
        for k, (lon, lat) in enumerate(_points_near_line(geo, rng, 8, 500, 8000, rng.choice([1, -1]))):
            when = START + timedelta(days=day, hours=rng.uniform(0, 24))
            if k % 2:
                add(
                    "sighting",
                    lon,
                    lat,
                    when,
                    sighting_type="burst",
                    count=rng.randint(1, 5),
                    bearing_deg=round(rng.uniform(0, 360), 1),
                    distance_band={"min_m": 500, "max_m": 2000},
                    weapon_class="small_arms" if "small_arms" in agreement.weapon_class_codes() else None,
                    source_id=f"mm-post-{k:02d}",
                    nation=rng.choice(["US", "FR", "GB", "PL"]),
                )
            else:
                add(
                    "acoustic_detection",
                    lon,
                    lat,
                    when,
                    sensor_id=f"ac-{day}{k:02d}",
                    source_id=f"ac-{day}{k:02d}",
                    nation="US",
                    reliability="A",
                    amplitude=round(rng.random(), 3),
                )

    # The flare-up on day 4, around one stretch of the line.
    t0 = START + timedelta(days=3, hours=4, minutes=12)
    ((fire_lon, fire_lat),) = _points_near_line(
        geo, rng, 1, -9000, -6000, 1, FLARE_UP
    )  # launch point, RU side
    ((impact_lon, impact_lat),) = _points_near_line(geo, rng, 1, 3000, 6000, 1, FLARE_UP)  # impact, UA side
    for p, (lon, lat) in enumerate(_points_near_line(geo, rng, 2, 2000, 4000, 1, FLARE_UP)):
        add(
            "sighting",
            lon,
            lat,
            t0 + timedelta(seconds=20 * p),
            sighting_type="outgoing",
            count=24,
            bearing_deg=round(rng.uniform(60, 120), 1),
            distance_band={"min_m": 5000, "max_m": 12000},
            weapon_class=heavy[-1] if heavy else None,
            source_id=f"mm-post-1{p}",
            nation=["FR", "GB"][p],
        )
    for _ in range(4):
        add(
            "crater",
            round(impact_lon + rng.uniform(-0.01, 0.01), 5),
            round(impact_lat + rng.uniform(-0.01, 0.01), 5),
            t0 + timedelta(hours=3),
            azimuth_of_origin_deg=round(rng.uniform(70, 110), 1),
            azimuth_uncertainty_deg=10.0,
            calibre_mm=122.0,
            source_id="mm-team-crater",
            nation="PL",
        )
    add(
        "radar_track",
        fire_lon,
        fire_lat,
        t0 + timedelta(seconds=5),
        origin_ellipse={"semi_major_m": 250, "semi_minor_m": 120, "azimuth_deg": 40},
        impact={"lon": impact_lon, "lat": impact_lat},
        source_id="radar-cb-2",
        nation="US",
        reliability="A",
        credibility=2,
    )
    for k, (lon, lat) in enumerate(_points_near_line(geo, rng, 5, 1000, 15000, 1, FLARE_UP)):
        add(
            "acoustic_detection",
            lon,
            lat,
            t0 + timedelta(seconds=10 + 3 * k),
            sensor_id=f"ac-arr-{k}",
            source_id=f"ac-arr-{k}",
            nation="US",
            reliability="A",
            azimuth_deg=round(rng.uniform(60, 120), 1),
        )
    add(
        "allegation",
        impact_lon,
        impact_lat,
        t0 + timedelta(hours=1),
        alleging_party="UA",
        accused_party="RU",
        description="Shelling of a village by MLRS; two civilians wounded.",
        casualties_reported=2,
        source_id="ua-liaison",
        nation="UA",
        reliability="C",
        credibility=3,
        releasability="mechanism",
    )
    add(
        "allegation",
        fire_lon,
        fire_lat,
        t0 + timedelta(hours=2),
        alleging_party="RU",
        accused_party="UA",
        description="Ukrainian artillery fired first on our positions.",
        source_id="ru-liaison",
        nation="RU",
        reliability="D",
        credibility=4,
        releasability="mechanism",
    )
    ((wp_lon, wp_lat),) = _points_near_line(geo, rng, 1, -20000, -12000, 1, FLARE_UP)
    add(
        "weapon_presence",
        wp_lon,
        wp_lat,
        t0 + timedelta(hours=6),
        weapon_class=heavy[0] if heavy else agreement.weapon_classes[0].code,
        count=4,
        source_id="uav-mm-3",
        nation="GB",
        reliability="B",
    )
    ((d_lon, d_lat),) = _points_near_line(geo, rng, 1, -1500, -500, 1, FLARE_UP)
    add(
        "air_track",
        d_lon,
        d_lat,
        t0 + timedelta(hours=7),
        aircraft_type="drone",
        points=[
            {"lon": d_lon, "lat": d_lat, "time": _t(t0 + timedelta(hours=7)), "altitude_m": 400},
            {
                "lon": round(d_lon + 0.03, 5),
                "lat": d_lat,
                "time": _t(t0 + timedelta(hours=7, minutes=2)),
                "altitude_m": 420,
            },
        ],
        source_id="radar-air-1",
        nation="US",
        reliability="A",
    )
    ((j_lon, j_lat),) = _points_near_line(geo, rng, 1, 1000, 3000, 1, FLARE_UP)
    add(
        "interference",
        j_lon,
        j_lat,
        t0 + timedelta(hours=8),
        interference_type="jamming",
        target="UAV-7 (monitoring mechanism)",
        description="GNSS and control link jammed for 40 minutes.",
        source_id="uav-mm-7",
        nation="FR",
    )
    add(
        "osint",
        impact_lon,
        impact_lat,
        t0 + timedelta(hours=5),
        url="https://example.org/video/flare-up",
        content_sha256="3f" * 32,
        description="Video of the impacts (demo placeholder).",
        source_id="osint-cell",
        nation="GB",
        reliability="F",
        credibility=3,
    )
    return out


if __name__ == "__main__":
    rows = build()
    (DEMO / "observations.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    print(f"wrote {len(rows)} observations to {DEMO / 'observations.jsonl'}")
