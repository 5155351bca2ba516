"""Geography engine: side of the contact line, signed distance and zone membership, vectorised.

See `garant.geo.engine` for the method and the projected CRS.
"""

from garant.geo.engine import NO_PARTY, Geography, ZoneSpec, agreement_features

__all__ = ["NO_PARTY", "Geography", "ZoneSpec", "agreement_features"]
