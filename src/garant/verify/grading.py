"""Grading: how well an event is established, from who reported it.

- `reported`: one source (or only allegations, however many: a party's complaint is a lead);
- `corroborated`: independent sources — different kinds of observation (a radar and a post's
  sighting) or different nations;
- `verified`: only an analyst sets it, by confirming an event that is corroborated or rests on
  a high-grade technical source (`technical` says which events qualify);
- `rejected`: only an analyst sets it.

The automatic pipeline therefore never says "verified": it says what an analyst can verify.
"""

from __future__ import annotations

from dataclasses import dataclass

from garant.verify.fusion import FusedEvent

REPORTED = "reported"
CORROBORATED = "corroborated"
VERIFIED = "verified"
REJECTED = "rejected"
LEVELS = (REPORTED, CORROBORATED, VERIFIED, REJECTED)

_FAMILY = {
    "acoustic_burst": "acoustic",
    "radar_track": "radar",
    "sighting": "sighting",
    "crater": "crater",
    "osint": "osint",
    "weapon_presence": "imagery",
    "air_track": "air",
    "interference": "interference",
}


@dataclass(frozen=True)
class Grade:
    level: str
    technical: bool  # rests on a high-grade technical source
    independent_sources: int


def grade(ev: FusedEvent) -> Grade:
    families: set[str] = set()
    nations: set[str] = set()
    for m in ev.members:
        if m.kind == "allegation":
            continue
        families.add(_FAMILY.get(m.kind, m.kind))
        nations.add(m.nation)
    if ev.acoustic:
        families.add("acoustic")
    technical = bool(ev.acoustic) or any(m.technical_grade for m in ev.members)
    independent = max(len(families), len(nations))
    level = CORROBORATED if len(families) >= 2 or len(nations) >= 2 else REPORTED
    return Grade(level, technical, independent)
