"""The architecture's layers hold (DESIGN.md): an import only points down. The entry points (cli,
api, web) sit on top: nothing below imports them, and they do not import one another for what a
lower layer should give them (serializers live in `garant.services.bulletin_views`)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ENTRY_POINTS = ("garant.api", "garant.web", "garant.cli")
# Composition only: the app mounts the web's routes, and `garant serve` starts the app.
COMPOSES = {("garant.api.app", "garant.web.routes"), ("garant.cli", "garant.api.app")}


def _module(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _entry_point(module: str) -> str | None:
    for top in ENTRY_POINTS:
        if module == top or module.startswith(f"{top}.") or module.startswith(f"{top}_"):
            return top
    return None


def _imports(path: Path) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
    return out


def test_no_import_points_up_to_or_across_the_entry_points() -> None:
    wrong = []
    for path in sorted((SRC / "garant").rglob("*.py")):
        module = _module(path)
        mine = _entry_point(module)
        for line, imported in _imports(path):
            theirs = _entry_point(imported)
            if theirs is not None and theirs != mine and (module, imported) not in COMPOSES:
                wrong.append(f"{path.relative_to(SRC)}:{line} imports {imported}")
    assert not wrong, "\n".join(wrong)
