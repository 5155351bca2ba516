"""Reports placed relative to the demo agreement's contact line, for the verification tests."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import cache
from typing import Any

import numpy as np
from pyproj import Geod

from garant.domain.agreement import Agreement
from garant.geo.engine import Geography
from garant.services.agreements import read_agreement
from garant.verify.evidence import AcousticEvents, epoch

from .factories import make

GEOD = Geod(ellps="WGS84")
FIRED_AT = epoch(make()["observed_at"])  # the factories' default observation time, s


def iso(t: float) -> str:
    """An epoch (s) as the intake's UTC timestamp."""
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def blasts(
    ids: list[str],
    t: Any,
    lon: Any,
    lat: Any,
    semi_m: float = 15.0,
    n_detections: Any = 8,
) -> AcousticEvents:
    """Located blasts, as the acoustic engine gives them: circles of `semi_m` (95%)."""
    n = len(ids)
    return AcousticEvents(
        ids=ids, t=np.asarray(t, dtype=np.float64), lon=np.broadcast_to(lon, n).astype(np.float64),
        lat=np.broadcast_to(lat, n).astype(np.float64), semi_major_m=np.full(n, semi_m),
        semi_minor_m=np.full(n, semi_m), azimuth_deg=np.zeros(n),
        n_detections=np.broadcast_to(n_detections, n).astype(np.int64), detections={},
    )  # fmt: skip


@cache
def terms() -> tuple[Agreement, Geography]:
    agreement = read_agreement("demo")
    return agreement, Geography.from_agreement(agreement)


def across(km: float, at: tuple[float, float] = (37.8, 48.3)) -> tuple[float, float]:
    """A point `km` from the contact line (positive: on the positive party's side), found by
    walking east-west from `at`."""
    _, geo = terms()
    lons = np.linspace(at[0] - 1.5, at[0] + 1.5, 30_001)
    d = geo.signed_distance_m(lons, np.full(len(lons), at[1]))
    k = int(np.argmin(np.abs(d - km * 1000.0)))
    return float(lons[k]), at[1]


def sighting(
    i: int, post: tuple[float, float], target: tuple[float, float], nation: str, **over: Any
) -> dict[str, Any]:
    az, _, dist = GEOD.inv(post[0], post[1], target[0], target[1])
    lo = 1000.0 * math.floor(dist / 1000.0)
    return make(
        "sighting",
        i,
        lon=post[0],
        lat=post[1],
        nation=nation,
        source_id=f"op-{i}",
        sighting_type="impact",
        bearing_deg=round(az % 360.0, 1),
        distance_band={"min_m": lo, "max_m": lo + 2000.0},
        location_uncertainty_m=10,
        **over,
    )


def radar(
    i: int, origin: tuple[float, float], impact: tuple[float, float], semi: float, **over: Any
) -> dict[str, Any]:
    obs = make(
        "radar_track",
        i,
        lon=origin[0],
        lat=origin[1],
        location_uncertainty_m=semi,
        nation="US",
        source_id="cbr-1",
        reliability="A",
        origin_ellipse={"semi_major_m": semi, "semi_minor_m": semi, "azimuth_deg": 0.0},
        impact={"lon": impact[0], "lat": impact[1], "ellipse": {"semi_major_m": 300, "semi_minor_m": 300}},
        **over,
    )
    obs["weapon_class"] = "artillery_100_plus"
    return obs
