"""Cramér–Rao lower bound on the location of an acoustic event, from its sensors' geometry.

Unknowns: the source's east and north position and its origin time. Each detection gives an
arrival time t_i = t0 + r_i / c with noise of variance sigma_t^2 + sigma_bias^2 (a sensor's
bias is unknown to the locator, so it acts as noise); an array also gives the azimuth from
the sensor to the source with noise sigma_az. The Fisher information is the sum over
detections of g g^T / variance, g the gradient of the measurement with respect to
(east, north, t0); the bound on the position is the upper-left 2x2 block of its inverse.
Written here because it is a dozen lines of linear algebra no library packages for this model.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def location_crb(
    event: IntArray,
    n_events: int,
    east_m: FloatArray,
    north_m: FloatArray,
    sound_speed_ms: FloatArray,
    time_sigma_s: FloatArray,
    azimuth_sigma_rad: FloatArray | None = None,
) -> FloatArray:
    """The 2x2 position covariance bound of each event, shape (n_events, 2, 2) (inf if unbounded).

    One row per detection: `event` is the event it belongs to, (`east_m`, `north_m`) the sensor's
    position relative to the true source, `sound_speed_ms` and `time_sigma_s` its propagation
    speed and total timing standard deviation, `azimuth_sigma_rad` its azimuth noise (NaN or
    absent for a sensor that gives no azimuth).
    """
    r2 = np.maximum(east_m**2 + north_m**2, 1.0)
    r = np.sqrt(r2)
    # arrival time: d t / d source = -(unit vector source->sensor) / c ; d t / d t0 = 1
    g = np.column_stack([-east_m / r / sound_speed_ms, -north_m / r / sound_speed_ms, np.ones_like(r)])
    fim_rows = g[:, :, None] * g[:, None, :] / (time_sigma_s**2)[:, None, None]
    if azimuth_sigma_rad is not None:
        has = np.isfinite(azimuth_sigma_rad)
        # azimuth from sensor to source = atan2(dE, dN), (dE, dN) = source - sensor = -(east, north)
        de, dn = -east_m, -north_m
        ga = np.column_stack([dn / r2, -de / r2, np.zeros_like(r)])
        sig = np.where(has, azimuth_sigma_rad, 1.0)
        add = ga[:, :, None] * ga[:, None, :] / (sig**2)[:, None, None]
        fim_rows = fim_rows + np.where(has[:, None, None], add, 0.0)
    fim = np.zeros((n_events, 3, 3))
    np.add.at(fim, event, fim_rows)
    out = np.full((n_events, 2, 2), np.inf)
    # well-posed only where the information matrix is of full rank (in practice: three or more
    # detections from sensors not all on a line through the source, or with azimuths)
    cond = np.linalg.cond(fim)
    ok = np.isfinite(cond) & (cond < 1e13)
    if ok.any():
        out[ok] = np.linalg.inv(fim[ok])[:, :2, :2]
    return out


def rms_radius(cov: FloatArray) -> FloatArray:
    """sqrt(trace) of each 2x2 covariance: the bound on the root-mean-square position error."""
    return np.sqrt(cov[:, 0, 0] + cov[:, 1, 1])
