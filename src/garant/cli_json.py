"""The `--json FILE` option of the commands that print a report (`garant eval`, `garant stats`):
a file is written beside the printed tables; `-` is standard output, the JSON alone, for a pipe
(without it, `--json -` made a file named "-")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

JsonOut = Annotated[
    Path | None, typer.Option("--json", help="also write it as JSON to this file; - prints the JSON alone")
]


def emit_json(path: Path | None, report: Any) -> bool:
    """Write the report where `--json` asks; True when it went to standard output, so the
    command prints nothing else."""
    if path is None:
        return False
    data = orjson.dumps(report, option=orjson.OPT_INDENT_2)
    if str(path) == "-":
        typer.echo(data.decode())
        return True
    path.write_bytes(data)
    return False
