"""The demo that `make serve` loads: the demo agreement, and observations from the simulator.

The observations are generated from `demo/scenario.yaml` (a fixed seed, so always the same
ones) the first time a process asks for them, into a temporary folder removed at exit.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from garant.config import Settings
from garant.services.agreements import load_agreement_file
from garant.services.bulk import ingest_file
from garant.services.bulletin import update_acoustic
from garant.services.verification import update_verification
from garant.store.agreements import current_agreement
from garant.store.db import Database
from garant.store.observations import count_observations


def demo_files() -> tuple[Path, Path]:
    """The demo agreement and the scenario the demo observations are generated from."""
    base = resources.files("garant") / "demo"
    return Path(str(base / "agreement.yaml")), Path(str(base / "scenario.yaml"))


@functools.cache
def demo_observations() -> Path:
    """The demo observations (JSON lines), generated once per process."""
    from garant.sim.run import run_scenario
    from garant.sim.scenario import load_scenario

    folder = Path(tempfile.mkdtemp(prefix="garant-demo-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    scenario, path = load_scenario(str(demo_files()[1]))
    run_scenario(scenario, folder, scenario_file=path)
    return folder / "observations.jsonl"


def load_demo(db: Database) -> str:
    """Load the demo agreement and observations, only into an empty database."""
    with db.read() as conn:
        empty = count_observations(conn) == 0 and current_agreement(conn) is None
    if not empty:
        return "database not empty: demo not loaded"
    stored = load_agreement_file(db, demo_files()[0])
    result = ingest_file(db, demo_observations(), "jsonl")
    settings = Settings.from_env()
    run = update_acoustic(db, settings.acoustic_params())
    fused = update_verification(db, bursts=settings.burst_params())
    return (
        f"demo loaded: {stored.agreement.key}, {result.accepted} observations "
        f"(simulated: demo/scenario.yaml); automatic bulletin: {run.events_created} acoustic events, "
        f"{fused.events_created} verified-bulletin events with {fused.violations} violations"
    )
