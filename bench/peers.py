"""Run a peer associator (PyOcto or GaMMA) on a `garant sim` input, in the peers' own venv.

Usage: `.venv-peers/bin/python bench/peers.py {pyocto,gamma} INPUT_DIR OUT_DIR PARAMS_JSON`

The peers pin NumPy and pandas versions that Garant does not use, so they live in
`.venv-peers` (made by `make bench`) and this script imports nothing from Garant. It reads the
same `stations.csv` and `detections.csv` Garant reads, projects them to local kilometres
(oblique stereographic centred on the network, the plane Garant's engine works in), runs the
peer with a homogeneous (0-D) sound speed and writes `OUT_DIR/events.csv` and
`OUT_DIR/assignments.csv` in Garant's format, so that `garant eval` scores all engines alike.
The last line printed is JSON: wall time of the association call, peak memory, counts.

Both peers are built for seismic waves (PyOcto's octree compares node widths with time widths
times a fixed 5 km/s), so the acoustic problem is handed to them in *seismic units*: every
distance is multiplied by `SEISMIC_KMS / sound speed`, which makes the sound speed 6 "km/s"
and leaves every travel time unchanged. Their documented, seismic-scale parameters then mean
what their authors intended; outputs are scaled back before writing.
"""

from __future__ import annotations

import json
import math
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyproj import Transformer

SEISMIC_KMS = 6.0


def _load(root: Path) -> tuple[pd.DataFrame, pd.DataFrame, Transformer, float]:
    """Stations (x, y in seismic units), detections (t: epoch s), the projection, the scale."""
    stations = pd.read_csv(root / "stations.csv", dtype={"station_id": str})
    det = pd.read_csv(root / "detections.csv", dtype={"detection_id": str, "station_id": str})
    lon0, lat0 = float(stations.lon.mean()), float(stations.lat.mean())
    proj = Transformer.from_crs(
        "EPSG:4326", f"+proj=sterea +lat_0={lat0} +lon_0={lon0} +units=km +ellps=WGS84", always_xy=True
    )
    meta = json.loads((root / "truth" / "meta.json").read_text())
    speed_kms = 0.3313 * math.sqrt(1 + meta["scenario"]["atmosphere"]["temperature_c"] / 273.15)
    x, y = proj.transform(stations.lon.to_numpy(), stations.lat.to_numpy())
    scale = SEISMIC_KMS / speed_kms
    stations["x"], stations["y"] = x * scale, y * scale
    when = pd.to_datetime(det.time, utc=True, format="ISO8601")
    det["t"] = (when - pd.Timestamp(0, tz="UTC")).dt.total_seconds()  # resolution-independent
    return stations, det, proj, scale


def _write(
    out: Path, proj: Transformer, scale: float, ev: pd.DataFrame, assign: pd.DataFrame, det: pd.DataFrame
) -> None:
    """`ev`: columns idx, t (epoch s), x, y (seismic units), n; `assign`: pick (row in det), idx."""
    out.mkdir(parents=True, exist_ok=True)
    lon, lat = proj.transform(ev.x.to_numpy() / scale, ev.y.to_numpy() / scale, direction="INVERSE")
    times = pd.to_datetime(ev.t.to_numpy() * 1e9, utc=True).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ids = [f"peer-{int(i):07d}" for i in ev.idx]
    pd.DataFrame(
        {
            "event_id": ids,
            "time": times,
            "lon": np.round(lon, 6),
            "lat": np.round(lat, 6),
            "n_detections": ev.n,
        }
    ).to_csv(out / "events.csv", index=False)
    names = dict(zip(ev.idx.astype(int), ids, strict=True))
    pd.DataFrame(
        {
            "detection_id": det.detection_id.to_numpy()[assign.pick.to_numpy(dtype=int)],
            "event_id": [names[int(i)] for i in assign.idx],
        }
    ).to_csv(out / "assignments.csv", index=False)


