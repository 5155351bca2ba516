"""`garant sim`: run a scenario window by window and stream observations and truth to disk.

Memory stays bounded by one window's events plus what is still pending (arrivals after the
window's end, craters not yet found, weapons still in place): nothing grows with the length of
the run. Every random draw comes from a generator seeded by (seed, window, stream), so the
same seed gives byte-identical files.

Output folder:
- `observations.jsonl`: every observation, in Garant's intake format (`garant ingest` takes it);
  written in time order window by window (a crater's or allegation's stated time can precede
  its window).
- `stations.csv`, `detections.csv`: the acoustic network and its detections, in the format of
  `garant associate`.
- `truth/`: `incidents.csv` and `blasts.csv` (what really happened, in the event format that
  `garant eval` scores), `detections.csv` (detection -> blast), `observations.csv` (other
  observation -> incident), `allegations.csv` (true, blame_flip or fabricated),
  `stations.csv` (each sensor's hidden bias), `meta.json` (scenario, atmosphere, counts).
"""

from __future__ import annotations

import csv
import hashlib
import math
import resource
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from io import TextIOWrapper
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

import garant
from garant.domain.agreement import Agreement
from garant.geo.engine import Geography
from garant.services.agreements import parse_agreement_text
from garant.sim.events import EventGenerator, Window
from garant.sim.network import LinePath
from garant.sim.observe import Network, Observer, build_network
from garant.sim.physics import iso_times
from garant.sim.scenario import Scenario

TRUTH = "truth"


@dataclass
class SimSummary:
    out: Path
    windows: int = 0
    incidents: Counter[str] = field(default_factory=Counter)
    rounds: int = 0
    blasts: int = 0
    observations: Counter[str] = field(default_factory=Counter)
    true_detections: int = 0
    false_detections: int = 0
    sensors: int = 0
    seconds: float = 0.0
    peak_rss_mb: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "windows": self.windows,
            "incidents": dict(sorted(self.incidents.items())),
            "rounds": self.rounds,
            "blasts": self.blasts,
            "observations": dict(sorted(self.observations.items())),
            "true_detections": self.true_detections,
            "false_detections": self.false_detections,
            "sensors": self.sensors,
        }


class OrderedSink:
    """Lines written in time order: each flush writes what is before `until`, sorted."""

    def __init__(self, fh: TextIOWrapper) -> None:
        self._fh = fh
        self._times: list[npt.NDArray[np.float64]] = []
        self._lines: list[list[str]] = []

    def add(self, times: npt.ArrayLike, lines: list[str]) -> None:
        if lines:
            self._times.append(np.asarray(times, dtype=np.float64))
            self._lines.append(lines)

    def flush(self, until: float) -> None:
        if not self._lines:
            return
        times = np.concatenate(self._times)
        lines = [line for chunk in self._lines for line in chunk]
        order = np.argsort(times, kind="stable")
        ready = order[times[order] < until]
        later = order[times[order] >= until]
        if len(ready):
            self._fh.write("\n".join(lines[i] for i in ready))
            self._fh.write("\n")
        self._times = [times[later]] if len(later) else []
        self._lines = [[lines[i] for i in later]] if len(later) else []


def scenario_agreement(scenario: Scenario, scenario_file: Path | None) -> tuple[Agreement, str]:
    """The agreement a scenario runs on, and the SHA-256 of its file."""
    if scenario.agreement == "demo":
        from garant.services.demo import demo_files  # the demo loader imports this module

        path = demo_files()[0]
    else:
        path = Path(scenario.agreement)
        if not path.is_absolute() and scenario_file is not None:
            path = scenario_file.parent / path
    text = path.read_text(encoding="utf-8")
    return parse_agreement_text(text, str(path)), hashlib.sha256(text.encode()).hexdigest()


