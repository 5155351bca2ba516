"""Reading event files (a pipeline's output, or the simulator's truth) and assignment files.

An event file is CSV with one row per event: `event_id,time,lon,lat` and, where the pipeline
states them, the 95% location ellipse (`semi_major_m,semi_minor_m,azimuth_deg`), the point of
origin (`origin_lon,origin_lat`), what the place is (`placed_at`: `impact`, or `origin` where
the pipeline knows only where the fire came from), attribution (`p_<PARTY>` columns, empty when
undetermined; or a `party` column), breached provisions (`provisions`, `;`-separated), and
`status`. An assignment file maps observations to events: `detection_id,event_id` or
`observation_id,event_id`. Errors name the file and line.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class EventFileError(ValueError):
    pass


def parse_time(text: str | None) -> float:
    """Epoch seconds of an ISO 8601 time with an offset (`Z` or `+hh:mm`)."""
    try:
        dt = datetime.fromisoformat((text or "").strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"time {text!r} is not ISO 8601") from None
    if dt.utcoffset() is None:
        raise ValueError(f"time {text!r} has no UTC offset (add Z)")
    return dt.timestamp()


def _float(value: str | None) -> float:
    return float(value) if value not in (None, "") else float("nan")


@dataclass
class EventTable:
    ids: list[str]
    t: FloatArray
    lon: FloatArray
    lat: FloatArray
    ellipse: FloatArray | None  # (n, 3): semi-major, semi-minor (m), azimuth of the major axis (deg)
    origin: FloatArray | None  # (n, 2): lon, lat
    at_origin: npt.NDArray[np.bool_] | None  # (lon, lat) is the origin, not the impact
    probs: dict[str, FloatArray] | None  # party -> probability (NaN: undetermined)
    provisions: list[frozenset[str]] | None
    status: list[str] | None
    extra: dict[str, list[str]]

    def __len__(self) -> int:
        return len(self.ids)


def read_events(path: Path, keep: tuple[str, ...] = ()) -> EventTable:
    """Read an event file; `keep` names further columns to return as text in `extra`."""
    try:
        fh = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise EventFileError(f"{path}: cannot read: {exc.strerror}") from exc
    with fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        missing = [c for c in ("event_id", "time", "lon", "lat") if c not in cols]
        if missing:
            raise EventFileError(f"{path}:1: missing column(s) {', '.join(missing)}")
        p_cols = [c for c in cols if c.startswith("p_")]
        has_ellipse = {"semi_major_m", "semi_minor_m"} <= set(cols)
        has_origin = {"origin_lon", "origin_lat"} <= set(cols)
        ids: list[str] = []
        rows: list[tuple[float, ...]] = []
        probs: list[list[float]] = []
        party: list[str] = []
        provisions: list[frozenset[str]] = []
        status: list[str] = []
        placed_at: list[bool] = []
        extra: dict[str, list[str]] = {k: [] for k in keep}
        seen: set[str] = set()
        for line, row in enumerate(reader, start=2):
            try:
                eid = row["event_id"]
                if not eid:
                    raise ValueError("empty event_id")
                if eid in seen:
                    raise ValueError(f"duplicate event_id {eid!r}")
                seen.add(eid)
                rows.append(
                    (
                        parse_time(row["time"]),
                        float(row["lon"]),
                        float(row["lat"]),
                        _float(row.get("semi_major_m")),
                        _float(row.get("semi_minor_m")),
                        _float(row.get("azimuth_deg")) if row.get("azimuth_deg") else 0.0,
                        _float(row.get("origin_lon")),
                        _float(row.get("origin_lat")),
                    )
                )
                probs.append([_float(row[c]) for c in p_cols])
                where = row.get("placed_at") or "impact"
                if where not in ("impact", "origin"):
                    raise ValueError(f"placed_at {where!r} is neither impact nor origin")
                placed_at.append(where == "origin")
            except (ValueError, TypeError) as exc:
                raise EventFileError(f"{path}:{line}: {exc}") from exc
            ids.append(eid)
            party.append(row.get("party") or "")
            provisions.append(frozenset(p for p in (row.get("provisions") or "").split(";") if p))
            status.append(row.get("status") or "")
            for k in keep:
                extra[k].append(row.get(k) or "")
    a = np.array(rows, dtype=np.float64).reshape(-1, 8)
    prob_table: dict[str, FloatArray] | None = None
    if p_cols:
        pa = np.array(probs, dtype=np.float64).reshape(-1, len(p_cols))
        prob_table = {c.removeprefix("p_"): pa[:, k] for k, c in enumerate(p_cols)}
    elif "party" in cols:
        codes = sorted({p for p in party if p})
        prob_table = {c: np.array([1.0 if p == c else (0.0 if p else np.nan) for p in party]) for c in codes}
    return EventTable(
        ids=ids,
        t=a[:, 0],
        lon=a[:, 1],
        lat=a[:, 2],
        ellipse=a[:, 3:6] if has_ellipse else None,
        origin=a[:, 6:8] if has_origin else None,
        at_origin=np.array(placed_at, dtype=bool) if "placed_at" in cols else None,
        probs=prob_table,
        provisions=provisions if "provisions" in cols else None,
        status=status if "status" in cols else None,
        extra=extra,
    )


def read_assignments(path: Path) -> dict[str, str]:
    """observation or detection id -> event id."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header or len(header) < 2 or header[1] != "event_id":
            raise EventFileError(
                f"{path}:1: expected a header `detection_id,event_id` or `observation_id,event_id`"
            )
        out: dict[str, str] = {}
        for line, row in enumerate(reader, start=2):
            if len(row) < 2 or not row[0]:
                raise EventFileError(f"{path}:{line}: expected two columns")
            if row[0] in out:
                raise EventFileError(f"{path}:{line}: {row[0]!r} assigned twice")
            out[row[0]] = row[1]
    return out
