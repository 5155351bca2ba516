"""Valid observations of every kind, to be broken one field at a time by the tests."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import yaml
from pyproj import Geod

from garant.services.demo import demo_files


@cache
def demo_weapon_classes() -> tuple[str, ...]:
    data = yaml.safe_load(demo_files()[0].read_text())
    return tuple(w["code"] for w in data["weapon_classes"])


def _extras(kind: str, weapon_class: str) -> dict[str, Any]:
    return {
        "acoustic_detection": {"sensor_id": "ac-101", "amplitude": 0.8, "azimuth_deg": 95.5},
        "sighting": {
            "sighting_type": "outgoing",
            "count": 12,
            "bearing_deg": 110.0,
            "distance_band": {"min_m": 2000, "max_m": 5000},
            "weapon_class": weapon_class,
        },
        "crater": {"azimuth_of_origin_deg": 80.0, "azimuth_uncertainty_deg": 10, "calibre_mm": 122},
        "radar_track": {
            "origin_ellipse": {"semi_major_m": 150, "semi_minor_m": 80, "azimuth_deg": 30},
            "impact": {"lon": 37.7, "lat": 48.55, "ellipse": {"semi_major_m": 60, "semi_minor_m": 40}},
        },
        "weapon_presence": {"weapon_class": weapon_class, "count": 3},
        "air_track": {
            "aircraft_type": "drone",
            "points": [
                {"lon": 37.8, "lat": 48.6, "time": "2026-03-01T04:12:09Z", "altitude_m": 300},
                {"lon": 37.85, "lat": 48.62, "time": "2026-03-01T04:13:09Z", "altitude_m": 320},
            ],
        },
        "allegation": {"alleging_party": "UA", "accused_party": "RU", "description": "shelling of a village"},
        "osint": {"url": "https://example.org/post/1", "content_sha256": "a" * 64},
        "interference": {"interference_type": "jamming", "target": "UAV-7"},
    }[kind]


KINDS = (
    "acoustic_detection",
    "sighting",
    "crater",
    "radar_track",
    "weapon_presence",
    "air_track",
    "allegation",
    "osint",
    "interference",
)


def make(kind: str = "sighting", i: int = 0, weapon_class: str | None = None, **over: Any) -> dict[str, Any]:
    wc = weapon_class or demo_weapon_classes()[-1]
    obs: dict[str, Any] = {
        "kind": kind,
        "client_id": f"test-{kind}-{i}",
        "source_id": "op-12",
        "nation": "US",
        "observed_at": "2026-03-01T04:12:09.250Z",
        "time_precision_s": 1.0,
        "lon": 37.8 + (i % 1000) * 1e-4,
        "lat": 48.6 + (i // 1000) * 1e-4,
        "location_uncertainty_m": 50,
        "reliability": "B",
        "credibility": 2,
        **_extras(kind, wc),
    }
    obs.update(over)
    return obs


def blast_detections(
    lon: float, lat: float, when: float, prefix: str, n: int = 7, **over: Any
) -> list[dict[str, Any]]:
    """Exact arrivals (343 m/s, the server's default) of one blast at `n` sensors on a 3-4.5 km
    ring around it; `over` sets further fields of every detection (nation, releasability...)."""
    out = []
    for k in range(n):
        az, dist = 360.0 * k / n, 3_000.0 + 500.0 * (k % 4)
        slon, slat, _ = Geod(ellps="WGS84").fwd(lon, lat, az, dist)
        arrival = datetime.fromtimestamp(when + dist / 343.0, UTC)
        obs = {
            "kind": "acoustic_detection",
            "client_id": f"{prefix}-{when:.0f}-{k}",
            "source_id": f"{prefix}-sensor-{k}",
            "sensor_id": f"{prefix}-sensor-{k}",
            "observed_at": arrival.isoformat().replace("+00:00", "Z"),
            "lon": round(slon, 7),
            "lat": round(slat, 7),
            "nation": "US",
            "location_uncertainty_m": 5.0,
            "reliability": "A",
            "credibility": 2,
            "releasability": "mechanism",
        }
        obs.update(over)
        out.append(obs)
    return out
