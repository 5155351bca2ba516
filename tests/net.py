"""Loopback helpers for tests that run real servers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_healthy(base_url: str, timeout_s: float = 60.0) -> None:
    """Poll /api/v1/health until it answers 200; fail the test if it never does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(base_url + "/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"no healthy server at {base_url} after {timeout_s:.0f} s")


def start_serve(data_dir: Path, *args: str, **env_extra: str) -> tuple[subprocess.Popen[str], str]:
    """`garant serve` on a free loopback port with its data in `data_dir` (not the suite's
    database URL); returns the process (output captured as text) and its base URL."""
    env = {k: v for k, v in os.environ.items() if k != "GARANT_DATABASE_URL"}
    env.update(GARANT_DATA_DIR=str(data_dir), **env_extra)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "garant.cli", "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, f"http://127.0.0.1:{port}"
