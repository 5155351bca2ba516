"""`garant eval`: score a pipeline's events against a simulation's truth.

Two levels:
- `blast`: acoustic events (each launch or impact) as found by an associator (`garant
  associate` writes this format). The true events it must find are the blasts heard by at
  least `min_detections` sensors: fewer cannot fix a position and a time. Location error is
  compared with the Cramér–Rao bound of each blast's own detecting sensors.
- `incident`: fused, attributed, classified events (the verification pipeline). The true
  events are the incidents some observation reveals: a report of any kind other than an
  acoustic arrival, or a blast heard by at least `min_detections` sensors. An incident that
  lasts is matched at any moment of its span (start to end).

Both report precision, recall and F1 of a one-to-one matching within a distance and a time
tolerance, location error (median, 90th percentile), coverage of the stated 95% ellipse, and
where the output states them: attribution accuracy, Brier score and a reliability table;
confusion and F1 by provision (also without the incidents revealed by allegations alone,
which a bulletin that treats an allegation as a lead cannot classify); and how many false
allegations ended up verified.
"""

from __future__ import annotations

import csv
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from garant.evaluation.crb import location_crb, rms_radius
from garant.evaluation.matching import counterpart, match_events
from garant.evaluation.tables import EventTable, parse_time, read_assignments, read_events
from garant.sim.physics import geodesic, sound_speed
from garant.sim.scenario import Atmosphere

FloatArray = npt.NDArray[np.float64]
DEFAULT_TOLERANCE = {"blast": (2_000.0, 5.0), "incident": (3_000.0, 300.0)}
RELIABILITY_BINS = 10


@dataclass(frozen=True)
class EvalOptions:
    level: str = "incident"
    distance_m: float | None = None
    time_s: float | None = None
    min_detections: int = 4

    def tolerance(self) -> tuple[float, float]:
        d, t = DEFAULT_TOLERANCE[self.level]
        return (self.distance_m or d), (self.time_s or t)


def _prf(tp: int, n_found: int, n_true: int) -> dict[str, float]:
    p = tp / n_found if n_found else 0.0
    r = tp / n_true if n_true else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def _quantiles(x: FloatArray) -> dict[str, float | int | None]:
    if len(x) == 0:
        return {"n": 0, "median_m": None, "p90_m": None}
    return {"n": len(x), "median_m": float(np.median(x)), "p90_m": float(np.percentile(x, 90))}


def ellipse_inside(
    true_lon: FloatArray, true_lat: FloatArray, lon: FloatArray, lat: FloatArray, ellipse: FloatArray
) -> npt.NDArray[np.bool_]:
    """Whether each true point lies in the stated 95% ellipse around (lon, lat)."""
    az, _, d = geodesic(lon, lat, true_lon, true_lat)
    rel = np.radians(az - ellipse[:, 2])
    a = np.maximum(ellipse[:, 0], 1e-9)
    b = np.maximum(ellipse[:, 1], 1e-9)
    along, across = d * np.cos(rel), d * np.sin(rel)
    return np.asarray((along / a) ** 2 + (across / b) ** 2 <= 1.0 + 1e-9) | (d <= 1e-6)


