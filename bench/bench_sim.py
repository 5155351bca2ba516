"""Simulator: events and detections generated per second, and peak memory, per shipped scenario.

Each scenario runs in a fresh process (`garant sim`'s own function) so its peak resident memory
is its own; the armed-attack day is the one the issue sizes (about 50,000 rounds and a million
acoustic detections along the whole demo line). Then `garant eval` scores the truth against
itself at the blast level (the heaviest scoring: a million detections read for the bound).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from typing import Any

import orjson

SCENARIOS = ("quiet-day", "flare-up", "armed-attack-day")

_CHILD = r"""
import resource, sys, time, orjson
from pathlib import Path
from garant.sim.run import run_scenario
from garant.sim.scenario import load_scenario
sc, path = load_scenario(sys.argv[1], int(sys.argv[3]))
s = run_scenario(sc, Path(sys.argv[2]), scenario_file=path)
size = sum(p.stat().st_size for p in Path(sys.argv[2]).rglob("*") if p.is_file())
row = {"seconds": s.seconds, "peak_rss_mb": s.peak_rss_mb, "bytes": size, **s.as_dict()}
print(orjson.dumps(row).decode())
"""

_EVAL = r"""
import resource, sys, time, orjson
from pathlib import Path
from garant.evaluation.score import EvalOptions, evaluate
root = Path(sys.argv[1])
t0 = time.perf_counter()
r = evaluate(root, root / "truth" / "blasts.csv", None, EvalOptions("blast"))
print(orjson.dumps({"seconds": time.perf_counter() - t0, "f1": r["f1"], "scored": r["true_events_scored"],
                    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}).decode())
"""


def _child(code: str, *args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    return orjson.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run(seed: int = 1) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in SCENARIOS:
        with tempfile.TemporaryDirectory(prefix="garant-bench-sim-") as tmp:
            r = _child(_CHILD, name, tmp, str(seed))
            secs = r["seconds"]
            n_obs = sum(r["observations"].values())
            det = r["observations"].get("acoustic_detection", 0)
            row = {
                "seconds": round(secs, 2),
                "peak_rss_mb": round(r["peak_rss_mb"]),
                "output_mb": round(r["bytes"] / 1e6, 1),
                "incidents": sum(r["incidents"].values()),
                "rounds": r["rounds"],
                "blasts": r["blasts"],
                "acoustic_detections": det,
                "observations": n_obs,
                "rounds_per_s": round(r["rounds"] / secs),
                "detections_per_s": round(det / secs),
                "observations_per_s": round(n_obs / secs),
                "sensors": r["sensors"],
            }
            if name == "armed-attack-day":
                e = _child(_EVAL, tmp)
                row["eval_blast_level"] = {
                    k: (round(v, 3) if isinstance(v, float) else v) for k, v in e.items()
                }
            results[name] = row
            print(f"sim {name}: {row}", file=sys.stderr)
    return results


if __name__ == "__main__":
    print(orjson.dumps(run(), option=orjson.OPT_INDENT_2).decode())
