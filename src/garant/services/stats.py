"""Figures of the ceasefire, from the reviewed bulletin: what the commission, the guarantees and
the reports build on.

Only **verified** violations count (confirmed by an analyst); the automatic bulletin's are
shown beside them as `pending` so nobody mistakes one for the other. Daily counts by party,
provision, weapon class and sector (50 km stretches of the contact line, numbered from its
first vertex), a rolling 7-day mean, and the agreement's "credible cessation of hostilities"
indicator over its window: verified violations per day, violations with heavy weapons, days
with fatalities, each against its threshold.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import shapely

from garant.domain.access import Principal
from garant.domain.agreement import Agreement
from garant.geo.engine import Geography
from garant.services.verification import geography_for
from garant.store import verified as vstore
from garant.store.db import Database

SECTOR_KM = 50.0
ROLLING_DAYS = 7


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
    db: Database, viewer: Principal, agreement: Agreement, start: datetime, end: datetime
) -> dict[str, Any]:
    """Counts over [start, end) and the credible-cessation indicator for the window ending at `end`."""
    cc = agreement.thresholds.credible_cessation
    window_start = min(start, end - timedelta(days=cc.window_days))
    with db.read() as conn:
        rows = vstore.list_violations(
            conn, vstore.ViolationFilter(viewer=viewer, start=window_start, end=end, limit=10_000_000)
        )
    heavy = {w.code for w in agreement.weapon_classes if w.heavy}
    verified = [r for r in rows if r["level"] == "verified"]
    in_range = [r for r in verified if r["time"] >= start]
    sectors = _sectors(geography_for(agreement), [r["lon"] for r in in_range], [r["lat"] for r in in_range])
    days: dict[date, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for r, sector in zip(in_range, sectors, strict=True):
        d = days[r["time"].astimezone(UTC).date()]
        d["total"]["violations"] += 1
        d["by_party"][r["party"] or "undetermined"] += 1
        d["by_provision"][r["provision_id"]] += 1
        d["by_weapon_class"][r["weapon_class"] or "unknown"] += 1
        d["by_sector"][sector] += 1
    first, last = start.astimezone(UTC).date(), (end - timedelta(microseconds=1)).astimezone(UTC).date()
    daily = []
    totals: list[int] = []
    day = first
    while day <= last:
        d = days.get(day, {})
        n = d["total"]["violations"] if d else 0
        totals.append(n)
        recent = totals[-ROLLING_DAYS:]
        daily.append(
            {
                "date": day.isoformat(),
                "verified_violations": n,
                "rolling_mean_7d": round(sum(recent) / len(recent), 3),
                **{
                    k: dict(sorted(d[k].items())) if d else {}
                    for k in ("by_party", "by_provision", "by_weapon_class", "by_sector")
                },
            }
        )
        day += timedelta(days=1)
    pending = sum(1 for r in rows if r["time"] >= start and r["level"] in ("reported", "corroborated"))
    return {
        "agreement": agreement.key,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "verified_violations": len(in_range),
        "pending_review": pending,
        "by_party": dict(Counter(r["party"] or "undetermined" for r in in_range)),
        "by_provision": dict(Counter(r["provision_id"] for r in in_range)),
        "daily": daily,
        "credible_cessation": _credible_cessation(verified, heavy, end, agreement),
    }


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
