"""The files of `garant associate`: stations and detections in, events and assignments out.

`STATIONS.csv`: `station_id,lon,lat` (optional `elevation_m`). `DETECTIONS.csv`:
`detection_id,station_id,time` (ISO 8601 with an offset, e.g. `2026-03-02T10:00:01.234Z`;
optional `azimuth_deg` from an array, empty when none). Every problem names the file and
line; up to `MAX_PROBLEMS` are reported at once, so a bad file is fixed in one pass.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from garant.sim.physics import iso_times
from garant.verify.acoustic import Events

MAX_PROBLEMS = 20


class InputFileError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class Stations:
    ids: list[str]
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]


@dataclass
class Detections:
    ids: list[str]
    station: npt.NDArray[np.int64]
    time_s: npt.NDArray[np.float64]
    azimuth_deg: npt.NDArray[np.float64]


def _open(path: Path, required: tuple[str, ...]) -> tuple[csv.DictReader[str], list[str], object]:
    try:
        fh = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InputFileError([f"{path}: cannot read: {exc.strerror}"]) from exc
    reader = csv.DictReader(fh)
    cols = reader.fieldnames or []
    missing = [c for c in required if c not in cols]
    if missing:
        fh.close()
        raise InputFileError([f"{path}:1: missing column(s) {', '.join(missing)} (header: {','.join(cols)})"])
    return reader, list(cols), fh


def _number(text: str | None, name: str, lo: float, hi: float) -> float:
    try:
        v = float(text or "")
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{name} {v} is outside [{lo:g}, {hi:g}]")
    return v


def read_stations(path: Path) -> Stations:
    reader, _, fh = _open(path, ("station_id", "lon", "lat"))
    ids: list[str] = []
    lon: list[float] = []
    lat: list[float] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    with fh:  # type: ignore[attr-defined]
        for line, row in enumerate(reader, start=2):
            try:
                sid = (row["station_id"] or "").strip()
                if not sid:
                    raise ValueError("empty station_id")
                if sid in seen:
                    raise ValueError(f"station_id {sid!r} already on line {seen[sid]}")
                x = _number(row["lon"], "lon", -180, 180)
                y = _number(row["lat"], "lat", -90, 90)
                if row.get("elevation_m"):
                    _number(row["elevation_m"], "elevation_m", -500, 9000)
            except ValueError as exc:
                problems.append(f"{path}:{line}: {exc}")
                if len(problems) >= MAX_PROBLEMS:
                    break
                continue
            seen[sid] = line
            ids.append(sid)
            lon.append(x)
            lat.append(y)
    if problems:
        raise InputFileError(problems)
    if not ids:
        raise InputFileError([f"{path}: no stations"])
    return Stations(ids, np.array(lon), np.array(lat))


def _time(text: str | None) -> float:
    try:
        dt = datetime.fromisoformat((text or "").strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"time {text!r} is not ISO 8601") from None
    if dt.utcoffset() is None:
        raise ValueError(f"time {text!r} has no UTC offset (add Z)")
    return dt.timestamp()


def read_detections(path: Path, stations: Stations) -> Detections:
    reader, cols, fh = _open(path, ("detection_id", "station_id", "time"))
    index = {sid: i for i, sid in enumerate(stations.ids)}
    has_az = "azimuth_deg" in cols
    ids: list[str] = []
    st: list[int] = []
    t: list[float] = []
    az: list[float] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    with fh:  # type: ignore[attr-defined]
        for line, row in enumerate(reader, start=2):
            try:
                did = (row["detection_id"] or "").strip()
                if not did:
                    raise ValueError("empty detection_id")
                if did in seen:
                    raise ValueError(f"detection_id {did!r} already on line {seen[did]}")
                sid = (row["station_id"] or "").strip()
                if sid not in index:
                    raise ValueError(f"unknown station {sid!r} (not in the stations file)")
                when = _time(row["time"])
                a = (
                    _number(row["azimuth_deg"], "azimuth_deg", 0, 360)
                    if has_az and row["azimuth_deg"]
                    else math.nan
                )
            except ValueError as exc:
                problems.append(f"{path}:{line}: {exc}")
                if len(problems) >= MAX_PROBLEMS:
                    break
                continue
            seen[did] = line
            ids.append(did)
            st.append(index[sid])
            t.append(when)
            az.append(a)
    if problems:
        raise InputFileError(problems)
    return Detections(ids, np.array(st, dtype=np.int64), np.array(t), np.array(az))


def write_events(out: Path, events: Events, detections: Detections, prefix: str = "ev") -> list[str]:
    """`events.csv` (by time) and `assignments.csv` (associated detections only); returns the ids."""
    out.mkdir(parents=True, exist_ok=True)
    order = np.argsort(events.time, kind="stable")
    ids = [""] * len(events)
    for rank, k in enumerate(order, start=1):
        ids[k] = f"{prefix}-{rank:07d}"
    times = iso_times(events.time, "us")
    with (out / "events.csv").open("w", encoding="utf-8") as fh:
        fh.write("event_id,time,lon,lat,semi_major_m,semi_minor_m,azimuth_deg,n_detections\n")
        fh.writelines(
            f"{ids[k]},{times[k]},{events.lon[k]:.6f},{events.lat[k]:.6f},{events.semi_major_m[k]:.1f},"
            f"{events.semi_minor_m[k]:.1f},{events.azimuth_deg[k]:.1f},{events.n_detections[k]}\n"
            for k in order
        )
    with (out / "assignments.csv").open("w", encoding="utf-8") as fh:
        fh.write("detection_id,event_id\n")
        fh.writelines(
            f"{detections.ids[i]},{ids[e]}\n" for i, e in enumerate(events.assignment.tolist()) if e >= 0
        )
    return ids
