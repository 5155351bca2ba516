"""What an agreement version says of each weapon class that deciding an event's class needs.

Reports of one event may name different classes (observers mistake a class for its neighbour).
The event's class is the reports' vote (`FusedEvent.weapon_class`); these rules settle the two
cases a plain count cannot: a heavy class is not believed at an automatic weapon's cadence, and
an even vote goes to the class that must stand farther back. A report of a weapon withdrawn to
35 km is not outweighed by an equal number naming one allowed at 15 km: either may be the
mistaken one, so the bulletin keeps the possible breach, graded by its reports, and the analysts
settle it (review: split, re-attribute) rather than the order the reports came in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from garant.domain.agreement import Agreement, WithdrawalZone


@dataclass(frozen=True)
class WeaponRules:
    heavy: frozenset[str] = frozenset()
    withdrawal_km: Mapping[str, float] = field(default_factory=dict)  # class -> farthest zone

    @classmethod
    def of(cls, agreement: Agreement) -> WeaponRules:
        reach: dict[str, float] = {}
        for z in agreement.zones:
            if isinstance(z, WithdrawalZone):
                reach[z.weapon_class] = max(reach.get(z.weapon_class, 0.0), z.distance_km)
        return cls(frozenset(w.code for w in agreement.weapon_classes if w.heavy), reach)

    def rank(self, code: str) -> float:
        """Order among classes of equal vote: the one withdrawn farther first."""
        return self.withdrawal_km.get(code, 0.0)
