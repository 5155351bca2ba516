"""The benchmark workload: realistic observations, the same for every path measured."""

from __future__ import annotations

import random
from typing import Any


def observations(n: int, seed: int = 7, prefix: str = "bench") -> list[dict[str, Any]]:
    """n observations, 80% acoustic detections (as sensor networks send them), 20% sightings."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(n):
        lon, lat = 35.0 + rng.random() * 4.0, 46.5 + rng.random() * 3.5
        second = i * 0.05
        obs: dict[str, Any] = {
            "client_id": f"{prefix}-{i}",
            "source_id": f"sensor-{i % 400}",
            "nation": "US",  # one nation's sensor networks: the HTTP path posts as their service account
            "observed_at": f"2026-03-{1 + int(second // 86400):02d}T{int(second // 3600) % 24:02d}:"
            f"{int(second // 60) % 60:02d}:{second % 60:06.3f}Z",
            "lon": round(lon, 6),
            "lat": round(lat, 6),
            "location_uncertainty_m": 5.0,
            "reliability": "B",
            "credibility": 2,
        }
        if i % 5:
            obs.update(
                kind="acoustic_detection", sensor_id=obs["source_id"], amplitude=round(rng.random(), 4)
            )
        else:
            obs.update(
                kind="sighting",
                sighting_type="impact",
                count=rng.randint(1, 20),
                bearing_deg=round(rng.random() * 360, 1),
                distance_band={"min_m": 1000, "max_m": 3000},
            )
        out.append(obs)
    return out
