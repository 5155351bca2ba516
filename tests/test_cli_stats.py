"""`garant stats` on the local database: the tables, and `--json` to a file or to standard output."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from garant.cli import app
from garant.services.demo import demo_files

WINDOW = ["--start", "2026-03-01T00:00:00Z", "--end", "2026-03-08T00:00:00Z"]


def test_stats_print_the_tables_and_write_or_pipe_the_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GARANT_DATABASE_URL", f"sqlite:///{tmp_path / 'garant.db'}")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    loaded = runner.invoke(app, ["agreement", "load", str(demo_files()[0])])
    assert loaded.exit_code == 0, loaded.output
    shown = runner.invoke(app, ["stats", *WINDOW, "--json", str(tmp_path / "f.json")])
    assert shown.exit_code == 0, shown.output
    assert "credible cessation" in shown.stdout
    figures = orjson.loads((tmp_path / "f.json").read_bytes())
    assert len(figures["daily"]) == 7 and figures["pending_review"] == 0
    piped = runner.invoke(app, ["stats", *WINDOW, "--json", "-"])
    assert piped.exit_code == 0, piped.output
    assert orjson.loads(piped.stdout) == figures and not (tmp_path / "-").exists()
