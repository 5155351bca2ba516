"""Figures of the ceasefire, from the reviewed bulletin: what the commission, the guarantees and
the reports build on.

Only **verified** violations count (confirmed by an analyst); the automatic bulletin's are
shown beside them as `pending` so nobody mistakes one for the other. Two units, never mixed:
**incidents** (events with a verified violation: what "violations per day" means to the
commission) and **violation rows** (one per provision an event breaches). Daily counts by party,
provision, weapon class and sector (50 km stretches of the contact line, numbered from its
first vertex), each with a rolling mean over a window of days that reaches back before `start`
(so the first day's mean is a whole window's); per party, an event counts only at a stated
probability (else "undetermined"), beside the expected counts (sums of probabilities). And the
agreement's "credible cessation of hostilities" indicator over its window: verified violations
per day, violations with heavy weapons, days with fatalities, each against its threshold.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import orjson
import shapely

from garant.domain.access import Principal
from garant.domain.agreement import Agreement
from garant.geo.engine import Geography
from garant.store import verified as vstore
from garant.store.db import Database

SECTOR_KM = 50.0
ROLLING_DAYS = 7  # the default window of the rolling means
PARTY_THRESHOLD = 0.9  # an event counts to a party only this sure of it; below, "undetermined"
UNDETERMINED = "undetermined"
Cell = defaultdict[str, float]  # measure (incidents, violations, expected_...) -> value
DIMENSIONS = ("party", "provision", "weapon_class", "sector")
UNITS = {
    "incidents": "events with at least one verified violation (one event, one incident)",
    "violations": "violation rows: one per provision an event breaches",
    "expected_incidents": "sum over events of the party's probability (party only)",
    "expected_violations": "sum over violation rows of the party's probability (party only)",
}


def _sectors(geo: Geography, lon: list[float], lat: list[float]) -> list[str]:
    """`km a-b` of the stretch of contact line nearest each point, measured along the line."""
    if not lon:
        return []
    x, y = geo.project(np.array(lon), np.array(lat))
    parts = list(getattr(geo.projected_line, "geoms", [geo.projected_line]))
    offsets = np.cumsum([0.0] + [p.length for p in parts])
    pts = shapely.points(np.asarray(x), np.asarray(y))
    dist = np.stack([shapely.distance(p, pts) for p in parts])
    nearest = np.argmin(dist, axis=0)
    along = np.empty(len(pts))
    for k, part in enumerate(parts):  # one vectorised call per part of the line
        mine = nearest == k
        along[mine] = offsets[k] + shapely.line_locate_point(part, pts[mine])
    lo = (along // (SECTOR_KM * 1000.0)).astype(int) * int(SECTOR_KM)
    return [f"km {a}-{a + int(SECTOR_KM)}" for a in lo.tolist()]


def ceasefire_figures(
    db: Database,
    viewer: Principal,
    agreement: Agreement,
    start: datetime,
    end: datetime,
    *,
    window_days: int = ROLLING_DAYS,
    party_threshold: float = PARTY_THRESHOLD,
) -> dict[str, Any]:
    """Counts over [start, end), rolling means over `window_days`, and the credible-cessation
    indicator for the window ending at `end`. An event counts to a party only when that party's
    probability is at least `party_threshold`; the expected counts spread every event."""
    if window_days < 1:
        raise ValueError("window_days must be at least 1")
    cc = agreement.thresholds.credible_cessation
    first, last = start.astimezone(UTC).date(), (end - timedelta(microseconds=1)).astimezone(UTC).date()
    # the rolling mean of the first day reaches back over days before `start`: read them too
    context = datetime.combine(first - timedelta(days=max(window_days, ROLLING_DAYS) - 1), time(), UTC)
    window_start = min(start, context, end - timedelta(days=cc.window_days))
    with db.read() as conn:
        rows = vstore.list_violations(
            conn, vstore.ViolationFilter(viewer=viewer, start=window_start, end=end, limit=10_000_000)
        )
    heavy = {w.code for w in agreement.weapon_classes if w.heavy}
    verified = [r for r in rows if r["level"] == "verified"]
    # the days of the series count from `start`; whole days before the first day feed the mean
    counted = [r for r in verified if r["time"] >= start or _day(r["time"]) < first]
    counted = [r for r in counted if _day(r["time"]) >= context.date()]
    sectors = _sectors(Geography.of(agreement), [r["lon"] for r in counted], [r["lat"] for r in counted])
    # day -> dimension -> key -> measure -> value
    days: dict[date, dict[str, dict[str, Cell]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(_cell))
    )
    seen: set[tuple[date, str, str, str]] = set()
    for r, sector in zip(counted, sectors, strict=True):
        d = days[_day(r["time"])]
        keys = {
            "party": _credited(r, party_threshold),
            "provision": r["provision_id"],
            "weapon_class": r["weapon_class"] or "unknown",
            "sector": sector,
            "total": "all",
        }
        for dim, key in keys.items():
            cell = d[dim][key]
            cell["violations"] += 1
            if (_day(r["time"]), dim, key, r["event_id"]) not in seen:  # one event, one incident
                seen.add((_day(r["time"]), dim, key, r["event_id"]))
                cell["incidents"] += 1
        for party, p in _shares(r).items():
            d["party"][party]["expected_violations"] += p
            if (_day(r["time"]), "expected", party, r["event_id"]) not in seen:
                seen.add((_day(r["time"]), "expected", party, r["event_id"]))
                d["party"][party]["expected_incidents"] += p
    dates = [first + timedelta(days=k) for k in range((last - first).days + 1)]
    daily = [_day_entry(days, day, window_days) for day in dates]
    in_range = [r for r in verified if r["time"] >= start]
    totals = {dim: _totals(days, dates, dim) for dim in (*DIMENSIONS, "total")}
    everything = totals.pop("total").get("all", _cell())
    pending = [r for r in rows if r["time"] >= start and r["level"] in ("reported", "corroborated")]
    return {
        "agreement": agreement.key,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "units": UNITS,
        "window_days": window_days,
        "party_threshold": party_threshold,
        "verified_violations": len(in_range),
        "verified_incidents": int(everything.get("incidents", 0)),
        "pending_review": len(pending),
        "pending_review_incidents": len({r["event_id"] for r in pending}),
        "by_party": {k: int(v["violations"]) for k, v in totals["party"].items() if v.get("violations")},
        "by_provision": {k: int(v["violations"]) for k, v in totals["provision"].items()},
        "totals": {dim: {k: _rounded(v) for k, v in sorted(per.items())} for dim, per in totals.items()},
        "daily": daily,
        "credible_cessation": _credible_cessation(verified, heavy, end, agreement),
    }


def _day(t: datetime) -> date:
    return t.astimezone(UTC).date()


def _shares(r: dict[str, Any]) -> dict[str, float]:
    """The event's probability per party (an event nobody could attribute: all undetermined)."""
    probs = orjson.loads(r["attribution"]) if r["attribution"] else None
    if not probs:
        return {UNDETERMINED: 1.0}
    out = {k: float(v) for k, v in probs.items() if v}
    rest = 1.0 - sum(out.values())
    if rest > 1e-9:
        out[UNDETERMINED] = rest
    return out


