"""Real public data beside the repository (../shared/data): found, or skipped with the reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SHARED_DATA = Path(
    os.environ.get("GARANT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


def need_shared_data(*parts: str) -> Path:
    """Path into ../shared/data; skip (or, under CI, fail) with the reason if it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        msg = f"real data {path} is absent (set GARANT_SHARED_DATA to the shared/data folder)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return path
