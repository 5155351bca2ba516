"""Verification pipeline: the automatic bulletin built from an empty one, per regime.

For each shipped scenario a fresh process reads the simulator's files, locates the blasts with
the acoustic engine (in memory), runs the pipeline (fuse, attribute, classify, grade) and writes
the bulletin; it reports the time of each step and its peak memory (VmHWM: a fresh process's own
high-water mark). `garant eval` then scores the bulletin at the incident level. The acoustic
engine runs with the scenario's mean sound speed, as the server does with its configured one.

Arrivals that no located blast explains go to the pipeline too, for bursts of fire. The
incremental figure goes through the store as the server does: the flare-up but its last
1,000 observations ingested into SQLite and both bulletins built, then those 1,000 ingested and
the time of bringing both bulletins up to date measured.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from garant.evaluation.score import EvalOptions, evaluate

REGIMES = (("quiet-day", 2), ("flare-up", 3), ("armed-attack-day", 1))
INCREMENT = 1_000
SERVER_REGIMES = ("flare-up", "armed-attack-day")  # also built through the store, as the server does

_CHILD = r"""
import sys, time, orjson
from pathlib import Path
from garant.services.agreements import read_agreement
from garant.verify.acoustic import AssociationParams, Network, associate
from garant.verify.bulletin_files import write_bulletin
from garant.verify.bursts import BurstParams
from garant.verify.evidence import AcousticEvents
from garant.verify.files import detections_by_id, read_detections, read_stations
from garant.verify.pipeline import run_pipeline

def peak_mb():
    hwm = next(ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("VmHWM"))
    return int(hwm.split()[1]) / 1024

root = Path(sys.argv[1])
meta = orjson.loads((root / "truth" / "meta.json").read_bytes())
speed = 331.3 * (1 + meta["scenario"]["atmosphere"]["temperature_c"] / 273.15) ** 0.5
ac = meta["scenario"]["acoustic"]
sigma = (ac["timing_sigma_s"] ** 2 + ac["bias_sigma_s"] ** 2) ** 0.5
t0 = time.perf_counter()
st = read_stations(root / "stations.csv")
det = read_detections(root / "detections.csv", st)
ev = associate(Network.from_lonlat(st.lon, st.lat), det.station, det.time_s, det.azimuth_deg,
               AssociationParams(speed_ms=speed, timing_sigma_s=sigma))
ids = [f"ab-{k}" for k in range(len(ev))]
members = {}
for i, e in enumerate(ev.assignment.tolist()):
    if e >= 0:
        members.setdefault(ids[e], []).append(det.ids[i])
blasts = AcousticEvents(ids, ev.time, ev.lon, ev.lat, ev.semi_major_m, ev.semi_minor_m, ev.azimuth_deg,
                        ev.n_detections, members)
t1 = time.perf_counter()
rows, loose = [], []
explained = set(det.ids[i] for i in (ev.assignment >= 0).nonzero()[0].tolist())
with (root / "observations.jsonl").open("rb") as fh:
    for line in fh:
        o = orjson.loads(line)
        if o["kind"] != "acoustic_detection":
            rows.append(o)
        elif o["client_id"] not in explained:
            loose.append(o)
agreement = read_agreement("demo")
events = run_pipeline(rows, blasts, agreement, loose_detections=loose,
                      detections_of=detections_by_id(root / "observations.jsonl"),
                      bursts=BurstParams(speed_ms=speed, timing_sigma_s=sigma))
write_bulletin(root / "bulletin", events, tuple(p.code for p in agreement.parties))
t2 = time.perf_counter()
print(orjson.dumps({"detections": len(det.ids), "blasts": len(ev), "reports": len(rows),
                    "events": len(events), "violations": sum(len(e.breaches) for e in events),
                    "acoustic_s": t1 - t0, "pipeline_s": t2 - t1, "total_s": t2 - t0,
                    "peak_rss_mb": peak_mb()}).decode())
