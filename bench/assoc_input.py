"""Inputs for the association benchmark: a `garant sim` run cropped to the stations near its
blasts, so that every associator gets the same, compact problem (stations, detections, truth)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np


def crop(src: Path, dst: Path, margin_deg: float = 0.3) -> int:
    """Copy the run at `src` to `dst`, keeping stations within `margin_deg` of the blasts' extent
    and the detections at those stations (in both the input and the truth). Returns the count of
    detections kept."""
    with (src / "truth" / "blasts.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    lon = np.array([float(r["lon"]) for r in rows])
    lat = np.array([float(r["lat"]) for r in rows])
    box = (lon.min() - margin_deg, lon.max() + margin_deg, lat.min() - margin_deg, lat.max() + margin_deg)
    (dst / "truth").mkdir(parents=True, exist_ok=True)
    keep: set[str] = set()
    for name in ("stations.csv", "truth/stations.csv"):
        with (src / name).open() as fh, (dst / name).open("w") as out:
            out.write(fh.readline())
            for line in fh:
                sid = line.split(",", 1)[0]
                if name == "stations.csv":
                    _, x, y, _ = line.split(",", 3)
                    if box[0] <= float(x) <= box[1] and box[2] <= float(y) <= box[3]:
                        keep.add(sid)
                if sid in keep:
                    out.write(line)
    kept_ids: set[str] = set()
    with (src / "detections.csv").open() as fh, (dst / "detections.csv").open("w") as out:
        out.write(fh.readline())
        for line in fh:
            did, sid, _ = line.split(",", 2)
            if sid in keep:
                out.write(line)
                kept_ids.add(did)
    with (src / "truth" / "detections.csv").open() as fh, (dst / "truth" / "detections.csv").open("w") as out:
        out.write(fh.readline())
        out.writelines(line for line in fh if line.split(",", 1)[0] in kept_ids)
    for name in ("blasts.csv", "incidents.csv", "observations.csv", "allegations.csv", "meta.json"):
        shutil.copy(src / "truth" / name, dst / "truth" / name)
    return len(kept_ids)
