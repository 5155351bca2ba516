"""Acoustic association: wall time, detections per second, peak memory and quality on
simulated inputs (the flare-up day and the armed-attack day).

Each run is a fresh process: it reads the simulator's `stations.csv` and `detections.csv`,
warms the compiled kernels on a tiny input (their cache load is not the engine's speed), then
associates and locates; `garant eval --level blast` scores the events. Peers (PyOcto, GaMMA)
are not in this run yet: see docs/acoustic-association.md.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

INPUTS = (("flare-up", 3), ("armed-attack-day", 1))

_SIM = r"""
import sys
from pathlib import Path
from garant.sim.run import run_scenario
from garant.sim.scenario import load_scenario
sc, path = load_scenario(sys.argv[1], int(sys.argv[3]))
run_scenario(sc, Path(sys.argv[2]), scenario_file=path)
"""

_ASSOC = r"""
import math, resource, sys, time, orjson
from pathlib import Path
import numpy as np
from garant.verify.acoustic import AssociationParams, Network, associate
from garant.verify.files import read_detections, read_stations, write_events
root = Path(sys.argv[1])
meta = orjson.loads((root / "truth" / "meta.json").read_bytes())
speed = 331.3 * math.sqrt(1 + meta["scenario"]["atmosphere"]["temperature_c"] / 273.15)
ac = meta["scenario"]["acoustic"]
sigma = math.hypot(ac["timing_sigma_s"], ac["bias_sigma_s"])
params = AssociationParams(speed_ms=speed, timing_sigma_s=sigma)
t0 = time.perf_counter()
st = read_stations(root / "stations.csv")
det = read_detections(root / "detections.csv", st)
read_s = time.perf_counter() - t0
net = Network.from_lonlat(st.lon, st.lat)
associate(net, det.station[:50], det.time_s[:50], det.azimuth_deg[:50], params)  # warm the kernels
t0 = time.perf_counter()
events = associate(net, det.station, det.time_s, det.azimuth_deg, params)
engine_s = time.perf_counter() - t0
write_events(root / "assoc", events, det)
print(orjson.dumps({"read_s": read_s, "engine_s": engine_s, "events": len(events), "detections": len(det.ids),
                    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}).decode())
"""


def _run(code: str, *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def run() -> dict[str, Any]:
    from garant.evaluation.score import EvalOptions, evaluate

    results: dict[str, Any] = {}
    for name, seed in INPUTS:
        with tempfile.TemporaryDirectory(prefix="garant-bench-assoc-") as tmp:
            root = Path(tmp)
            _run(_SIM, name, tmp, str(seed))
            r = orjson.loads(_run(_ASSOC, tmp))
            q = evaluate(root, root / "assoc" / "events.csv", None, EvalOptions("blast"))
            row = {
                "detections": r["detections"],
                "engine_s": round(r["engine_s"], 2),
                "read_s": round(r["read_s"], 2),
                "detections_per_s": round(r["detections"] / r["engine_s"]),
                "peak_rss_mb": round(r["peak_rss_mb"]),
                "events": r["events"],
                "true_scored": q["true_events_scored"],
                "precision": round(q["precision"], 3),
                "recall": round(q["recall"], 3),
                "f1": round(q["f1"], 3),
                "median_error_m": round(q["location_error"]["median_m"], 1),
                "median_error_over_crb": round(q["cramer_rao"]["median_error_over_bound"], 2),
                "ellipse_95_coverage": round(q["ellipse_95"]["coverage"], 3),
            }
            results[f"{name} (seed {seed})"] = row
            print(f"associate {name}: {row}", file=sys.stderr)
    return results


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    print(orjson.dumps(run(), option=orjson.OPT_INDENT_2).decode())
