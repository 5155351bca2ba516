"""Compiled inner loops of the acoustic associator (Numba): seed, grid search, least squares.

Written by hand because no library associates blasts heard by a line of acoustic sensors:
seismic associators (PyOcto, GaMMA) are built for P and S phases in 3-D and are what this is
measured against. Everything here works in a projected plane in metres; `sk` is each station's
scale factor, so a planar distance divided by it is the true distance. The kernels release the
GIL (`nogil`), so the server's other threads go on while one runs.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# columns of the event table the kernel fills
EV_X, EV_Y, EV_T, EV_CXX, EV_CXY, EV_CYY, EV_N, EV_RMS = range(8)
N_EV_COLS = 8
CHI2_95 = math.sqrt(-2.0 * math.log(0.05))  # 95% ellipse of a 2-D normal, in standard deviations


@njit(cache=True, nogil=True)
def speed_at(speeds: np.ndarray, epoch_s: float) -> float:
    """Sound speed at a time: `speeds[i]` holds at i:00 UTC, linear in between."""
    h = (epoch_s / 3600.0) % 24.0
    i = math.floor(h) % 24
    f = h - math.floor(h)
    return float(speeds[i] * (1.0 - f) + speeds[(i + 1) % 24] * f)


@njit(cache=True, nogil=True)
def variance_scale(chi2: float, dof: int) -> float:
    """The factor on the covariance: 1 while the fit agrees with the stated timing error (its
    chi-square under the 95% point for `dof`, by Wilson-Hilferty), else the reduced chi-square."""
    dof = max(dof, 1)
    h = 2.0 / (9.0 * dof)
    q95 = dof * (1.0 - h + 1.6449 * math.sqrt(h)) ** 3
    return chi2 / dof if chi2 > q95 else 1.0


@njit(cache=True, nogil=True)
def _dist(px: float, py: float, sx: float, sy: float, k: float) -> float:
    return math.hypot(px - sx, py - sy) / k


@njit(cache=True, nogil=True)
def _three_station(
    bx: float, by: float, db: float, ex: float, ey: float, de: float
) -> tuple[int, float, float, float, float, float, float]:
    """Sources consistent with arrivals at three stations: the seed's at the origin, and two at
    (bx, by) and (ex, ey) relative to it, with range differences `db`, `de` (metres, c * dt).

    With r0 the seed's range, |x - s_i|^2 = (r0 + d_i)^2 is linear in x once r0 is fixed;
    |x| = r0 then leaves a quadratic in r0. Returns the number of solutions (0-2) and them.
    """
    det = bx * ey - by * ex
    if abs(det) < 1e-6:
        return 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    b1 = (bx * bx + by * by - db * db) / 2.0
    b2 = (ex * ex + ey * ey - de * de) / 2.0
    ux = (b1 * ey - by * b2) / det
    uy = (bx * b2 - b1 * ex) / det
    vx = (db * ey - by * de) / det
    vy = (bx * de - db * ex) / det
    qa = vx * vx + vy * vy - 1.0
    qb = -2.0 * (ux * vx + uy * vy)
    qc = ux * ux + uy * uy
    sols = np.zeros(2)
    n = 0
    if abs(qa) < 1e-12:
        if abs(qb) > 1e-12:
            sols[0] = -qc / qb
            n = 1
    else:
        disc = qb * qb - 4.0 * qa * qc
        if disc >= 0.0:
            sq = math.sqrt(disc)
            sols[0] = (-qb - sq) / (2.0 * qa)
            sols[1] = (-qb + sq) / (2.0 * qa)
            n = 2
    out = np.zeros(6)
    m = 0
    for i in range(n):
        r0 = sols[i]
        if r0 < 0.0:
            continue
        out[3 * m] = ux - r0 * vx
        out[3 * m + 1] = uy - r0 * vy
        out[3 * m + 2] = r0
        m += 1
    return m, out[0], out[1], out[2], out[3], out[4], out[5]


@njit(cache=True, nogil=True)
def _score(
    px: float,
    py: float,
    tau: float,
    cand: np.ndarray,
    n_cand: int,
    t: np.ndarray,
    st: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray,
    sk: np.ndarray,
    c: float,
    scale: float,
    best_w: np.ndarray,
    stamp: np.ndarray,
    stamp_id: int,
    s0: int,
) -> float:
    """How well a hypothesis explains the candidates: over stations, the best arrival's
    Gaussian weight exp(-r^2 / 2 scale^2) (the seed's counts 1). Soft, so that in a barrage,
    where every station has some arrival within a second, the right pairing still stands out."""
    total = 1.0
    cutoff = 4.0 * scale
    for q in range(n_cand):
        k = cand[q]
        s = st[k]
        if s == s0:
            continue
        r = t[k] - _dist(px, py, sx[s], sy[s], sk[s]) / c - tau
        if abs(r) > cutoff:
            continue
        w = math.exp(-0.5 * (r / scale) ** 2)
        if stamp[s] != stamp_id:
            stamp[s] = stamp_id
            best_w[s] = w
            total += w
        elif w > best_w[s]:
            total += w - best_w[s]
            best_w[s] = w
    return total


@njit(cache=True, nogil=True)
def _solve3(a: np.ndarray, b: np.ndarray) -> tuple[bool, np.ndarray]:
    det = (
        a[0, 0] * (a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1])
        - a[0, 1] * (a[1, 0] * a[2, 2] - a[1, 2] * a[2, 0])
        + a[0, 2] * (a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0])
    )
    out = np.zeros(3)
    if abs(det) < 1e-300:
        return False, out
    inv = np.empty((3, 3))
    inv[0, 0] = (a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1]) / det
    inv[0, 1] = (a[0, 2] * a[2, 1] - a[0, 1] * a[2, 2]) / det
    inv[0, 2] = (a[0, 1] * a[1, 2] - a[0, 2] * a[1, 1]) / det
    inv[1, 0] = (a[1, 2] * a[2, 0] - a[1, 0] * a[2, 2]) / det
    inv[1, 1] = (a[0, 0] * a[2, 2] - a[0, 2] * a[2, 0]) / det
    inv[1, 2] = (a[0, 2] * a[1, 0] - a[0, 0] * a[1, 2]) / det
    inv[2, 0] = (a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0]) / det
    inv[2, 1] = (a[0, 1] * a[2, 0] - a[0, 0] * a[2, 1]) / det
    inv[2, 2] = (a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]) / det
    for i in range(3):
        out[i] = inv[i, 0] * b[0] + inv[i, 1] * b[1] + inv[i, 2] * b[2]
    a[:, :] = inv
    return True, out


@njit(cache=True, nogil=True)
def _select(
    px: float,
    py: float,
    tau: float,
    cand: np.ndarray,
    n_cand: int,
    t: np.ndarray,
    st: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray,
    sk: np.ndarray,
    c: float,
    tol: float,
    chosen: np.ndarray,
    best_r: np.ndarray,
    owner: np.ndarray,
    stamp: np.ndarray,
    stamp_id: int,
) -> tuple[int, int]:
    """Per station, the arrival nearest the prediction, if within `tol`; returns (count, stamp)."""
    stamp_id += 1
    for q in range(n_cand):
        k = cand[q]
        s = st[k]
        r = abs(t[k] - _dist(px, py, sx[s], sy[s], sk[s]) / c - tau)
        if r > tol:
            continue
        if stamp[s] != stamp_id or r < best_r[s]:
            stamp[s] = stamp_id
            best_r[s] = r
            owner[s] = k
    n = 0
    for q in range(n_cand):
        k = cand[q]
        s = st[k]
        if stamp[s] == stamp_id and owner[s] == k:
            chosen[n] = k
            n += 1
    return n, stamp_id


@njit(cache=True, nogil=True)
def _least_squares(
    x: float,
    y: float,
    tau: float,
    chosen: np.ndarray,
    n: int,
    t: np.ndarray,
    st: np.ndarray,
    az: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray,
    sk: np.ndarray,
    c: float,
    sigma_t: float,
    sigma_az: float,
    iterations: int,
) -> tuple[float, float, float, np.ndarray, float, bool]:
    """Gauss-Newton on (x, y, origin time) with arrival times and, where given, azimuths."""
    cov = np.zeros((3, 3))
    chi2 = 0.0
    ok = False
    for _ in range(iterations):
        a = np.zeros((3, 3))
        b = np.zeros(3)
        chi2 = 0.0
        for q in range(n):
            k = chosen[q]
            s = st[k]
            dx, dy = x - sx[s], y - sy[s]
            d = max(math.hypot(dx, dy), 1.0)
            kk = sk[s]
            r = t[k] - (tau + d / kk / c)
            g0, g1, g2 = dx / d / kk / c, dy / d / kk / c, 1.0
            w = 1.0 / (sigma_t * sigma_t)
            a[0, 0] += g0 * g0 * w
            a[0, 1] += g0 * g1 * w
            a[0, 2] += g0 * g2 * w
            a[1, 1] += g1 * g1 * w
            a[1, 2] += g1 * g2 * w
            a[2, 2] += g2 * g2 * w
            b[0] += g0 * r * w
            b[1] += g1 * r * w
            b[2] += g2 * r * w
            chi2 += r * r * w
            if not math.isnan(az[k]):
                pred = math.atan2(dx, dy)
                ra = math.radians(az[k]) - pred
                ra = (ra + math.pi) % (2.0 * math.pi) - math.pi
                d2 = d * d
                h0, h1 = dy / d2, -dx / d2
                wa = 1.0 / (sigma_az * sigma_az)
                a[0, 0] += h0 * h0 * wa
                a[0, 1] += h0 * h1 * wa
                a[1, 1] += h1 * h1 * wa
                b[0] += h0 * ra * wa
                b[1] += h1 * ra * wa
                chi2 += ra * ra * wa
        a[1, 0] = a[0, 1]
        a[2, 0] = a[0, 2]
        a[2, 1] = a[1, 2]
        ok, step = _solve3(a, b)
        if not ok:
            break
        cov = a
        x += step[0]
        y += step[1]
        tau += step[2]
        if abs(step[0]) + abs(step[1]) < 0.01:
            break
    return x, y, tau, cov, chi2, ok


@njit(cache=True, nogil=True)
def associate_kernel(
    t: np.ndarray,
    st: np.ndarray,
    az: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray,
    sk: np.ndarray,
    nb_ptr: np.ndarray,
    nb_idx: np.ndarray,
    assigned: np.ndarray,
    speeds: np.ndarray,
    t_ref: float,
    radius: float,
    near_stations: int,
    score_stations: int,
    n_hyp: int,
    max_chi2: float,
    search_tol: float,
    fine_tol: float,
    score_scale: float,
    sigma_t: float,
    sigma_az: float,
    final_tol: float,
    min_stations: int,
    first_event: int,
) -> np.ndarray:
    """Associate the unassigned detections (sorted by time) into events; `assigned` is updated in
    place with the event number (from `first_event`) of each detection, -1 where none."""
    n_det = len(t)
    n_sta = len(sx)
    events = np.zeros((max(n_det // max(min_stations, 1), 1), N_EV_COLS))
    n_ev = 0
    near = np.zeros(n_sta, dtype=np.int64) - 1
    stamp = np.zeros(n_sta, dtype=np.int64)
    best_r = np.zeros(n_sta)
    owner = np.zeros(n_sta, dtype=np.int64)
    cand = np.zeros(n_det, dtype=np.int64)
    chosen = np.zeros(n_sta, dtype=np.int64)
    kept = np.zeros(n_sta, dtype=np.int64)
    score_cand = np.zeros(n_det, dtype=np.int64)
    stamp_id = 0
    window = 2.0 * radius / speeds.min()
    for i in range(n_det):
        if assigned[i] >= 0:
            continue
        s0 = st[i]
        t0 = t[i]
        c = speed_at(speeds, t0 + t_ref)
        for q in range(nb_ptr[s0], nb_ptr[s0 + 1]):
            near[nb_idx[q]] = i
        lo = np.searchsorted(t, t0 - window)
        hi = np.searchsorted(t, t0 + window, side="right")
        n_cand = 0
        stamp_id += 1
        n_sta_cand = 1
        stamp[s0] = stamp_id
        for k in range(lo, hi):
            if assigned[k] >= 0 or near[st[k]] != i:
                continue
            s = st[k]
            if abs(t[k] - t0) > _dist(sx[s], sy[s], sx[s0], sy[s0], sk[s]) / c + search_tol:
                continue
            cand[n_cand] = k
            n_cand += 1
            if stamp[s] != stamp_id:
                stamp[s] = stamp_id
                n_sta_cand += 1
        if n_sta_cand < min_stations:
            continue
        # the stations nearest the seed's that have candidate arrivals
        cs = st[cand[:n_cand]]
        by_station = np.argsort(cs, kind="mergesort")
        uniq = np.empty(n_cand, dtype=np.int64)
        first = np.empty(n_cand + 1, dtype=np.int64)
        n_u = 0
        for q in range(n_cand):
            s = cs[by_station[q]]
            if n_u == 0 or uniq[n_u - 1] != s:
                uniq[n_u] = s
                first[n_u] = q
                n_u += 1
        first[n_u] = n_cand
        dists = np.empty(n_u)
        for u in range(n_u):
            dists[u] = math.hypot(sx[uniq[u]] - sx[s0], sy[uniq[u]] - sy[s0])
        near_order = np.argsort(dists)
        n_near = min(n_u, near_stations)
        if n_near < 2:
            continue
        k0 = sk[s0]
        # hypotheses are scored on the arrivals at the stations nearest the seed's only: they
        # hear the blast if anyone does, and the cost of a hypothesis stays bounded
        n_sc = 0
        for u in range(min(n_u, score_stations)):
            uu = near_order[u]
            for q in range(first[uu], first[uu + 1]):
                score_cand[n_sc] = cand[by_station[q]]
                n_sc += 1
        hyp = np.full((n_hyp, 4), -1.0)  # x, y, tau, score
        for a in range(n_near):
            ua = near_order[a]
            for b in range(a + 1, n_near):
                ub = near_order[b]
                ax, ay = sx[uniq[ua]] - sx[s0], sy[uniq[ua]] - sy[s0]
                bx, by = sx[uniq[ub]] - sx[s0], sy[uniq[ub]] - sy[s0]
                for qa in range(first[ua], first[ua + 1]):
                    ka = cand[by_station[qa]]
                    # the seed is the earliest arrival of its blast: later arrivals only
                    if t[ka] < t0 - search_tol:
                        continue
                    da = c * k0 * (t[ka] - t0)
                    for qb in range(first[ub], first[ub + 1]):
                        kb = cand[by_station[qb]]
                        if t[kb] < t0 - search_tol:
                            continue
                        db = c * k0 * (t[kb] - t0)
                        m, x1, y1, r1, x2, y2, r2 = _three_station(ax, ay, da, bx, by, db)
                        for h in range(m):
                            hx = x1 if h == 0 else x2
                            hy = y1 if h == 0 else y2
                            hr = r1 if h == 0 else r2
                            if hr / k0 > radius:
                                continue
                            px, py = sx[s0] + hx, sy[s0] + hy
                            tau = t0 - hr / k0 / c
                            stamp_id += 1
                            cnt = _score(
                                px,
                                py,
                                tau,
                                score_cand,
                                n_sc,
                                t,
                                st,
                                sx,
                                sy,
                                sk,
                                c,
                                score_scale,
                                best_r,
                                stamp,
                                stamp_id,
                                s0,
                            )
                            # keep the best few hypotheses
                            worst = 0
                            for w in range(1, n_hyp):
                                if hyp[w, 3] < hyp[worst, 3]:
                                    worst = w
                            if cnt > hyp[worst, 3]:
                                hyp[worst, 0], hyp[worst, 1], hyp[worst, 2], hyp[worst, 3] = px, py, tau, cnt
        best_n = 0
        best_merit = -1e300
        best_chi = 1e300
        best_x = 0.0
        best_y = 0.0
        best_tau = 0.0
        best_cov = np.zeros((3, 3))
        n_best_chosen = 0
        for hh in range(n_hyp):
            if hyp[hh, 3] < min_stations - 1.0:
                continue
            x, y, tau = hyp[hh, 0], hyp[hh, 1], hyp[hh, 2]
            ok = False
            n_in = 0
            cov = np.zeros((3, 3))
            chi2 = 0.0
            for tol in (search_tol, fine_tol, final_tol, final_tol):
                n_in, stamp_id = _select(
                    x, y, tau, cand, n_cand, t, st, sx, sy, sk, c, tol, chosen, best_r, owner, stamp, stamp_id
                )
                has_seed = False
                for q in range(n_in):
                    if chosen[q] == i:
                        has_seed = True
                    elif st[chosen[q]] == s0:
                        chosen[q] = i
                        has_seed = True
                if not has_seed:
                    chosen[n_in] = i
                    n_in += 1
                if n_in < min_stations:
                    break
                x, y, tau, cov, chi2, ok = _least_squares(
                    x, y, tau, chosen, n_in, t, st, az, sx, sy, sk, c, sigma_t, sigma_az, 8
                )
                if not ok:
                    break
            if not ok or n_in < min_stations:
                continue
            if chi2 / max(n_in - 3, 1) > max_chi2:
                continue
            # more stations, less misfit: a station whose arrival is 3 sigma off adds nothing, so a
            # hypothesis that gathers a neighbouring round's arrivals does not beat a clean fit
            merit = n_in - chi2 / 9.0
            if merit > best_merit:
                best_merit = merit
                best_n, best_chi, best_x, best_y, best_tau, best_cov = n_in, chi2, x, y, tau, cov
                for q in range(n_in):
                    kept[q] = chosen[q]
                n_best_chosen = n_in
        if best_n < min_stations:
            continue
        x, y, tau, cov, chi2, n_in = best_x, best_y, best_tau, best_cov, best_chi, n_best_chosen
        for q in range(n_in):
            chosen[q] = kept[q]
        ev = first_event + n_ev
        for q in range(n_in):
            assigned[chosen[q]] = ev
        scale = variance_scale(chi2, n_in - 3)
        events[n_ev, EV_X] = x
        events[n_ev, EV_Y] = y
        events[n_ev, EV_T] = tau
        events[n_ev, EV_CXX] = cov[0, 0] * scale
        events[n_ev, EV_CXY] = cov[0, 1] * scale
        events[n_ev, EV_CYY] = cov[1, 1] * scale
        events[n_ev, EV_N] = n_in
        events[n_ev, EV_RMS] = math.sqrt(chi2 / n_in) * sigma_t
        n_ev += 1
    return events[:n_ev]


@njit(cache=True, nogil=True)
def reassign_kernel(
    t: np.ndarray,
    st: np.ndarray,
    az: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray,
    sk: np.ndarray,
    events: np.ndarray,
    assigned: np.ndarray,
    speeds: np.ndarray,
    t_ref: float,
    radius: float,
    tol: float,
    sigma_t: float,
    sigma_az: float,
    min_stations: int,
    max_chi2: float,
) -> np.ndarray:
    """One round of competition between located events: every detection goes to the event
    that predicts it best (within `tol`, one detection per station and event), then every
    event is located again from its detections; events left with too few are dropped.

    The seed-by-seed pass decides each event alone: in a barrage an early event can take the
    arrival of a neighbouring round at a sensor where its own was lost. Here each arrival is
    weighed against every event that could explain it, as a mixture model's assignment step
    would, and the event keeps its row (its id) when it keeps enough detections."""
    n_ev = len(events)
    n_det = len(t)
    best = np.full(n_det, np.inf)
    owner = np.full(n_det, -1, dtype=np.int64)
    window = radius / speeds.min()
    for e in range(n_ev):
        if events[e, EV_N] <= 0:
            continue
        x, y, tau = events[e, EV_X], events[e, EV_Y], events[e, EV_T]
        c = speed_at(speeds, tau + t_ref)
        lo = np.searchsorted(t, tau - tol)
        hi = np.searchsorted(t, tau + window + tol, side="right")
        for k in range(lo, hi):
            s = st[k]
            r = abs(t[k] - _dist(x, y, sx[s], sy[s], sk[s]) / c - tau)
            if r <= tol and r < best[k]:
                best[k] = r
                owner[k] = e
    # one detection per station and event: the best one
    order = np.argsort(owner * (len(sx) + 1) + st, kind="mergesort")
    keep = np.zeros(n_det, dtype=np.bool_)
    k = 0
    while k < n_det:
        j = order[k]
        if owner[j] < 0:
            k += 1
            continue
        m = k
        b = j
        while m < n_det and owner[order[m]] == owner[j] and st[order[m]] == st[j]:
            if best[order[m]] < best[b]:
                b = order[m]
            m += 1
        keep[b] = True
        k = m
    new_assigned = np.full(n_det, -1, dtype=np.int64)
    for j in range(n_det):
        if keep[j]:
            new_assigned[j] = owner[j]
    # locate every event again from its detections
    counts = np.zeros(n_ev, dtype=np.int64)
    for j in range(n_det):
        if new_assigned[j] >= 0:
            counts[new_assigned[j]] += 1
    starts = np.zeros(n_ev + 1, dtype=np.int64)
    for e in range(n_ev):
        starts[e + 1] = starts[e] + counts[e]
    members = np.zeros(starts[n_ev], dtype=np.int64)
    fill = starts[:-1].copy()
    for j in range(n_det):
        e = new_assigned[j]
        if e >= 0:
            members[fill[e]] = j
            fill[e] += 1
    for e in range(n_ev):
        n = counts[e]
        chosen = members[starts[e] : starts[e + 1]]
        c = speed_at(speeds, events[e, EV_T] + t_ref)
        ok = n >= min_stations
        if ok:
            x, y, tau, cov, chi2, ok = _least_squares(
                events[e, EV_X],
                events[e, EV_Y],
                events[e, EV_T],
                chosen,
                n,
                t,
                st,
                az,
                sx,
                sy,
                sk,
                c,
                sigma_t,
                sigma_az,
                8,
            )
            ok = ok and chi2 / max(n - 3, 1) <= max_chi2
        if not ok:
            events[e, EV_N] = 0
            for q in range(n):
                new_assigned[chosen[q]] = -1
            continue
        scale = variance_scale(chi2, n - 3)
        events[e, EV_X] = x
        events[e, EV_Y] = y
        events[e, EV_T] = tau
        events[e, EV_CXX] = cov[0, 0] * scale
        events[e, EV_CXY] = cov[0, 1] * scale
        events[e, EV_CYY] = cov[1, 1] * scale
        events[e, EV_N] = n
        events[e, EV_RMS] = math.sqrt(chi2 / n) * sigma_t
    for j in range(n_det):
        assigned[j] = new_assigned[j]
    return events


@njit(cache=True, nogil=True)
def locate_kernel(
    row: np.ndarray,
    members: np.ndarray,
    t: np.ndarray,
    st: np.ndarray,
    az: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray,
    sk: np.ndarray,
    speeds: np.ndarray,
    t_ref: float,
    sigma_t: float,
    sigma_az: float,
) -> np.ndarray:
    """An event located again from its detections, starting where it was."""
    out = row.copy()
    n = len(members)
    c = speed_at(speeds, row[EV_T] + t_ref)
    x, y, tau, cov, chi2, ok = _least_squares(
        row[EV_X], row[EV_Y], row[EV_T], members, n, t, st, az, sx, sy, sk, c, sigma_t, sigma_az, 8
    )
    if not ok:
        return out
    scale = variance_scale(chi2, n - 3)
    out[EV_X] = x
    out[EV_Y] = y
    out[EV_T] = tau
    out[EV_CXX] = cov[0, 0] * scale
    out[EV_CXY] = cov[0, 1] * scale
    out[EV_CYY] = cov[1, 1] * scale
    out[EV_N] = n
    out[EV_RMS] = math.sqrt(chi2 / n) * sigma_t
    return out


@njit(cache=True, nogil=True)
def _too_near(a: np.ndarray, b: np.ndarray, dup_t: float, dup_r: float) -> bool:
    return abs(a[EV_T] - b[EV_T]) < dup_t and math.hypot(a[EV_X] - b[EV_X], a[EV_Y] - b[EV_Y]) < dup_r


@njit(cache=True, nogil=True)
def sibling_kernel(
    t: np.ndarray,
    st: np.ndarray,
    az: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray,
    sk: np.ndarray,
    rows: np.ndarray,
    near: np.ndarray,
    assigned: np.ndarray,
    speeds: np.ndarray,
    t_ref: float,
    max_range: float,
    window: float,
    sigma_t: float,
    sigma_az: float,
    min_new: int,
    anchor_n: int,
    radius: float,
    max_chi2: float,
    dup_t: float,
    dup_r: float,
    pos_cap: float,
    first: int,
) -> np.ndarray:
    """Rounds fired again from (or onto) the place of a located event, found among the
    unexplained detections with that place as a known source (see `acoustic.siblings`).

    `near` are the rows that may anchor (those with `anchor_n` detections or more) and against
    which a new event is checked for being a duplicate; `t` is sorted; `assigned` is updated in
    place and new events are numbered from `first`. Returns the new events' rows."""
    order = near[np.argsort(rows[near, EV_T])]
    times = rows[order, EV_T]
    out = np.zeros((16, N_EV_COLS))
    n_out = 0
    for a in order:
        if rows[a, EV_N] < anchor_n:
            continue
        ex, ey, et = rows[a, EV_X], rows[a, EV_Y], rows[a, EV_T]
        c = speed_at(speeds, et + t_ref)
        pos = min(math.sqrt(max(rows[a, EV_CXX] + rows[a, EV_CYY], 0.0)), pos_cap)
        # a round's origin times, one per arrival, lie within 3 sigma either side of the true one
        span = 6.0 * math.sqrt(sigma_t * sigma_t + (pos / c) ** 2)
        lo = np.searchsorted(t, et - window)
        hi = np.searchsorted(t, et + window + max_range / c)
        cand = np.empty(hi - lo, dtype=np.int64)
        tau = np.empty(hi - lo)
        m = 0
        for i in range(lo, hi):
            if assigned[i] >= 0:
                continue
            s = st[i]
            d = _dist(ex, ey, sx[s], sy[s], sk[s])
            if d > max_range:
                continue
            ti = t[i] - d / c
            if abs(ti - et) > window:
                continue
            cand[m] = i
            tau[m] = ti
            m += 1
        if m < min_new:
            continue
        o = np.argsort(tau[:m])
        cand = cand[:m][o]
        tau = tau[:m][o]
        used = np.zeros(m, dtype=np.bool_)
        for i in range(m):
            if used[i]:
                continue
            j = i
            while j < m and tau[j] <= tau[i] + span:
                j += 1
            free = np.array([k for k in range(i, j) if not used[k]], dtype=np.int64)
            if len(free) < min_new:
                continue
            med = np.median(tau[free])
            # one arrival per sensor: the one nearest the group's origin time
            chosen = np.empty(len(free), dtype=np.int64)
            n = 0
            for k in free:
                s = st[cand[k]]
                other = -1
                for q in range(n):
                    if st[cand[chosen[q]]] == s:
                        other = q
                        break
                if other < 0:
                    chosen[n] = k
                    n += 1
                elif abs(tau[k] - med) < abs(tau[chosen[other]] - med):
                    chosen[other] = k
            if n < min_new:
                continue
            members = np.sort(cand[chosen[:n]])
            row = np.zeros(N_EV_COLS)
            row[EV_X], row[EV_Y], row[EV_T] = ex, ey, med
            new = locate_kernel(row, members, t, st, az, sx, sy, sk, speeds, t_ref, sigma_t, sigma_az)
            if new[EV_N] != n:
                continue
            chi2 = (new[EV_RMS] / sigma_t) ** 2 * n
            if math.hypot(new[EV_X] - ex, new[EV_Y] - ey) > radius or chi2 / max(n - 3, 1) > max_chi2:
                continue
            # and its own arrivals must place it: a 95% ellipse wider than the radius is a guess
            half = (new[EV_CXX] - new[EV_CYY]) / 2.0
            major = math.sqrt((new[EV_CXX] + new[EV_CYY]) / 2.0 + math.sqrt(half * half + new[EV_CXY] ** 2))
            if CHI2_95 * major > radius:
                continue
            # not a second event of a blast already found (its leftover arrivals)
            dup = False
            q = np.searchsorted(times, new[EV_T] - dup_t)
            while not dup and q < len(order) and times[q] <= new[EV_T] + dup_t:
                r = order[q]
                dup = rows[r, EV_N] > 0 and _too_near(rows[r], new, dup_t, dup_r)
                q += 1
            for q in range(n_out):
                if dup:
                    break
                dup = _too_near(out[q], new, dup_t, dup_r)
            if dup:
                continue
            if n_out == len(out):
                grown = np.zeros((2 * len(out), N_EV_COLS))
                grown[:n_out] = out
                out = grown
            out[n_out] = new
            for k in members:
                assigned[k] = first + n_out
            for k in chosen[:n]:
                used[k] = True
            n_out += 1
    return out[:n_out]
