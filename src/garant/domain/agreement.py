"""The ceasefire agreement as data: parties, geography, zones, provisions and thresholds.

An agreement is identified by (`id`, `version`). A version, once stored, never changes:
amending the terms means loading a new version, and everything recorded under the old one
keeps pointing at it. Cross-references (a zone's weapon class, a provision's zones, the
party whose side is positive) are checked here so a bad file fails at load, not at use.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from garant.domain.geojson import AreaGeometry, LineGeometry


def _aware(v: datetime) -> datetime:
    if v.tzinfo is None or v.utcoffset() is None:
        raise ValueError("time must carry a UTC offset, e.g. 2026-02-01T00:00:00Z")
    return v


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Party(_Strict):
    code: Code
    name: str = Field(min_length=1)


class Guarantor(_Strict):
    code: Code
    name: str = Field(min_length=1)
    role: str | None = None


class WeaponClass(_Strict):
    """A class of weapon the agreement regulates (e.g. the Minsk II calibre bands)."""

    code: Code
    name: str = Field(min_length=1)
    calibre_min_mm: float | None = Field(default=None, ge=0)
    calibre_max_mm: float | None = Field(default=None, ge=0)
    max_range_km: float | None = Field(default=None, gt=0, description="typical maximum firing range")
    heavy: bool = Field(default=False, description="counts as a heavy weapon for escalation")
    source: str | None = None

    @model_validator(mode="after")
    def _calibre_order(self) -> WeaponClass:
        lo, hi = self.calibre_min_mm, self.calibre_max_mm
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"calibre_min_mm {lo} is greater than calibre_max_mm {hi}")
        return self


class ZoneKind(StrEnum):
    BUFFER = "buffer"
    WITHDRAWAL = "withdrawal"
    AIRSPACE = "airspace"


class BufferZone(_Strict):
    """A strip of `half_width_km` on each side of the contact line."""

    id: Code
    kind: Literal[ZoneKind.BUFFER]
    name: str
    half_width_km: float = Field(gt=0, le=500)


class WithdrawalZone(_Strict):
    """Where a weapon class may not be: within `distance_km` of the line on each side."""

    id: Code
    kind: Literal[ZoneKind.WITHDRAWAL]
    name: str
    weapon_class: Code
    distance_km: float = Field(gt=0, le=1000)


class AirspaceZone(_Strict):
    """A strip where the listed aircraft may not fly (below `ceiling_m` if given)."""

    id: Code
    kind: Literal[ZoneKind.AIRSPACE]
    name: str
    half_width_km: float = Field(gt=0, le=1000)
    prohibited: list[Literal["military_aircraft", "helicopter", "drone"]] = Field(min_length=1)
    ceiling_m: float | None = Field(default=None, gt=0)


Zone = Annotated[BufferZone | WithdrawalZone | AirspaceZone, Field(discriminator="kind")]


class ProvisionKind(StrEnum):
    CESSATION_OF_FIRE = "cessation_of_fire"
    HEAVY_WEAPONS_WITHDRAWAL = "heavy_weapons_withdrawal"
    AIRSPACE = "airspace"
    NO_ADVANCE = "no_advance"
    NON_INTERFERENCE = "non_interference"
    BUFFER_ZONE = "buffer_zone"
    OTHER = "other"


class Provision(_Strict):
    """A numbered obligation that violations cite by `id`."""

    id: Code
    kind: ProvisionKind
    title: str = Field(min_length=1)
    text: str = Field(min_length=1)
    zones: list[Code] = Field(default_factory=list)
    weapon_classes: list[Code] = Field(default_factory=list)


class EscalationThresholds(_Strict):
    """When fire stops being a violation and may be determined an armed attack."""

    armed_attack_min_events_24h: int = Field(gt=0)
    armed_attack_min_heavy_weapon_events_24h: int = Field(ge=0)
    armed_attack_min_advance_km2: float = Field(ge=0)
    armed_attack_window_hours: float = Field(default=24, gt=0)


class CredibleCessationThresholds(_Strict):
    """The measured calm that opens the reassurance-force gate."""

    window_days: int = Field(gt=0)
    max_verified_violations_per_day: float = Field(ge=0)
    max_heavy_weapon_violations: int = Field(ge=0)
    max_days_with_fatalities: int = Field(ge=0)


class Thresholds(_Strict):
    escalation: EscalationThresholds
    credible_cessation: CredibleCessationThresholds


class Agreement(_Strict):
    id: Code
    version: int = Field(ge=1)
    title: str = Field(min_length=1)
    description: str | None = None
    entry_into_force: AwareDatetime
    parties: list[Party] = Field(min_length=2)
    guarantors: list[Guarantor] = Field(default_factory=list)
    positive_side: Code = Field(description="party on whose side the signed distance to the line is positive")
    contact_line: LineGeometry
    control_areas: dict[Code, AreaGeometry]
    weapon_classes: list[WeaponClass] = Field(default_factory=list)
    zones: list[Zone] = Field(default_factory=list)
    provisions: list[Provision] = Field(min_length=1)
    thresholds: Thresholds

    @model_validator(mode="after")
    def _references(self) -> Agreement:
        party_codes = [p.code for p in self.parties]
        _unique(party_codes, "parties", "party code")
        _unique([g.code for g in self.guarantors], "guarantors", "guarantor code")
        wc_codes = [w.code for w in self.weapon_classes]
        _unique(wc_codes, "weapon_classes", "weapon class code")
        zone_ids = [z.id for z in self.zones]
        _unique(zone_ids, "zones", "zone id")
        _unique([p.id for p in self.provisions], "provisions", "provision id")
        if self.positive_side not in party_codes:
            raise ValueError(f"positive_side {self.positive_side!r} is not a party (parties: {party_codes})")
        for code in self.control_areas:
            if code not in party_codes:
                raise ValueError(f"control_areas.{code}: {code!r} is not a party (parties: {party_codes})")
        for i, zone in enumerate(self.zones):
            if isinstance(zone, WithdrawalZone) and zone.weapon_class not in wc_codes:
                raise ValueError(
                    f"zones[{i}].weapon_class: unknown weapon class {zone.weapon_class!r} (known: {wc_codes})"
                )
        for i, prov in enumerate(self.provisions):
            for z in prov.zones:
                if z not in zone_ids:
                    raise ValueError(f"provisions[{i}].zones: unknown zone {z!r} (known: {zone_ids})")
            for w in prov.weapon_classes:
                if w not in wc_codes:
                    raise ValueError(
                        f"provisions[{i}].weapon_classes: unknown weapon class {w!r} (known: {wc_codes})"
                    )
        return self

    @property
    def key(self) -> str:
        """`id@version`, the reference every derived record carries."""
        return f"{self.id}@{self.version}"

    def weapon_class_codes(self) -> frozenset[str]:
        return frozenset(w.code for w in self.weapon_classes)

    def party_codes(self) -> frozenset[str]:
        return frozenset(p.code for p in self.parties)


def _unique(values: list[str], where: str, what: str) -> None:
    seen: set[str] = set()
    for i, v in enumerate(values):
        if v in seen:
            raise ValueError(f"{where}[{i}]: duplicate {what} {v!r}")
        seen.add(v)


_LOC_IN_MESSAGE = re.compile(r"^(?P<path>[A-Za-z_][\w.\[\]]*): ")


def split_located_message(msg: str) -> tuple[str | None, str]:
    """Cross-reference errors name their own path at the start; pull it out for the error report."""
    m = _LOC_IN_MESSAGE.match(msg)
    if not m:
        return None, msg
    return m.group("path"), msg[m.end() :]