class Truth:
    """The truth folder of a `garant sim` run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.truth = root / "truth"
        if not (self.truth / "meta.json").is_file():
            raise FileNotFoundError(f"{root}: no truth/meta.json (is this a `garant sim` output folder?)")
        self.meta: dict[str, Any] = orjson.loads((self.truth / "meta.json").read_bytes())

    def incidents(self) -> EventTable:
        return read_events(
            self.truth / "incidents.csv",
            keep=("type", "origin_line_distance_m", "party", "regime", "end_time"),
        )

    def blasts(self) -> EventTable:
        return read_events(self.truth / "blasts.csv", keep=("incident_id",))

    def detection_rows(self) -> tuple[list[str], list[str], list[str]]:
        """(blast id, station id, detection id) of every true detection, by walking the two files in step."""
        blasts, stations, dets = [], [], []
        with (
            (self.root / "detections.csv").open(encoding="utf-8") as all_fh,
            (self.truth / "detections.csv").open(encoding="utf-8") as true_fh,
        ):
            next(all_fh)
            next(true_fh)
            station_of = {}
            for line in all_fh:
                did, sid, _ = line.split(",", 2)
                station_of[did] = sid
            for line in true_fh:
                did, bid = line.rstrip("\n").split(",")
                blasts.append(bid)
                stations.append(station_of[did])
                dets.append(did)
        return blasts, stations, dets

    def observed_incidents(self, min_detections: int = 1) -> set[str]:
        """Incidents some observation reveals: any report other than an acoustic arrival, or a
        blast heard by at least `min_detections` sensors (fewer arrivals cannot place it)."""
        return self.revealed(min_detections)[0]

    def revealed(self, min_detections: int = 1) -> tuple[set[str], set[str]]:
        """The incidents some observation reveals (`observed_incidents`), and those of them
        revealed by allegations alone: no other report, and no blast heard by `min_detections`
        sensors. By the agreement's rule an allegation is a lead for tasking, never enough for a
        violation, so a bulletin that follows it cannot name the latter's provisions."""
        reported, heard = self._revealing(min_detections)
        leads = {i for i, kinds in reported.items() if kinds == {"allegation"} and i not in heard}
        return set(reported) | heard, leads

    def _revealing(self, min_detections: int) -> tuple[dict[str, set[str]], set[str]]:
        """The kinds of report of each incident, and the incidents a blast heard by at least
        `min_detections` sensors reveals."""
        reported: dict[str, set[str]] = defaultdict(set)
        with (self.truth / "observations.csv").open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row["event_id"]:
                    reported[row["event_id"]].add(row["kind"])
        with (self.truth / "detections.csv").open(encoding="utf-8") as fh:
            counts = Counter(row["event_id"] for row in csv.DictReader(fh))
        heard = set()
        with (self.truth / "blasts.csv").open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if counts[row["event_id"]] >= min_detections:
                    heard.add(row["incident_id"])
        return dict(reported), heard

    def false_allegations(self) -> list[dict[str, str]]:
        with (self.truth / "allegations.csv").open(encoding="utf-8") as fh:
            return [r for r in csv.DictReader(fh) if r["truth"] != "true"]


def evaluate(
    truth_root: Path, events_file: Path, assignments_file: Path | None, options: EvalOptions
) -> dict[str, Any]:
    truth = Truth(truth_root)
    found = read_events(events_file)
    distance_m, time_s = options.tolerance()
    if options.level == "blast":
        return _evaluate_blasts(truth, found, options, distance_m, time_s)
    assignments = read_assignments(assignments_file) if assignments_file else None
    return _evaluate_incidents(truth, found, assignments, distance_m, time_s, options.min_detections)