"""

_SIM = r"""
import sys
from pathlib import Path
from garant.sim.run import run_scenario
from garant.sim.scenario import load_scenario
sc, path = load_scenario(sys.argv[1], int(sys.argv[3]))
run_scenario(sc, Path(sys.argv[2]), scenario_file=path)
"""


_INCREMENTAL = r"""
import sys, time, orjson
from pathlib import Path
from garant.services.agreements import load_agreement_file
from garant.services.bulk import ingest_file
from garant.services.bulletin import update_acoustic
from garant.services.demo import demo_files
from garant.services.verification import update_verification
from garant.store.db import migrate, open_database
from garant.verify.acoustic import AssociationParams
from garant.verify.bursts import BurstParams

root, n = Path(sys.argv[1]), int(sys.argv[2])
meta = orjson.loads((root / "truth" / "meta.json").read_bytes())
speed = 331.3 * (1 + meta["scenario"]["atmosphere"]["temperature_c"] / 273.15) ** 0.5
ac = meta["scenario"]["acoustic"]
sigma = (ac["timing_sigma_s"] ** 2 + ac["bias_sigma_s"] ** 2) ** 0.5
params = AssociationParams(speed_ms=speed, timing_sigma_s=sigma)
bursts = BurstParams(speed_ms=speed, timing_sigma_s=sigma)
lines = (root / "observations.jsonl").read_bytes().splitlines(keepends=True)
(root / "head.jsonl").write_bytes(b"".join(lines[:-n]))
(root / "tail.jsonl").write_bytes(b"".join(lines[-n:]))
db = open_database(f"sqlite:///{root / 'g.db'}")
migrate(db)
load_agreement_file(db, demo_files()[0])
ingest_file(db, root / "head.jsonl", "jsonl")
t0 = time.perf_counter()
update_acoustic(db, params)
update_verification(db, bursts=bursts)
t1 = time.perf_counter()
ingest_file(db, root / "tail.jsonl", "jsonl")
t2 = time.perf_counter()
a = update_acoustic(db, params)
f = update_verification(db, bursts=bursts)
t3 = time.perf_counter()
print(orjson.dumps({"stored_observations": len(lines) - n, "new_observations": n,
                    "bulletin_from_store_s": t1 - t0, "update_s": t3 - t2,
                    "acoustic_events_new_or_revised": a.events_created + a.events_updated,
                    "fused_events_new_or_revised": f.events_created + f.events_updated}).decode())
"""


_INGEST = r"""
import sys, time, orjson
from pathlib import Path
from garant.services.agreements import load_agreement_file
from garant.services.bulk import ingest_file
from garant.services.demo import demo_files
from garant.store.db import migrate, open_database

root = Path(sys.argv[1])
db = open_database(f"sqlite:///{root / 'server.db'}")
migrate(db)
load_agreement_file(db, demo_files()[0])
t0 = time.perf_counter()
ingest_file(db, root / "observations.jsonl", "jsonl")
print(orjson.dumps({"ingest_s": time.perf_counter() - t0}).decode())
"""

# the server's path: both bulletins built from empty out of the store, as `garant pipeline run`
# does after an offline load, then exported (`garant pipeline export`) for `garant eval`
_SERVER = r"""
import sys, time, orjson
from pathlib import Path
from garant.domain.access import SYSTEM
from garant.services.bulletin import update_acoustic
from garant.services.bulletin_export import export_bulletin
from garant.services.verification import update_verification
from garant.store.db import open_database
from garant.verify.acoustic import AssociationParams
from garant.verify.bursts import BurstParams

