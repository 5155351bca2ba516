"""The verified bulletin as it stands in the store, written as the files `garant verify` writes.

So the server's bulletin, built incrementally as observations arrive and reviewed by analysts,
can be scored by `garant eval` like the bulletin of a run on files, compared with it, and handed
to those who work in spreadsheets. It reads through the need-to-know filter like every other
read: an event is exported only to a viewer who may see every report it rests on.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from garant.domain.access import Principal
from garant.services.bulletin_views import placed_at
from garant.store.agreements import current_agreement
from garant.store.db import Database
from garant.store.events import visible_events
from garant.store.schema import event_observations, events, observations, violations
from garant.store.verified import FUSED_KINDS
from garant.verify.bulletin_files import VIOLATION_COLUMNS, event_columns


@dataclass(frozen=True)
class Exported:
    events: int
    assignments: int
    violations: int


def _num(v: float | None, fmt: str = ".6f") -> str:
    return "" if v is None or not math.isfinite(v) else format(v, fmt)


def _iso(t: Any) -> str:
    return str(t.isoformat(timespec="milliseconds").replace("+00:00", "Z"))


def export_bulletin(
    db: Database, out: Path, viewer: Principal, client_ids: bool = False, include_rejected: bool = False
) -> Exported:
    """Write `events.csv`, `assignments.csv` and `violations.csv` (active violations) to `out`.
    Event ids are the store's; observations are named by their stored id, or with `client_ids`
    by the client id their sender gave (unique per nation only), as a simulator's truth names them."""
    out.mkdir(parents=True, exist_ok=True)
    conds = [events.c.kind.in_(FUSED_KINDS), visible_events(viewer)]
    if not include_rejected:
        conds.append(events.c.status != "rejected")
    with db.read() as conn:
        agreement = current_agreement(conn)
        parties = tuple(p.code for p in agreement.parties) if agreement else ()
        rows = [dict(r._mapping) for r in conn.execute(select(events).where(*conds).order_by(events.c.time))]
        name = observations.c.client_id if client_ids else observations.c.id
        members = conn.execute(
            select(event_observations.c.event_id, name)
            .join(observations, observations.c.id == event_observations.c.observation_id)
            .where(event_observations.c.event_id.in_(select(events.c.id).where(*conds)))
            .order_by(event_observations.c.event_id, name)
        ).all()
        breaches = conn.execute(
            select(violations)
            .where(
                violations.c.status == "active", violations.c.event_id.in_(select(events.c.id).where(*conds))
            )
            .order_by(violations.c.seq)
        ).all()
    provisions: dict[str, list[str]] = {}
    for b in breaches:
        provisions.setdefault(b.event_id, []).append(b.provision_id)
    with (out / "events.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(event_columns(parties))
        for r in rows:
            probs = orjson.loads(r["attribution"]) if r["attribution"] else None
            killed = r["fatalities"] or 0
            w.writerow(
                [
                    r["id"], r["kind"], _iso(r["time"]), _num(r["lon"]), _num(r["lat"]),
                    *(_num(r[k], ".1f") for k in ("semi_major_m", "semi_minor_m", "azimuth_deg")),
                    _num(r["origin_lon"]), _num(r["origin_lat"]), placed_at(r) or "impact",
                    *[("" if probs is None else f"{probs.get(p, 0.0):.4f}") for p in parties],
                    ";".join(provisions.get(r["id"], [])), r["level"] or "",
                    "true" if r["technical"] else "false", _num(r["severity"], ".2f"),
                    r["weapon_class"] or "", r["rounds"] or 0, r["n_observations"] or 0,
                    r["agreement_key"] or "", killed, (r["casualties"] or 0) - killed,
                ]
            )  # fmt: skip
    with (out / "assignments.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["observation_id", "event_id"])
        for event_id, obs in members:
            w.writerow([obs.split("/", 1)[1] if client_ids else obs, event_id])
    with (out / "violations.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(VIOLATION_COLUMNS)
        level = {r["id"]: r["level"] or "" for r in rows}
        for b in breaches:
            w.writerow(
                [
                    b.event_id, b.provision_id, f"{b.probability:.4f}", b.party or "",
                    "" if b.party_probability is None else f"{b.party_probability:.4f}",
                    level.get(b.event_id, ""), b.agreement_key,
                ]
            )  # fmt: skip
    return Exported(len(rows), len(members), len(breaches))