def _common(
    level: str,
    true: EventTable,
    eligible: npt.NDArray[np.bool_],
    found: EventTable,
    distance_m: float,
    time_s: float,
) -> tuple[dict[str, Any], npt.NDArray[np.int64], npt.NDArray[np.int64], set[int]]:
    ends = true.extra.get("end_time")
    span = np.array([parse_time(e) if e else np.nan for e in ends]) if level == "incident" and ends else None
    if span is not None:
        span = np.where(np.isfinite(span), span, true.t)
    ti, fi = match_events(
        true.lon,
        true.lat,
        true.t,
        found.lon,
        found.lat,
        found.t,
        distance_m,
        time_s,
        true_t_end=span,
        true_origin=true.origin,
        found_at_origin=found.at_origin,
    )
    matched_eligible = int(eligible[ti].sum())
    report: dict[str, Any] = {
        "level": level,
        "tolerance": {"distance_m": distance_m, "time_s": time_s},
        "true_events": len(true),
        "true_events_scored": int(eligible.sum()),
        "found_events": len(found),
        "matched": len(ti),
        "matched_scored": matched_eligible,
        # a found event matched to a real but unscored event is no false alarm
        **_prf(matched_eligible, len(found) - (len(ti) - matched_eligible), int(eligible.sum())),
    }
    keep = eligible[ti]
    excused = set(fi[~keep].tolist())
    ti, fi = ti[keep], fi[keep]
    # each pair like with like: a found event placed at its origin against the true origin
    clon, clat = counterpart(true.lon, true.lat, true.origin, found.at_origin)
    at_origin = found.at_origin[fi] if found.at_origin is not None else np.zeros(len(fi), dtype=bool)
    tlon, tlat = np.where(at_origin, clon[ti], true.lon[ti]), np.where(at_origin, clat[ti], true.lat[ti])
    _, _, err = geodesic(tlon, tlat, found.lon[fi], found.lat[fi])
    report["location_error"] = _quantiles(err)
    report["time_error_s"] = float(np.median(np.abs(true.t[ti] - found.t[fi]))) if len(ti) else None
    if found.ellipse is not None and len(ti):
        ell = found.ellipse[fi]
        has = np.all(np.isfinite(ell[:, :2]), axis=1)
        inside = ellipse_inside(tlon[has], tlat[has], found.lon[fi][has], found.lat[fi][has], ell[has])
        report["ellipse_95"] = {"n": int(has.sum()), "coverage": float(inside.mean()) if has.any() else None}
    else:
        report["ellipse_95"] = {"n": 0, "coverage": None}
    return report, ti, fi, excused


def _evaluate_blasts(
    truth: Truth, found: EventTable, options: EvalOptions, distance_m: float, time_s: float
) -> dict[str, Any]:
    true = truth.blasts()
    det_blast, det_station, _ = truth.detection_rows()
    index = {bid: k for k, bid in enumerate(true.ids)}
    det_event = np.fromiter((index[b] for b in det_blast), dtype=np.int64, count=len(det_blast))
    n_det = np.bincount(det_event, minlength=len(true))
    eligible = n_det >= options.min_detections
    report, ti, fi, _ = _common("blast", true, eligible, found, distance_m, time_s)
    report["min_detections"] = options.min_detections
    # the bound, for every scored blast, from the sensors that heard it
    stations = _stations(truth)
    sid = np.array([stations["index"][s] for s in det_station], dtype=np.int64)
    az, _, dist = geodesic(
        true.lon[det_event], true.lat[det_event], stations["lon"][sid], stations["lat"][sid]
    )
    east, north = dist * np.sin(np.radians(az)), dist * np.cos(np.radians(az))
    atmosphere = Atmosphere.model_validate(truth.meta["scenario"]["atmosphere"])
    c = sound_speed(atmosphere, true.t[det_event])
    bias_sigma = float(truth.meta["scenario"]["acoustic"]["bias_sigma_s"])
    sigma_t = np.sqrt(stations["timing"][sid] ** 2 + bias_sigma**2)
    cov = location_crb(det_event, len(true), east, north, c, sigma_t, np.radians(stations["azimuth"][sid]))
    bound = rms_radius(cov)
    _, _, err = geodesic(true.lon[ti], true.lat[ti], found.lon[fi], found.lat[fi])
    b = bound[ti]
    finite = np.isfinite(b)
    scored_bound = bound[eligible & np.isfinite(bound)]
    report["cramer_rao"] = {
        "n": int(finite.sum()),
        "median_bound_m": float(np.median(scored_bound)) if len(scored_bound) else None,
        "median_bound_matched_m": float(np.median(b[finite])) if finite.any() else None,
        "median_error_over_bound": float(np.median(err[finite] / np.maximum(b[finite], 1e-9)))
        if finite.any()
        else None,
        "median_error_over_median_bound": (
            float(np.median(err[finite]) / max(float(np.median(b[finite])), 1e-9)) if finite.any() else None
        ),
        "definition": "bound = sqrt(trace) of the 2x2 position CRB (RMS error of an efficient estimator)",
    }
    return report