def _credited(r: dict[str, Any], threshold: float) -> str:
    """The party an event counts to: its most probable one, at `threshold` or above."""
    shares = {k: v for k, v in _shares(r).items() if k != UNDETERMINED}
    if not shares:
        return UNDETERMINED
    party, p = max(shares.items(), key=lambda kv: (kv[1], kv[0]))
    return party if p >= threshold else UNDETERMINED


def _rolling(days: dict[date, Any], day: date, dim: str, key: str, measure: str, window: int) -> float:
    total = 0.0
    for k in range(window):
        d = days.get(day - timedelta(days=k))
        if d is not None and dim in d and key in d[dim]:
            total += d[dim][key].get(measure, 0.0)
    return round(total / window, 3)


def _cell() -> Cell:
    return defaultdict(float)


def _rounded(cell: Cell) -> dict[str, float | int]:
    return {
        m: (round(v, 3) if m.startswith(("expected", "rolling")) else int(v)) for m, v in sorted(cell.items())
    }


def _day_entry(days: dict[date, Any], day: date, window: int) -> dict[str, Any]:
    """One day: its counts per dimension and key, each with its rolling mean over the window of
    days ending that day (keys seen anywhere in the window, so a quiet day still shows the mean)."""
    recent = [days[day - timedelta(days=k)] for k in range(window) if day - timedelta(days=k) in days]
    out: dict[str, Any] = {"date": day.isoformat()}
    per: dict[str, dict[str, dict[str, float | int]]] = {}
    for dim in (*DIMENSIONS, "total"):
        keys = sorted({key for d in recent for key in d.get(dim, {})})
        cells: dict[str, dict[str, float | int]] = {}
        for key in keys:
            here = days[day][dim][key] if day in days and key in days[day].get(dim, {}) else _cell()
            measures = sorted({m for d in recent for m in d.get(dim, {}).get(key, {})})
            cell: dict[str, float | int] = {
                m: (round(here.get(m, 0.0), 3) if m.startswith("expected") else int(here.get(m, 0)))
                for m in measures
            }
            for m in measures:
                cell[f"rolling_{m}"] = _rolling(days, day, dim, key, m, window)
            cells[key] = cell
        per[dim] = cells
    tot = per.pop("total").get("all", {})
    out["verified_violations"] = int(tot.get("violations", 0))
    out["verified_incidents"] = int(tot.get("incidents", 0))
    out["rolling"] = {
        "incidents": tot.get("rolling_incidents", 0.0),
        "violations": tot.get("rolling_violations", 0.0),
    }
    out["rolling_mean_7d"] = _rolling(days, day, "total", "all", "violations", ROLLING_DAYS)
    for dim in DIMENSIONS:
        out[f"by_{dim}"] = per[dim]
    return out


