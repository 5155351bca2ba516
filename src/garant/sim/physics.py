"""The physics the simulator and its checks share: sound speed, hearing range, geodesy.

Pure array functions. Distances and azimuths are geodesic (pyproj's Geod on WGS84), not
planar: sound covers the true distance, and a planar shortcut would add a timing error of
the order of the projection's scale error (a few parts in 10^4, tens of milliseconds at 30 km).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pyproj import Geod

from garant.sim.scenario import Atmosphere, DetectionCurve

FloatArray = npt.NDArray[np.float64]
GEOD = Geod(ellps="WGS84")
KELVIN = 273.15


def temperature_c(atmosphere: Atmosphere, t_epoch_s: FloatArray) -> FloatArray:
    """Air temperature at each time: a daily cosine peaking at `warmest_hour_utc`."""
    hour = (np.asarray(t_epoch_s) / 3600.0) % 24.0
    phase = 2.0 * np.pi * (hour - atmosphere.warmest_hour_utc) / 24.0
    return atmosphere.temperature_c + atmosphere.diurnal_amplitude_c * np.cos(phase)


def sound_speed(atmosphere: Atmosphere, t_epoch_s: FloatArray) -> FloatArray:
    """Speed of sound in still dry air, m/s: 331.3 * sqrt(1 + T / 273.15)."""
    return 331.3 * np.sqrt(1.0 + temperature_c(atmosphere, t_epoch_s) / KELVIN)


def effective_speed(
    atmosphere: Atmosphere, t_epoch_s: FloatArray, propagation_az_deg: FloatArray
) -> FloatArray:
    """Sound speed along a path, plus the wind's component in the direction sound travels."""
    towards = (atmosphere.wind_from_deg + 180.0) % 360.0
    along = atmosphere.wind_speed_ms * np.cos(np.radians(np.asarray(propagation_az_deg) - towards))
    return sound_speed(atmosphere, t_epoch_s) + along


def loudness_factor(curve: DetectionCurve, calibre_mm: FloatArray, loudness: FloatArray) -> FloatArray:
    """How much farther than the reference calibre a blast is heard."""
    return (
        np.asarray(loudness) * (np.asarray(calibre_mm) / curve.reference_calibre_mm) ** curve.calibre_exponent
    )


def detection_probability(curve: DetectionCurve, distance_m: FloatArray, factor: FloatArray) -> FloatArray:
    f = np.maximum(np.asarray(factor, dtype=np.float64), 1e-9)
    z = (np.asarray(distance_m) - curve.r50_km * 1000.0 * f) / (curve.width_km * 1000.0 * f)
    return curve.max_probability / (1.0 + np.exp(np.clip(z, -60.0, 60.0)))


def hearing_radius_m(curve: DetectionCurve, factor: FloatArray) -> FloatArray:
    """Range beyond which the probability of hearing is below 1e-4 of its maximum."""
    return (curve.r50_km + 9.3 * curve.width_km) * 1000.0 * np.asarray(factor)


def logistic(
    distance_m: FloatArray, d50_m: FloatArray | float, p_max: float, width_fraction: float = 0.2
) -> FloatArray:
    """A generic falling curve for observers: p_max at short range, p_max/2 at `d50_m`."""
    d50 = np.maximum(np.asarray(d50_m, dtype=np.float64), 1.0)
    z = (np.asarray(distance_m) - d50) / (width_fraction * d50)
    return p_max / (1.0 + np.exp(np.clip(z, -60.0, 60.0)))


def geodesic(
    lon1: FloatArray, lat1: FloatArray, lon2: FloatArray, lat2: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Azimuth at 1 towards 2, azimuth at 2 towards 1 (degrees, 0-360), and distance (m)."""
    az12, az21, dist = (np.atleast_1d(np.asarray(v)) for v in GEOD.inv(*_plain(lon1, lat1, lon2, lat2)))
    return np.mod(az12, 360.0), np.mod(az21, 360.0), dist


def destination(
    lon: FloatArray, lat: FloatArray, az_deg: FloatArray, dist_m: FloatArray
) -> tuple[FloatArray, FloatArray]:
    lon2, lat2, _ = GEOD.fwd(*_plain(lon, lat, az_deg, dist_m))
    return np.atleast_1d(np.asarray(lon2)), np.atleast_1d(np.asarray(lat2))


def _plain(a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray) -> tuple[Any, Any, Any, Any]:
    """One-element arrays as floats: pyproj's scalar path would otherwise convert them itself,
    which NumPy deprecates."""
    if all(np.size(v) == 1 for v in (a, b, c, d)):
        return tuple(float(np.asarray(v).reshape(-1)[0]) for v in (a, b, c, d))  # type: ignore[return-value]
    return a, b, c, d


def iso_times(t_epoch_s: FloatArray, unit: str = "us") -> list[str]:
    """RFC 3339 UTC strings ("...Z") for epoch seconds, vectorised through datetime64."""
    scale = {"s": 1, "ms": 1_000, "us": 1_000_000}[unit]
    ticks = np.round(np.asarray(t_epoch_s, dtype=np.float64) * scale).astype(np.int64)
    text = np.datetime_as_string(ticks.astype(f"datetime64[{unit}]"), unit=unit)  # type: ignore[call-overload]
    return [s + "Z" for s in text.tolist()]
