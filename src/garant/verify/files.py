"""The files of `garant associate`: stations and detections in, events and assignments out.

`STATIONS.csv`: `station_id,lon,lat` (optional `elevation_m`). `DETECTIONS.csv`:
`detection_id,station_id,time` (ISO 8601 with an offset, e.g. `2026-03-02T10:00:01.234Z`;
optional `azimuth_deg` from an array, empty when none). Every problem names the file and
line; up to `MAX_PROBLEMS` are reported at once, so a bad file is fixed in one pass.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import orjson

from garant.evaluation.tables import parse_time
from garant.sim.physics import iso_times
from garant.verify.acoustic import Events

MAX_PROBLEMS = 20
T = TypeVar("T")


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


def _rows(
    path: Path, required: tuple[str, ...], id_column: str, parse: Callable[[dict[str, str], list[str]], T]
) -> tuple[list[str], list[T]]:
    """Every row's id and parsed value; a row that fails names its line, and after all rows (or
    `MAX_PROBLEMS` of them) the problems are raised together."""
    try:
        fh = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InputFileError([f"{path}: cannot read: {exc.strerror}"]) from exc
    ids: list[str] = []
    values: list[T] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    with fh:
        reader = csv.DictReader(fh)
        cols = list(reader.fieldnames or [])
        missing = [c for c in required if c not in cols]
        if missing:
            raise InputFileError(
                [f"{path}:1: missing column(s) {', '.join(missing)} (header: {','.join(cols)})"]
            )
        for line, row in enumerate(reader, start=2):
            try:
                rid = (row[id_column] or "").strip()
                if not rid:
                    raise ValueError(f"empty {id_column}")
                if rid in seen:
                    raise ValueError(f"{id_column} {rid!r} already on line {seen[rid]}")
                value = parse(row, cols)
            except ValueError as exc:
                problems.append(f"{path}:{line}: {exc}")
                if len(problems) >= MAX_PROBLEMS:
                    break
                continue
            seen[rid] = line
            ids.append(rid)
            values.append(value)
    if problems:
        raise InputFileError(problems)
    return ids, values


def _number(text: str | None, name: str, lo: float, hi: float) -> float:
    try:
        v = float(text or "")
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{name} {v} is outside [{lo:g}, {hi:g}]")
    return v


def _station(row: dict[str, str], _: list[str]) -> tuple[float, float]:
    if row.get("elevation_m"):
        _number(row["elevation_m"], "elevation_m", -500, 9000)
    return _number(row["lon"], "lon", -180, 180), _number(row["lat"], "lat", -90, 90)


def read_stations(path: Path) -> Stations:
    ids, coords = _rows(path, ("station_id", "lon", "lat"), "station_id", _station)
    if not ids:
        raise InputFileError([f"{path}: no stations"])
    return Stations(ids, np.array([c[0] for c in coords]), np.array([c[1] for c in coords]))


def read_detections(path: Path, stations: Stations) -> Detections:
    index = {sid: i for i, sid in enumerate(stations.ids)}

    def parse(row: dict[str, str], cols: list[str]) -> tuple[int, float, float]:
        sid = (row["station_id"] or "").strip()
        if sid not in index:
            raise ValueError(f"unknown station {sid!r} (not in the stations file)")
        azimuth = row.get("azimuth_deg") if "azimuth_deg" in cols else None
        return (
            index[sid],
            parse_time(row["time"]),
            _number(azimuth, "azimuth_deg", 0, 360) if azimuth else math.nan,
        )

    ids, rows = _rows(path, ("detection_id", "station_id", "time"), "detection_id", parse)
    return Detections(
        ids,
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows]),
        np.array([r[2] for r in rows]),
    )


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


def detections_by_id(path: Path) -> Callable[[list[str]], list[dict[str, Any]]]:
    """A lookup of the acoustic detections of an observation file (JSON lines) by id (`id`, else
    `client_id`), reading the file again when asked: the pipeline wants only the few whose
    located blasts make no event, and keeping every explained arrival in memory for that would
    double the memory of an armed-attack day."""

    def fetch(ids: list[str]) -> list[dict[str, Any]]:
        wanted = set(ids)
        out = []
        with path.open("rb") as fh:
            for line in fh:
                if b"acoustic_detection" not in line:
                    continue
                row = orjson.loads(line)
                name = str(row.get("id") or row.get("client_id"))
                if row.get("kind") == "acoustic_detection" and name in wanted:
                    out.append(row)
        return out

    return fetch
