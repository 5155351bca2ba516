"""`garant serve` as `make serve` runs it: a real process that loads the demo and serves it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from garant.services.demo import demo_observations

from .net import free_port, wait_healthy


def test_serve_loads_the_demo_once_and_serves_map_and_api(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GARANT_DATABASE_URL"}
    env["GARANT_DATA_DIR"] = str(tmp_path)
    for attempt in range(2):  # the second start must find the database not empty
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "garant.cli", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
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
        assert f"http://127.0.0.1:{port}/" in out