def run_scenario(
    scenario: Scenario,
    out: Path,
    *,
    scenario_file: Path | None = None,
    on_window: Callable[[int, int], None] | None = None,
) -> SimSummary:
    """Simulate `scenario` into the folder `out` (created; existing files are replaced)."""
    began = time.perf_counter()
    agreement, agreement_sha = scenario_agreement(scenario, scenario_file)
    problems = scenario.check_against(agreement)
    if problems:
        raise ValueError("; ".join(f"{p.path or '(scenario)'}: {p.reason}" for p in problems))
    geo = Geography.from_agreement(agreement)
    path = LinePath(geo)
    network = build_network(scenario, agreement, geo, path)
    generator = EventGenerator(scenario, agreement, geo, path)
    observer = Observer(scenario, agreement, geo, path, network)
    (out / TRUTH).mkdir(parents=True, exist_ok=True)
    summary = SimSummary(out=out, sensors=len(network.sensors))

    start = scenario.start.timestamp()
    end = scenario.end.timestamp()
    step = scenario.window_minutes * 60.0
    n_windows = max(1, math.ceil((end - start) / step - 1e-9))
    with _Files(out) as f:
        _write_network(f, network, scenario)
        for w in range(n_windows):
            w_start, w_end = start + w * step, min(end, start + (w + 1) * step)
            window = generator.window(w, w_start, w_end)
            _write_truth(f, window)
            summary.incidents.update(i.kind for i in window.incidents)
            summary.rounds += len(window.rounds)
            summary.blasts += len(window.blasts)
            rng_ac = np.random.default_rng([scenario.seed, w, 0, 2])
            _emit_acoustic(f, summary, observer.acoustic(window, rng_ac))
            batch = observer.others(window, np.random.default_rng([scenario.seed, w, 0, 3]))
            f.observations.add(batch.times, batch.lines)
            f.obs_truth.writerows(batch.truth)
            summary.observations.update(k for _, _, k in batch.truth)
            f.allegations.writerows(observer.allegation_truth)
            observer.allegation_truth.clear()
            f.observations.flush(w_end)
            summary.windows += 1
            if on_window is not None:
                on_window(w + 1, n_windows)
        _emit_acoustic(f, summary, observer.flush_acoustic())
        f.observations.flush(math.inf)
    summary.seconds = time.perf_counter() - began
    summary.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    meta = {
        "garant_version": garant.__version__,
        "scenario": scenario.model_dump(mode="json"),
        "agreement": {"key": agreement.key, "sha256": agreement_sha, "positive_side": geo.positive_party},
        "line_length_km": round(path.length_m / 1000.0, 3),
        "counts": summary.as_dict(),
    }
    (out / TRUTH / "meta.json").write_bytes(
        orjson.dumps(meta, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    )
    return summary


class _Files:
    """The open output files of one run."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def _csv(self, name: str, header: list[str]) -> Any:
        fh = (self.out / name).open("w", newline="", encoding="utf-8")
        self._open.append(fh)
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        return writer

    def __enter__(self) -> _Files:
        self._open: list[TextIOWrapper] = []
        obs = (self.out / "observations.jsonl").open("w", encoding="utf-8")
        self._open.append(obs)
        self.observations = OrderedSink(obs)
        det = (self.out / "detections.csv").open("w", encoding="utf-8")
        det.write("detection_id,station_id,time,azimuth_deg\n")
        self._open.append(det)
        self.detections = det
        true_det = (self.out / TRUTH / "detections.csv").open("w", encoding="utf-8")
        true_det.write("detection_id,event_id\n")
        self._open.append(true_det)
        self.true_detections = true_det
        self.incidents = self._csv(f"{TRUTH}/incidents.csv", INCIDENT_COLUMNS)
        self.blasts = self._csv(f"{TRUTH}/blasts.csv", BLAST_COLUMNS)
        self.obs_truth = self._csv(f"{TRUTH}/observations.csv", ["observation_id", "event_id", "kind"])
        self.allegations = self._csv(
            f"{TRUTH}/allegations.csv",
            ["observation_id", "truth", "event_id", "alleging_party", "accused_party"],
        )
        return self

    def __exit__(self, *exc: object) -> None:
        for fh in self._open:
            fh.close()


INCIDENT_COLUMNS = [
    "event_id",
    "type",
    "time",
    "end_time",
    "lon",
    "lat",
    "origin_lon",
    "origin_lat",
    "origin_line_distance_m",
    "party",
    "victim",
    "weapon_class",
    "rounds",
    "count",
    "casualties",
    "detail",
    "provisions",
    "status",
    "regime",
    "killed",  # of `casualties`; last, so readers by position keep working
]
BLAST_COLUMNS = ["event_id", "incident_id", "blast_type", "time", "lon", "lat"]


def _write_network(f: _Files, network: Network, scenario: Scenario) -> None:
    s = network.sensors
    with (f.out / "stations.csv").open("w", encoding="utf-8") as fh:
        fh.write("station_id,lon,lat,elevation_m\n")
        fh.writelines(f"{s.ids[i]},{s.lon[i]:.6f},{s.lat[i]:.6f},\n" for i in range(len(s)))
    ac = scenario.acoustic
    with (f.out / TRUTH / "stations.csv").open("w", encoding="utf-8") as fh:
        fh.write("station_id,kind,bias_s,timing_sigma_s,azimuth_sigma_deg\n")
        fh.writelines(
            f"{s.ids[i]},{'array' if network.is_array[i] else 'single'},{network.bias_s[i]:.6f},"
            f"{ac.timing_sigma_s:g},{ac.azimuth_sigma_deg if network.is_array[i] else ''}\n"
            for i in range(len(s))
        )


def _write_truth(f: _Files, window: Window) -> None:
    incs = window.incidents
    if incs:
        times = iso_times(np.array([i.t0 for i in incs]), "ms")
        ends = iso_times(np.array([i.t1 for i in incs]), "ms")
        f.incidents.writerows(
            [
                i.id,
                i.kind,
                times[k],
                ends[k],
                f"{i.lon:.6f}",
                f"{i.lat:.6f}",
                f"{i.origin_lon:.6f}",
                f"{i.origin_lat:.6f}",
                f"{i.origin_line_distance_m:.1f}",
                i.party,
                i.victim,
                i.weapon_class,
                i.rounds,
                i.count,
                i.casualties,
                i.detail,
                ";".join(i.provisions),
                "verified",
                i.regime,
                i.killed,
            ]
            for k, i in enumerate(incs)
        )
    b = window.blasts
    if len(b):
        times = iso_times(b.t, "us")
        f.blasts.writerows(
            [
                b.ids[k],
                incs[int(b.incident[k])].id,
                "launch" if b.is_launch[k] else "impact",
                times[k],
                f"{b.lon[k]:.6f}",
                f"{b.lat[k]:.6f}",
            ]
            for k in range(len(b))
        )


def _emit_acoustic(
    f: _Files, summary: SimSummary, result: tuple[Any, list[str], list[str], list[str]]
) -> None:
    times, lines, csv_lines, truth = result
    if not lines:
        return
    f.observations.add(times, lines)
    f.detections.write("\n".join(csv_lines) + "\n")
    if truth:
        f.true_detections.write("\n".join(truth) + "\n")
    summary.observations["acoustic_detection"] += len(lines)
    summary.true_detections += len(truth)
    summary.false_detections += len(lines) - len(truth)