def _totals(days: dict[date, Any], dates: list[date], dim: str) -> dict[str, Cell]:
    out: dict[str, Cell] = defaultdict(_cell)
    for day in dates:
        for key, cell in days.get(day, {}).get(dim, {}).items():
            for measure, value in cell.items():
                out[key][measure] += value
    return dict(out)


def _credible_cessation(
    rows: list[dict[str, Any]], heavy: set[str], end: datetime, agreement: Agreement
) -> dict[str, Any]:
    cc = agreement.thresholds.credible_cessation
    since = end - timedelta(days=cc.window_days)
    window = [r for r in rows if since <= r["time"] < end]
    per_day = len(window) / cc.window_days
    heavy_n = sum(1 for r in window if (r["weapon_class"] or "") in heavy)
    fatal_days = len({r["time"].astimezone(UTC).date() for r in window if (r["fatalities"] or 0) > 0})
    measures: dict[str, dict[str, Any]] = {
        "verified_violations_per_day": {
            "value": round(per_day, 3),
            "max": cc.max_verified_violations_per_day,
            "met": per_day <= cc.max_verified_violations_per_day,
        },
        "heavy_weapon_violations": {
            "value": heavy_n,
            "max": cc.max_heavy_weapon_violations,
            "met": heavy_n <= cc.max_heavy_weapon_violations,
        },
        "days_with_fatalities": {
            "value": fatal_days,
            "max": cc.max_days_with_fatalities,
            "met": fatal_days <= cc.max_days_with_fatalities,
        },
    }
    return {
        "window_days": cc.window_days,
        "from": since.isoformat(),
        "to": end.isoformat(),
        "measures": measures,
        "met": all(m["met"] for m in measures.values()),
    }