root = Path(sys.argv[1])
meta = orjson.loads((root / "truth" / "meta.json").read_bytes())
speed = 331.3 * (1 + meta["scenario"]["atmosphere"]["temperature_c"] / 273.15) ** 0.5
ac = meta["scenario"]["acoustic"]
sigma = (ac["timing_sigma_s"] ** 2 + ac["bias_sigma_s"] ** 2) ** 0.5
db = open_database(f"sqlite:///{root / 'server.db'}")
t0 = time.perf_counter()
update_acoustic(db, AssociationParams(speed_ms=speed, timing_sigma_s=sigma))
t1 = time.perf_counter()
update_verification(db, bursts=BurstParams(speed_ms=speed, timing_sigma_s=sigma))
t2 = time.perf_counter()
hwm = next(ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("VmHWM"))
export_bulletin(db, root / "server", SYSTEM, client_ids=True)
print(orjson.dumps({"acoustic_s": t1 - t0, "verified_s": t2 - t1, "total_s": t2 - t0,
                    "peak_rss_mb": int(hwm.split()[1]) / 1024}).decode())
"""


def _child(code: str, *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def _r(v: Any) -> Any:
    return round(v, 3) if isinstance(v, float) else v


def run() -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, seed in REGIMES:
        with tempfile.TemporaryDirectory(prefix="garant-bench-verify-") as tmp:
            _child(_SIM, name, tmp, str(seed))
            row = {k: _r(v) for k, v in orjson.loads(_child(_CHILD, tmp)).items()}
            root = Path(tmp)
            row["quality"] = _quality(root, root / "bulletin")
            results[f"{name} (seed {seed})"] = row
            print(f"verify {name}: {row}", file=sys.stderr)
            if name == "flare-up":
                inc = {k: _r(v) for k, v in orjson.loads(_child(_INCREMENTAL, tmp, str(INCREMENT))).items()}
                results["incremental update (flare-up, last 1,000 observations)"] = inc
                print(f"verify incremental: {inc}", file=sys.stderr)
            if name in SERVER_REGIMES:
                srv = {k: _r(v) for k, v in orjson.loads(_child(_INGEST, tmp)).items()}
                srv |= {k: _r(v) for k, v in orjson.loads(_child(_SERVER, tmp)).items()}
                srv["quality"] = _quality(root, root / "server")
                results[f"{name} (seed {seed}) through the store, from empty"] = srv
                print(f"verify {name} through the store: {srv}", file=sys.stderr)
    return results


def _quality(root: Path, bulletin: Path) -> dict[str, Any]:
    """`garant eval --level incident` of a bulletin's files, the figures the issue sets targets for."""
    rep = evaluate(root, bulletin / "events.csv", bulletin / "assignments.csv", EvalOptions())
    att = rep["attribution"]
    leads = rep["classification"]["excluding_leads"]
    return {
        "scored": rep["true_events_scored"],
        "precision": _r(rep["precision"]),
        "recall": _r(rep["recall"]),
        "f1": _r(rep["f1"]),
        "location_median_m": _r(rep["location_error"]["median_m"]),
        "ellipse_95_coverage": _r(rep["ellipse_95"]["coverage"]),
        "attribution_accuracy_ge_2km": _r(att.get("accuracy_origin_ge_2km")),
        "n_ge_2km": att.get("n_origin_ge_2km"),
        "brier": _r(att.get("brier")),
        "false_allegations_blamed": rep["false_allegations"].get("blamed"),
        "false_allegations": rep["false_allegations"]["false_total"],
        "f1_by_provision": {p: _r(v["f1"]) for p, v in rep["classification"]["by_provision"].items()},
        "f1_by_provision_excluding_leads": {p: _r(v["f1"]) for p, v in leads["by_provision"].items()},
        "incidents_revealed_by_allegations_alone": leads["incidents_excluded"],
        # forecast bins of "this party fired": events, mean forecast, share that did (docs/simulation.md)
        "reliability": [
            [b["bin"], b["n"], _r(b["mean_forecast"]), _r(b["observed"])] for b in att.get("reliability", [])
        ],
    }


if __name__ == "__main__":
    print(orjson.dumps(run(), option=orjson.OPT_INDENT_2).decode())
