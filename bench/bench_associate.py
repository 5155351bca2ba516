"""Acoustic association: Garant's engine against PyOcto and GaMMA, on the same inputs.

Three sizes of the armed-attack day along the whole line (same stations, same detections for
every engine): small (the first 4 minutes, ~250 blasts), medium (the first 90 minutes, ~5,000
blasts and ~50,000 detections) and large (the whole day, ~880,000 detections). Each engine
runs in a fresh process: Garant after warming its compiled kernels on a tiny input, the peers
in their own venv (`.venv-peers`, see `bench/peers.py`) with a limit of `PEER_LIMIT_S` each;
a run over the limit is reported as such. `garant eval --level blast` scores every output.
The peers' parameters (`PYOCTO`, `GAMMA`) are the best of a sweep on a separate input (the
first 2 minutes), documented in docs/acoustic-association.md. `GARANT_BENCH_PEER_LIMIT_S`
changes the peers' limit and `GARANT_BENCH_PEERS` (e.g. `pyocto`) chooses which run, so that
PyOcto can be given the time it needs on the medium input without waiting for GaMMA.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
PEER_LIMIT_S = int(os.environ.get("GARANT_BENCH_PEER_LIMIT_S", "600"))
PEERS = tuple(os.environ.get("GARANT_BENCH_PEERS", "pyocto,gamma").split(","))
SCENARIO, SEED = "armed-attack-day", 1
Input = tuple[str, str, int, float, dict[str, float]]  # name, scenario, seed, hours, acoustic overrides
SIZES: tuple[Input, ...] = (
    ("small", SCENARIO, SEED, 0.07, {}),
    ("medium", SCENARIO, SEED, 1.5, {}),
    ("large", SCENARIO, SEED, 24.0, {}),
)
# By regime (the sizes above are barrages): a quiet day's isolated shots, without false
# detections and with 20% of them false (the rate that makes 20% on this day), and the flare-up.
REGIMES: tuple[Input, ...] = (
    ("isolated shots", "quiet-day", 1, 24.0, {"false_per_sensor_hour": 0.0}),
    ("isolated shots, 20% false", "quiet-day", 1, 24.0, {"false_per_sensor_hour": 0.0245}),
    ("flare-up", "flare-up", 3, 24.0, {}),
)

# Seismic units (see bench/peers.py): distances x 17.8, so 2.5 units = 140 m, 0.5 = 28 m.
PYOCTO: dict[str, Any] = {
    "tolerance_s": 0.1,
    "pick_match_tolerance": 0.1,
    "min_node_size": 2.5,
    "min_node_size_location": 0.5,
    "location_split_depth": 10,
    "location_split_return": 7,
    "min_interevent_time": 0.001,
    "n_picks": 6,
    "min_pick_fraction": 0,
    "time_slicing": 300,
    "n_threads": 2,
}
GAMMA: dict[str, Any] = {
    "dbscan_eps": 24.0,
    "min_picks_per_eq": 5,
    "max_sigma11": 0.3,
    "oversample_factor": 4,
    "covariance_prior": [0.05],
}

_SIM = r"""
import sys
from pathlib import Path
from garant.sim.run import run_scenario
from garant.sim.scenario import load_scenario
import orjson
sc, path = load_scenario(sys.argv[1], int(sys.argv[3]))
acoustic = sc.acoustic.model_copy(update=orjson.loads(sys.argv[5]))
sc = sc.model_copy(update={"hours": float(sys.argv[4]), "acoustic": acoustic})
run_scenario(sc, Path(sys.argv[2]), scenario_file=path)
"""

_ASSOC = r"""
import math, sys, time, orjson
from pathlib import Path
def peak_mb():  # VmHWM is reset at exec; ru_maxrss starts at the forking parent's size
    hwm = next(ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("VmHWM"))
    return int(hwm.split()[1]) / 1024
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
                    "peak_rss_mb": peak_mb()}).decode())
