"""Files of the pipeline run on its own (`garant verify`): the acoustic engine's output in, the
bulletin out in the event format `garant eval` scores (docs/simulation.md)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from garant.evaluation.tables import EventFileError, read_assignments, read_events
from garant.sim.physics import iso_times
from garant.verify.attribution import top_party
from garant.verify.evidence import AcousticEvents
from garant.verify.pipeline import VerifiedEvent


def read_acoustic(folder: Path) -> AcousticEvents:
    """`events.csv` and `assignments.csv` as `garant associate` writes them."""
    table = read_events(folder / "events.csv")
    if table.ellipse is None:
        raise EventFileError(f"{folder / 'events.csv'}:1: missing semi_major_m, semi_minor_m")
    members: dict[str, list[str]] = {}
    for det, ev in read_assignments(folder / "assignments.csv").items():
        members.setdefault(ev, []).append(det)
    return AcousticEvents(
        ids=table.ids,
        t=table.t,
        lon=table.lon,
        lat=table.lat,
        semi_major_m=table.ellipse[:, 0],
        semi_minor_m=table.ellipse[:, 1],
        azimuth_deg=table.ellipse[:, 2],
        n_detections=np.array([len(members.get(i, ())) for i in table.ids], dtype=np.int64),
        detections=members,
    )


def _num(v: float, fmt: str = ".6f") -> str:
    return "" if not math.isfinite(v) else format(v, fmt)


def event_columns(parties: tuple[str, ...]) -> list[str]:
    """The columns of a bulletin's `events.csv`, the same from `garant verify` and from the store."""
    return [
        "event_id", "kind", "time", "lon", "lat", "semi_major_m", "semi_minor_m", "azimuth_deg",
        "origin_lon", "origin_lat", "placed_at", *[f"p_{p}" for p in parties], "provisions", "status",
        "technical", "severity", "weapon_class", "rounds", "n_observations", "agreement",
        "killed", "injured",
    ]  # fmt: skip


VIOLATION_COLUMNS = [
    "event_id",
    "provision",
    "probability",
    "party",
    "party_probability",
    "level",
    "agreement",
]


def write_bulletin(
    out: Path, events: list[VerifiedEvent], parties: tuple[str, ...], prefix: str = "ve"
) -> list[str]:
    """`events.csv` (one row per event, by time), `assignments.csv` (observation or detection ->
    event) and `violations.csv` (one row per breached provision). Returns the event ids."""
    out.mkdir(parents=True, exist_ok=True)
    ids = [f"{prefix}-{k:07d}" for k in range(1, len(events) + 1)]
    times = iso_times(np.array([e.t_start for e in events]), "ms") if events else []
    with (out / "events.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(event_columns(parties))
        for eid, t, e in zip(ids, times, events, strict=True):
            probs = e.attribution.probs
            w.writerow(
                [
                    eid, e.kind, t, _num(e.lon), _num(e.lat), *(f"{v:.1f}" for v in e.ellipse),
                    _num(e.origin_lon), _num(e.origin_lat), "origin" if e.placed_at_origin else "impact",
                    *[("" if probs is None else f"{probs.get(p, 0.0):.4f}") for p in parties],
                    ";".join(b.provision_id for b in e.breaches), e.grade.level,
                    "true" if e.grade.technical else "false", f"{e.severity:.2f}", e.weapon_class or "",
                    e.rounds, len(e.observation_ids) + len(e.acoustic_ids), e.agreement_key,
                    e.killed, e.casualties - e.killed,
                ]
            )  # fmt: skip
    with (out / "assignments.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["observation_id", "event_id"])
        for eid, e in zip(ids, events, strict=True):
            for oid in e.observation_ids:
                w.writerow([oid, eid])
    with (out / "violations.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(VIOLATION_COLUMNS)
        for eid, e in zip(ids, events, strict=True):
            probs = e.attribution.probs
            top, p_top = top_party(probs)
            party, pp = top or "", "" if p_top is None else f"{p_top:.4f}"
            for b in e.breaches:
                w.writerow(
                    [
                        eid,
                        b.provision_id,
                        f"{b.probability:.4f}",
                        party,
                        pp,
                        e.grade.level,
                        e.agreement_key,
                    ]
                )
    return ids
