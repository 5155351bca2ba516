"""Verification quality over many simulated seeds: per seed and pooled, per provision.

One seed's F1 for a provision rests on a few dozen incidents (the flare-up has about 65 of P6),
so it moves by about ±0.025 from seed to seed by chance alone; the pooled counts (true
positives, false positives and misses added over seeds before F1 is taken) are the estimate to
hold against a target. Each seed is simulated, located and verified exactly as
`bench_verify.py` does (its `_SIM` and `_CHILD`, fresh processes), and scored by
`garant eval --level incident`, with and without the incidents that allegations alone reveal.

    .venv/bin/python -m bench.seeds_verify --regime flare-up --seeds 17-24
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from bench.bench_verify import _CHILD, _SIM, _child
from garant.evaluation.score import EvalOptions, evaluate


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def _f1(c: Counter[str]) -> float | None:
    d = 2 * c["tp"] + c["fp"] + c["fn"]
    return round(2 * c["tp"] / d, 4) if d else None


def sweep(regime: str, seeds: list[int]) -> dict[str, Any]:
    pooled: dict[str, dict[str, Counter[str]]] = {"all": {}, "excluding_leads": {}}
    per_seed: dict[int, dict[str, Any]] = {}  # per provision: true positives, false, missed, F1
    reliability: dict[str, Counter[str]] = {}  # forecast bin -> events, summed forecast, summed outcome
    for seed in seeds:
        with tempfile.TemporaryDirectory(prefix="garant-seeds-") as tmp:
            _child(_SIM, regime, tmp, str(seed))
            _child(_CHILD, tmp)
            root = Path(tmp)
            rep = evaluate(
                root, root / "bulletin" / "events.csv", root / "bulletin" / "assignments.csv", EvalOptions()
            )
        cl = rep["classification"]
        row: dict[str, Any] = {"f1": round(rep["f1"], 4)}
        for name, block in (("all", cl), ("excluding_leads", cl["excluding_leads"])):
            for p, v in block["by_provision"].items():
                pooled[name].setdefault(p, Counter()).update({k: v[k] for k in ("tp", "fp", "fn")})
            row[name] = {
                p: [v["tp"], v["fp"], v["fn"], round(v["f1"], 4)] for p, v in block["by_provision"].items()
            }
        att = rep["attribution"]
        for b in att.get("reliability", []):
            cell = reliability.setdefault(b["bin"], Counter())
            cell.update({"n": b["n"]})
            cell["forecast"] += b["mean_forecast"] * b["n"]
            cell["observed"] += b["observed"] * b["n"]
        row["attribution_ge_2km"] = att.get("accuracy_origin_ge_2km")
        row["brier"] = att.get("brier")
        row["false_allegations_blamed"] = rep["false_allegations"].get("blamed")
        per_seed[seed] = row
        print(f"{regime} seed {seed}: {orjson.dumps(row).decode()}", file=sys.stderr)
    return {
        "regime": regime,
        "seeds": seeds,
        "pooled": {
            name: {p: {**dict(c), "f1": _f1(c)} for p, c in sorted(counts.items())}
            for name, counts in pooled.items()
        },
        # "this party fired" forecasts of all seeds, binned: the share that did should match the mean
        "reliability": [
            {
                "bin": b,
                "n": c["n"],
                "mean_forecast": round(c["forecast"] / c["n"], 3),
                "observed": round(c["observed"] / c["n"], 3),
            }
            for b, c in sorted(reliability.items())
        ],
        "per_seed": per_seed,
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regime", default="flare-up", help="quiet-day, flare-up or armed-attack-day")
    ap.add_argument("--seeds", default="1-8", help="e.g. 1-8 or 1,3,17-24")
    a = ap.parse_args()
    print(
        orjson.dumps(
            sweep(a.regime, _seeds(a.seeds)), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
        ).decode()
    )