"""


def _run(code: str, *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def _quality(root: Path, events: Path) -> dict[str, Any]:
    from garant.evaluation.score import EvalOptions, evaluate

    q = evaluate(root, events, None, EvalOptions("blast"))
    median, ratio, cover = q["location_error"]["median_m"], q["cramer_rao"], q["ellipse_95"]["coverage"]
    return {
        "true_scored": q["true_events_scored"],
        "precision": round(q["precision"], 3),
        "recall": round(q["recall"], 3),
        "f1": round(q["f1"], 3),
        "median_error_m": None if median is None else round(median, 1),
        "median_error_over_crb": None
        if ratio.get("median_error_over_bound") is None
        else round(ratio["median_error_over_bound"], 2),
        "ellipse_95_coverage": None if cover is None else round(cover, 3),
    }


def _garant(root: Path) -> dict[str, Any]:
    r = orjson.loads(_run(_ASSOC, str(root)))
    return {
        "engine_s": round(r["engine_s"], 2),
        "detections_per_s": round(r["detections"] / r["engine_s"]),
        "peak_rss_mb": round(r["peak_rss_mb"]),
        "events": r["events"],
        **_quality(root, root / "assoc" / "events.csv"),
    }


def _peer(name: str, root: Path, params: dict[str, Any], detections: int) -> dict[str, Any]:
    out = root / name
    try:
        done = subprocess.run(
            [
                str(PEERS_PYTHON),
                str(ROOT / "bench" / "peers.py"),
                name,
                str(root),
                str(out),
                json.dumps(params),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=PEER_LIMIT_S,
        )
    except subprocess.TimeoutExpired:
        return {"status": f"did not finish in {PEER_LIMIT_S} s"}
    except subprocess.CalledProcessError as exc:
        return {"status": f"failed: {exc.stderr.strip().splitlines()[-1] if exc.stderr.strip() else exc}"}
    r = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "engine_s": round(r["wall_s"], 2),
        "detections_per_s": round(detections / r["wall_s"]),
        "peak_rss_mb": round(max(r["peak_rss_mb"], r["peak_children_rss_mb"])),
        "events": r["events"],
        **_quality(root, out / "events.csv"),
    }


def run(
    inputs: tuple[tuple[str, str, int, float, dict[str, float]], ...] = SIZES + REGIMES,
) -> dict[str, Any]:
    results: dict[str, Any] = {"peers_available": PEERS_PYTHON.exists(), "pyocto": PYOCTO, "gamma": GAMMA}
    gamma_gave_up = 0  # the fewest detections GaMMA could not finish: larger inputs are left out
    for size, scenario, seed, hours, acoustic in inputs:
        with tempfile.TemporaryDirectory(prefix="garant-bench-assoc-") as tmp:
            root = Path(tmp)
            _run(_SIM, scenario, tmp, str(seed), str(hours), json.dumps(acoustic))
            with (root / "detections.csv").open() as fh:
                detections = sum(1 for _ in fh) - 1
            with (root / "truth" / "detections.csv").open() as fh:
                false = detections - (sum(1 for _ in fh) - 1)
            row: dict[str, Any] = {
                "input": f"{scenario} seed {seed}, {hours:g} h, acoustic {acoustic or 'as in the scenario'}",
                "detections": detections,
                "false_fraction": round(false / detections, 3),
                "garant": _garant(root),
            }
            print(f"associate {size}: garant {row['garant']}", file=sys.stderr)
            if PEERS_PYTHON.exists() and "pyocto" in PEERS:
                row["pyocto"] = _peer("pyocto", root, PYOCTO, detections)
                print(f"associate {size}: pyocto {row['pyocto']}", file=sys.stderr)
            if PEERS_PYTHON.exists() and "gamma" in PEERS:
                if gamma_gave_up and detections > gamma_gave_up:
                    row["gamma"] = {"status": f"left out: did not finish {gamma_gave_up:,} detections"}
                else:
                    row["gamma"] = _peer("gamma", root, GAMMA, detections)
                    if "did not finish" in row["gamma"].get("status", ""):
                        gamma_gave_up = min(gamma_gave_up or detections, detections)
                print(f"associate {size}: gamma {row['gamma']}", file=sys.stderr)
            for peer in PEERS:
                if "f1" in row.get(peer, {}):
                    g, o = row["garant"], row[peer]
                    row[f"vs_{peer}"] = {
                        "throughput_ratio": round(g["detections_per_s"] / o["detections_per_s"], 1),
                        "f1_difference": round(g["f1"] - o["f1"], 3),
                    }
            results[size] = row
    return results


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    everything = SIZES + REGIMES
    chosen = tuple(s for s in everything if s[0] in sys.argv[1:]) or everything
    print(orjson.dumps(run(chosen), option=orjson.OPT_INDENT_2).decode())