def run_pyocto(root: Path, out: Path, params: dict[str, Any]) -> dict[str, Any]:
    import pyocto

    stations, det, proj, scale = _load(root)
    speed = SEISMIC_KMS
    p = dict(params)
    cutoff = p.pop("association_cutoff_km", 400.0)
    model = pyocto.VelocityModel0D(
        p_velocity=speed,
        s_velocity=speed / 1.73,
        tolerance=p.pop("tolerance_s"),
        association_cutoff_distance=cutoff,
    )
    margin = cutoff
    assoc = pyocto.OctoAssociator(
        xlim=(stations.x.min() - margin, stations.x.max() + margin),
        ylim=(stations.y.min() - margin, stations.y.max() + margin),
        zlim=(0.0, 1.0),
        velocity_model=model,
        time_before=p.pop("time_before_s", cutoff / speed),
        n_p_picks=p["n_picks"],
        n_s_picks=0,
        n_p_and_s_picks=0,
        **p,
    )
    st = pd.DataFrame({"id": stations.station_id, "x": stations.x, "y": stations.y, "z": 0.0})
    picks = pd.DataFrame({"station": det.station_id, "time": det.t, "phase": "P"})
    t0 = time.perf_counter()
    events, assignments = assoc.associate(picks, st)
    wall = time.perf_counter() - t0
    if len(events):
        ev = pd.DataFrame(
            {"idx": events.idx, "t": events.time, "x": events.x, "y": events.y, "n": events.picks}
        )
        asg = pd.DataFrame({"pick": assignments.pick_idx, "idx": assignments.event_idx})
    else:
        ev = pd.DataFrame({"idx": [], "t": [], "x": [], "y": [], "n": []})
        asg = pd.DataFrame({"pick": [], "idx": []})
    _write(out, proj, scale, ev, asg, det)
    return {"wall_s": wall, "events": len(ev), "detections": len(det)}


def run_gamma(root: Path, out: Path, params: dict[str, Any]) -> dict[str, Any]:
    from gamma.utils import association

    stations, det, proj, scale = _load(root)
    speed = SEISMIC_KMS
    params = dict(params)
    margin = params.pop("margin_km", 100.0)
    x0, x1 = stations.x.min() - margin, stations.x.max() + margin
    y0, y1 = stations.y.min() - margin, stations.y.max() + margin
    config: dict[str, Any] = {
        "dims": ["x(km)", "y(km)", "z(km)"],
        "use_dbscan": True,
        "use_amplitude": False,
        "x(km)": (x0, x1),
        "y(km)": (y0, y1),
        "z(km)": (0.0, 1.0),
        "vel": {"p": speed, "s": speed / 1.73},
        "method": "BGMM",
        "oversample_factor": 4,
        "bfgs_bounds": ((x0, x1), (y0, y1), (0.0, 1.0), (None, None)),
        "dbscan_min_samples": 3,
        "min_p_picks_per_eq": 0,
        "min_s_picks_per_eq": 0,
        "max_sigma22": 1.0,
        "max_sigma12": 1.0,
        "ncpu": 2,
    }
    config.update(params)
    st = pd.DataFrame({"id": stations.station_id, "x(km)": stations.x, "y(km)": stations.y, "z(km)": 0.0})
    picks = pd.DataFrame(
        {
            "id": det.station_id,
            "timestamp": pd.to_datetime(det.t.to_numpy() * 1e9, utc=True),
            "type": "p",
            "prob": 1.0,
            "amp": 1.0,
        }
    )
    t0 = time.perf_counter()
    events, assignments = association(picks, st, config, method=config["method"])
    wall = time.perf_counter() - t0
    ev_rows = [
        {
            "idx": e["event_index"],
            "t": pd.Timestamp(e["time"], tz="UTC").value / 1e9,
            "x": e["x(km)"],
            "y": e["y(km)"],
            "n": e["num_picks"],
        }
        for e in events
    ]
    ev = pd.DataFrame(ev_rows, columns=["idx", "t", "x", "y", "n"])
    asg = pd.DataFrame([(a[0], a[1]) for a in assignments], columns=["pick", "idx"])
    _write(out, proj, scale, ev, asg, det)
    return {"wall_s": wall, "events": len(ev), "detections": len(det)}


def main() -> None:
    peer, root, out, params = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), json.loads(sys.argv[4])
    result = (run_pyocto if peer == "pyocto" else run_gamma)(root, out, params)
    # VmHWM, not ru_maxrss: a child forked from a big bench process inherits its parent's maxrss
    hwm = next(ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("VmHWM"))
    result["peak_rss_mb"] = int(hwm.split()[1]) / 1024
    result["peak_children_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print("\n" + json.dumps(result))  # on its own line: GaMMA prints progress dots without one


if __name__ == "__main__":
    main()
