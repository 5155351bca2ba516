"""The bulletin's records as GeoJSON features and JSON: one shape for the API, the CLI and exports.

Rows as the store returns them (`garant.store.events`, `garant.store.verified`) in, plain dicts
out, no I/O: so `garant events list --json` prints what `GET /api/v1/events` answers, and the
entry points do not import one another to get it. Times are UTC with `Z`; uncertainties are 95%
ellipses in metres.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def placed_at(row: Any) -> str | None:
    """`origin` for fire nobody saw land, placed where it was fired from (the pipeline writes
    the same place to both, until an analyst relocates it), `impact` for other fire."""
    if row["kind"] != "fire":
        return None
    at_origin = row["origin_lon"] is not None and (row["lon"], row["lat"]) == (
        row["origin_lon"],
        row["origin_lat"],
    )
    return "origin" if at_origin else "impact"


def event_feature(row: dict[str, Any]) -> dict[str, Any]:
    """One event of the bulletin (a located blast, or a fused event with its origin, attribution,
    level and severity) as a GeoJSON Feature; `observations` and `parts` when the row has them."""
    props: dict[str, Any] = {
        "id": row["id"],
        "kind": row["kind"],
        "time": _iso(row["time"]),
        "evaluation_mode": row["evaluation_mode"],
        "status": row["status"],
        "uncertainty": {
            "semi_major_m": round(row["semi_major_m"], 1),
            "semi_minor_m": round(row["semi_minor_m"], 1),
            "azimuth_deg": round(row["azimuth_deg"], 1),
            "confidence": 0.95,
        },
        "n_observations": row["n_observations"],
        "revision": row["revision"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
    }
    if row["kind"] == "acoustic":
        props["rms_s"] = None if row["rms_s"] is None else round(row["rms_s"], 4)
    else:
        props.update(_fused_properties(row))
    for name in ("observations", "parts"):
        if name in row:
            props[name] = row[name]
    return {
        "type": "Feature",
        "id": row["id"],
        "geometry": {"type": "Point", "coordinates": [round(row["lon"], 6), round(row["lat"], 6)]},
        "properties": props,
    }


def _ellipse(row: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    if row[f"{prefix}semi_major_m"] is None:
        return None
    return {
        "semi_major_m": round(row[f"{prefix}semi_major_m"], 1),
        "semi_minor_m": round(row[f"{prefix}semi_minor_m"], 1),
        "azimuth_deg": round(row[f"{prefix}azimuth_deg"], 1),
        "confidence": 0.95,
    }


def _fused_properties(row: dict[str, Any]) -> dict[str, Any]:
    origin = None
    if row["origin_lon"] is not None:
        origin = {
            "lon": round(row["origin_lon"], 6),
            "lat": round(row["origin_lat"], 6),
            "uncertainty": _ellipse(row, "origin_"),
        }
    return {
        "end_time": _iso(row["end_time"]) if row["end_time"] else None,
        "placed_at": placed_at(row),
        "origin": origin,
        "attribution": orjson.loads(row["attribution"]) if row["attribution"] else None,
        "status_reason": row["status_reason"],
        "level": row["level"],
        "technical": row["technical"],
        "severity": row["severity"],
        "weapon_class": row["weapon_class"],
        "rounds": row["rounds"],
        "casualties": row["casualties"],
        "fatalities": row["fatalities"],
        "agreement": row["agreement_key"],
    }


def violation_feature(row: dict[str, Any]) -> dict[str, Any]:
    """One violation (an event breaching one provision) as a GeoJSON Feature at its event."""
    return {
        "type": "Feature",
        "id": row["id"],
        "geometry": {"type": "Point", "coordinates": [round(row["lon"], 6), round(row["lat"], 6)]},
        "properties": {
            "id": row["id"],
            "event_id": row["event_id"],
            "event_kind": row["kind"],
            "time": _iso(row["time"]),
            "provision": row["provision_id"],
            "agreement": row["agreement_key"],
            "probability": row["probability"],
            "party": row["party"],
            "party_probability": row["party_probability"],
            "level": row["level"],
            "evaluation_mode": row["evaluation_mode"],
            "status": row["status"],
            "severity": {
                "weapon_class": row["weapon_class"],
                "rounds": row["rounds"],
                "casualties": row["casualties"],
                "fatalities": row["fatalities"],
            },
        },
    }


def act_json(row: dict[str, Any]) -> dict[str, Any]:
    """One review act: who, when, what and why, with its payload as JSON."""
    return {
        "id": row["id"],
        "event_id": row["event_id"],
        "act": row["act"],
        "actor": row["actor"],
        "actor_org": row["actor_org"],
        "at": _iso(row["at"]),
        "reason": row["reason"],
        "payload": row["payload"] if isinstance(row["payload"], dict) else orjson.loads(row["payload"]),
    }
