"""Classification: which provisions of the agreement in force an event breaches, and how likely.

Rules by provision kind, read from the agreement (never a list of provision ids here):
- `cessation_of_fire`: any fire event that rests on more than an allegation;
- `heavy_weapons_withdrawal`: a weapon of a zone's class fired from, or kept in, that zone;
- `buffer_zone`: a firing position, weapons or forces inside one of the provision's zones;
- `airspace`: a prohibited aircraft inside one of the provision's zones, below its ceiling;
- `no_advance`: forces identified as one party's (`forces_party`), moving or in place, on ground
  that party does not hold: with the probability that their place lies there (the share of the
  attribution's draws in the other parties' areas). Unidentified forces breach nothing here:
  whose they are is not guessed from where they stand;
- `non_interference`: any interference with the monitors.

Where the place is uncertain, the probability that it lies in the zone is the share of the
attribution's draws inside it; a provision is recorded as breached when that share is at least
one half, and the share goes with it. A fire event whose weapon class nobody reported cannot
breach a class's withdrawal zone: that is left to the analyst, not guessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from garant.domain.agreement import Agreement, AirspaceZone, ProvisionKind, WithdrawalZone
from garant.geo.engine import Geography
from garant.verify.attribution import FORCES, Attribution
from garant.verify.fusion import FusedEvent
from garant.verify.weapons import WeaponRules

FloatArray = npt.NDArray[np.float64]
BREACH_PROBABILITY = 0.5


@dataclass(frozen=True)
class Breach:
    provision_id: str
    probability: float


class Classifier:
    def __init__(self, agreement: Agreement, geo: Geography) -> None:
        self.agreement = agreement
        self.geo = geo
        self.zone_col = {z: i for i, z in enumerate(geo.zone_ids)}
        self.zones = {z.id: z for z in agreement.zones}
        self.weapons = WeaponRules.of(agreement)

    def _zone_shares(self, attribution: Attribution, ev: FusedEvent) -> FloatArray:
        """Share of the attribution's draws (else the origin) inside each zone, in `zone_ids` order:
        one point-in-polygon pass per event, whatever the provisions ask."""
        if attribution.draws_x is not None and attribution.draws_y is not None:
            lon, lat = self.geo.unproject(attribution.draws_x, attribution.draws_y)
            return np.asarray(self.geo.zones_containing(lon, lat).mean(axis=0), dtype=np.float64)
        if ev.origin is not None:
            lon, lat = self.geo.unproject(ev.origin[0], ev.origin[1])
            return np.asarray(self.geo.zones_containing(lon, lat), dtype=np.float64).reshape(-1)
        return np.zeros(len(self.geo.zone_ids))

    def classify(self, ev: FusedEvent, attribution: Attribution) -> list[Breach]:
        out: list[Breach] = []
        substantive = any(m.kind != "allegation" for m in ev.members) or bool(ev.acoustic)
        if not substantive:
            return out
        wclass = ev.weapon_class(self.weapons)
        shares: list[FloatArray] = []  # computed on the first question about a zone

        def in_zone(zone_id: str) -> float:
            col = self.zone_col.get(zone_id)
            if col is None:
                return 0.0
            if not shares:
                shares.append(self._zone_shares(attribution, ev))
            return float(shares[0][col])

        for prov in self.agreement.provisions:
            p = 0.0
            if prov.kind == ProvisionKind.CESSATION_OF_FIRE:
                p = 1.0 if ev.kind == "fire" else 0.0
            elif prov.kind == ProvisionKind.HEAVY_WEAPONS_WITHDRAWAL:
                if ev.kind in ("fire", "presence") and wclass:
                    zones = [
                        z
                        for z in prov.zones
                        if isinstance(self.zones.get(z), WithdrawalZone)
                        and self.zones[z].weapon_class == wclass  # type: ignore[union-attr]
                    ]
                    p = max((in_zone(z) for z in zones), default=0.0)
            elif prov.kind == ProvisionKind.BUFFER_ZONE:
                if ev.kind in ("fire", "presence", "advance"):
                    p = max((in_zone(z) for z in prov.zones), default=0.0)
            elif prov.kind == ProvisionKind.AIRSPACE:
                p = self._airspace(prov.zones, ev)
            elif prov.kind == ProvisionKind.NO_ADVANCE:
                p = _across(ev, attribution)
            elif prov.kind == ProvisionKind.NON_INTERFERENCE:
                p = 1.0 if ev.kind == "interference" else 0.0
            if p >= BREACH_PROBABILITY:
                out.append(Breach(prov.id, round(p, 4)))
        return out

    def _airspace(self, zone_ids: list[str], ev: FusedEvent) -> float:
        if ev.kind != "air":
            return 0.0
        for m in ev.members:
            track = m.extra.get("lonlat")
            alt = m.extra.get("track", (None, None, None))[2]
            if track is None:
                continue
            inside = self.geo.zones_containing(track[0], track[1])
            for z in zone_ids:
                zone = self.zones.get(z)
                if not isinstance(zone, AirspaceZone) or m.extra.get("aircraft_type") not in zone.prohibited:
                    continue
                below = (
                    np.where(np.isfinite(alt), alt < zone.ceiling_m, True)
                    if zone.ceiling_m and alt is not None
                    else np.ones(len(track[0]), dtype=bool)
                )
                if np.any(inside[:, self.zone_col[z]] & below):
                    return 1.0
        return 0.0


def _across(ev: FusedEvent, attribution: Attribution) -> float:
    """The probability that identified forces stand on ground their party does not hold: the
    attribution's mass of their place in the other parties' areas. Unidentified: 0."""
    party = ev.forces_party() if ev.kind in FORCES else None
    if party is None or attribution.ground is None or party not in attribution.ground:
        return 0.0
    return max(0.0, 1.0 - attribution.ground[party])


def severity(ev: FusedEvent, heavy_weapon: bool, breaches: list[Breach]) -> float:
    """Order of the review queue: casualties first (a death weighs more than an injury), then
    heavy weapons, then the size of the fire. One injury (30) outweighs heavy weapons with the
    size of any fire under 10^6 rounds breaching up to five provisions (10 + 13.8 + 5)."""
    if not breaches:
        return 0.0
    hurt = 100.0 * ev.killed() + 30.0 * ev.injured()
    return hurt + (10.0 if heavy_weapon else 0.0) + math.log1p(ev.rounds) + len(breaches)
