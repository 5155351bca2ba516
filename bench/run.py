"""`make bench`: every benchmark in one run, on this machine, with the date and the machine.

Prints a JSON document with the figures; `docs/benchmarks.md` records them by hand with the
date, so a regression is a diff. Run on an otherwise idle machine (2 cores: nothing else heavy).
"""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import bench_access, bench_associate, bench_geo, bench_intake, bench_log, bench_sim, bench_verify


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main() -> None:
    results: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine()}
    results["geo"] = bench_geo.run()
    results["intake"] = bench_intake.run()
    results["transparency_log"] = bench_log.run()
    results["access_timing"] = bench_access.run()
    results["simulator"] = bench_sim.run()
    results["acoustic_association"] = bench_associate.run()
    results["verification_pipeline"] = bench_verify.run()
    out = orjson.dumps(results, option=orjson.OPT_INDENT_2)
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/latest.json").write_bytes(out)
    print(out.decode())


if __name__ == "__main__":
    main()
