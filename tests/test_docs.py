"""The documentation says what the code does: generated references match, every command and
route is documented in the README."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from garant.api.app import create_app
from garant.cli import app as cli_app
from garant.config import Settings
from garant.domain.access import access_reference
from garant.domain.reference import observation_reference
from garant.store.db import Database

ROOT = Path(__file__).resolve().parents[1]


def test_observation_reference_is_current() -> None:
    written = (ROOT / "docs" / "observations.md").read_text()
    assert written == observation_reference(), "run: python -m garant.domain.reference > docs/observations.md"


def test_access_reference_is_current() -> None:
    written = (ROOT / "docs" / "access.md").read_text()
    assert written == access_reference(), "run: python -m garant.domain.access > docs/access.md"


def _commands(group: typer.Typer, prefix: str = "garant") -> list[str]:
    click_group = typer.main.get_command(group)
    out: list[str] = []

    def walk(cmd: object, path: str) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, f"{path} {name}")
        else:
            out.append(path)

    walk(click_group, prefix)
    return out


def test_every_cli_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = _commands(cli_app)
    assert len(commands) >= 7
    missing = [c for c in commands if f"`{c}" not in readme]
    assert not missing, f"README does not document: {missing}"


def test_every_api_route_is_in_the_readme(sqlite_db: Database, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    app = create_app(Settings(data_dir=tmp_path, database_url=sqlite_db.url), sqlite_db)
    paths = [p for p in app.openapi()["paths"] if p.startswith("/api/")]
    assert "/api/v1/observations" in paths
    documented = set(re.findall(r"(/api/v1/[\w/{}.-]+)", readme))
    missing = [
        p for p in paths if p not in documented and p.replace("{key}", "{id@version}") not in documented
    ]
    assert not missing, f"README does not document: {missing}"