def _stations(truth: Truth) -> dict[str, Any]:
    index: dict[str, int] = {}
    lon: list[float] = []
    lat: list[float] = []
    timing: list[float] = []
    azimuth: list[float] = []
    hidden = {}
    with (truth.truth / "stations.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            hidden[row["station_id"]] = row
    with (truth.root / "stations.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            index[row["station_id"]] = len(lon)
            lon.append(float(row["lon"]))
            lat.append(float(row["lat"]))
            h = hidden[row["station_id"]]
            timing.append(float(h["timing_sigma_s"]))
            azimuth.append(float(h["azimuth_sigma_deg"]) if h["azimuth_sigma_deg"] else math.nan)
    return {
        "index": index,
        "lon": np.array(lon),
        "lat": np.array(lat),
        "timing": np.array(timing),
        "azimuth": np.array(azimuth),
    }


def _evaluate_incidents(
    truth: Truth,
    found: EventTable,
    assignments: dict[str, str] | None,
    distance_m: float,
    time_s: float,
    min_detections: int,
) -> dict[str, Any]:
    true = truth.incidents()
    observed, leads = truth.revealed(min_detections)
    eligible = np.array([i in observed for i in true.ids])
    report, ti, fi, excused = _common("incident", true, eligible, found, distance_m, time_s)
    if found.origin is not None and true.origin is not None and len(ti):
        has = np.all(np.isfinite(found.origin[fi]), axis=1) & np.array(
            [true.extra["type"][k] == "fire" for k in ti]
        )
        _, _, oerr = geodesic(
            true.origin[ti][has, 0],
            true.origin[ti][has, 1],
            found.origin[fi][has, 0],
            found.origin[fi][has, 1],
        )
        report["origin_error"] = _quantiles(oerr)
    report["attribution"] = _attribution(true, found, ti, fi)
    report["classification"] = _classification(true, found, ti, fi, eligible, excused)
    skip = {k for k, i in enumerate(true.ids) if i in leads}
    if report["classification"]:
        report["classification"]["excluding_leads"] = {
            "incidents_excluded": len(skip),
            "definition": "incidents revealed by allegations alone left out: an allegation is never "
            "enough for a violation",
            **_classification(true, found, ti, fi, eligible, excused, skip),
        }
    report["false_allegations"] = _false_allegations(truth, true, found, ti, fi, assignments)
    report["recall_by_regime"] = {}
    matched = Counter(true.extra["regime"][k] for k in ti.tolist())
    for regime in sorted(set(true.extra["regime"])):
        n = int(sum(1 for k in np.flatnonzero(eligible).tolist() if true.extra["regime"][k] == regime))
        report["recall_by_regime"][regime] = {
            "true": n,
            "matched": matched[regime],
            "recall": matched[regime] / n if n else None,
        }
    return report


def _attribution(
    true: EventTable, found: EventTable, ti: npt.NDArray[np.int64], fi: npt.NDArray[np.int64]
) -> dict[str, Any]:
    if found.probs is None or not len(ti):
        return {"n_attributed": 0}
    parties = sorted(set(found.probs) | set(true.extra["party"]) - {""})
    p = np.column_stack([found.probs.get(c, np.full(len(found), np.nan))[fi] for c in parties])
    attributed = np.any(np.isfinite(p), axis=1)
    p = np.nan_to_num(p[attributed])
    truth_party = np.array([true.extra["party"][k] for k in ti[attributed]])
    y = np.column_stack([truth_party == c for c in parties]).astype(np.float64)
    top = np.array(parties)[np.argmax(p, axis=1)] if len(p) else np.array([])
    correct = top == truth_party
    dist = np.abs(np.array([float(true.extra["origin_line_distance_m"][k] or 0.0) for k in ti[attributed]]))
    far = dist >= 2_000.0
    # one forecast per (event, party): "this party fired"; mean squared error over all of them
    brier = float(np.mean((p - y) ** 2)) if len(p) else None
    flat_p, flat_y = p.ravel(), y.ravel()
    bins = np.clip((flat_p * RELIABILITY_BINS).astype(int), 0, RELIABILITY_BINS - 1)
    table = []
    for b in range(RELIABILITY_BINS):
        sel = bins == b
        if sel.any():
            table.append(
                {
                    "bin": f"{b / RELIABILITY_BINS:.1f}-{(b + 1) / RELIABILITY_BINS:.1f}",
                    "n": int(sel.sum()),
                    "mean_forecast": float(flat_p[sel].mean()),
                    "observed": float(flat_y[sel].mean()),
                }
            )
    return {
        "n_attributed": int(attributed.sum()),
        "n_undetermined": int((~attributed).sum()),
        "accuracy": float(correct.mean()) if len(correct) else None,
        "n_origin_ge_2km": int(far.sum()),
        "accuracy_origin_ge_2km": float(correct[far].mean()) if far.any() else None,
        "brier": brier,
        "reliability": table,
    }


def _classification(
    true: EventTable,
    found: EventTable,
    ti: npt.NDArray[np.int64],
    fi: npt.NDArray[np.int64],
    eligible: npt.NDArray[np.bool_],
    excused: set[int],
    skip: frozenset[int] | set[int] = frozenset(),
) -> dict[str, Any]:
    """Provisions per matched pair; unmatched found events (other than those matched to a real but
    unobserved incident) count as false positives, unmatched observed incidents as misses. The
    true incidents in `skip` are left out, and so is the found event matched to one."""
    if found.provisions is None or true.provisions is None:
        return {}
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    matched_t, matched_f = set(ti.tolist()), set(fi.tolist())
    for k, j in zip(ti.tolist(), fi.tolist(), strict=True):
        if k in skip:
            continue
        t_set, f_set = true.provisions[k], found.provisions[j]
        for p in t_set & f_set:
            tp[p] += 1
        for p in f_set - t_set:
            fp[p] += 1
        for p in t_set - f_set:
            fn[p] += 1
        for a in t_set or {"none"}:
            for b in f_set or {"none"}:
                confusion[a][b] += 1
    for j in set(range(len(found))) - matched_f - excused:
        for p in found.provisions[j]:
            fp[p] += 1
            confusion["none"][p] += 1
    for k in set(np.flatnonzero(eligible).tolist()) - matched_t - skip:
        for p in true.provisions[k]:
            fn[p] += 1
            confusion[p]["none"] += 1
    provisions = sorted(set(tp) | set(fp) | set(fn))
    return {
        "by_provision": {
            p: {"tp": tp[p], "fp": fp[p], "fn": fn[p], **_prf(tp[p], tp[p] + fp[p], tp[p] + fn[p])}
            for p in provisions
        },
        "confusion": {a: dict(sorted(row.items())) for a, row in sorted(confusion.items())},
    }


def _false_allegations(
    truth: Truth,
    true: EventTable,
    found: EventTable,
    ti: npt.NDArray[np.int64],
    fi: npt.NDArray[np.int64],
    assignments: dict[str, str] | None,
) -> dict[str, Any]:
    false = truth.false_allegations()
    out: dict[str, Any] = {"false_total": len(false)}
    if assignments is None or found.status is None:
        out["verified"] = None
        return out
    row_of = {eid: j for j, eid in enumerate(found.ids)}
    true_party_of_found = {j: true.extra["party"][k] for k, j in zip(ti.tolist(), fi.tolist(), strict=True)}
    parties = sorted(found.probs) if found.probs else []
    verified = blamed = 0
    for a in false:
        j = row_of.get(assignments.get(a["observation_id"], ""))
        if j is None or found.probs is None:
            continue
        p = np.array([found.probs[c][j] for c in parties])
        if not np.any(np.isfinite(p)):
            continue
        accused = parties[int(np.nanargmax(p))]
        # the claim stands if the event is put on the accused, and no true incident by the
        # accused lies behind it
        if accused != a["accused_party"] or true_party_of_found.get(j) == a["accused_party"]:
            continue
        if found.status[j] in ("corroborated", "verified"):
            blamed += 1
        if found.status[j] == "verified":
            verified += 1
    out["blamed"] = blamed
    out["verified"] = verified
    out["share_verified"] = verified / len(false) if false else 0.0
    out["share_blamed"] = blamed / len(false) if false else 0.0
    return out
