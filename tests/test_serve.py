"""`garant serve` as `make serve` runs it: a real process that loads the demo and serves it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from garant.services.demo import demo_observations

from .net import start_serve, wait_healthy


def test_serve_loads_the_demo_once_and_serves_map_and_api(tmp_path: Path) -> None:
    for attempt in range(2):  # the second start must find the database not empty
        proc, base = start_serve(tmp_path)
        try:
            wait_healthy(base)
            page = httpx.get(base + "/")
            assert page.status_code == 200 and "leaflet" in page.text.lower()
            count = httpx.get(base + "/api/v1/observations", params={"limit": 10_000}).json()[
                "numberReturned"
            ]
            demo = demo_observations()
            levels = [json.loads(line)["releasability"] for line in demo.read_text().splitlines() if line]
            # the public sees the demo's public observations, and only those
            assert count == levels.count("public") and 0 < count < len(levels)
            assert httpx.get(base + "/api/v1/agreements/current").json()["id"] == "paris-2026-demo"
        finally:
            proc.terminate()
            out, _ = proc.communicate(timeout=30)
        expected = "demo loaded: paris-2026-demo@1" if attempt == 0 else "database not empty: demo not loaded"
        assert expected in out, out
        assert f"{base}/" in out


def test_the_command_line_starts_without_the_numeric_engines() -> None:
    """Every process `garant serve` starts (its workers, their intake processes, the follower)
    imports the command line's module first, as does every `garant` command: the simulator, the
    scorer and the acoustic engine (SciPy, Numba) are imported by the commands that run them."""
    code = (
        "import sys, garant.cli; "
        "print(','.join(m for m in ('scipy', 'numba', 'garant.verify.acoustic', 'garant.sim.run', "
        "'garant.evaluation.score', 'garant.services.verification') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
