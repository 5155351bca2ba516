"""Paths inside a document, written the way an author reads them: `zones[2].weapon_class`."""

from __future__ import annotations

from collections.abc import Sequence


def dotted_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
