"""GeoJSON geometry as Pydantic models, validated as RFC 7946 demands.

Hand-written because the agreement must reject what a generic GeoJSON model lets through:
coordinates out of WGS84 range, rings that are not closed or have fewer than four positions.
Errors carry the path inside the document, so an agreement author can find the bad ring.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Position = tuple[float, float] | tuple[float, float, float]


def check_position(pos: Any) -> tuple[float, float]:
    """Validate one GeoJSON position (lon, lat[, alt]) and return (lon, lat)."""
    if not isinstance(pos, (list, tuple)) or len(pos) not in (2, 3):
        raise ValueError("a position is [longitude, latitude] or [longitude, latitude, altitude]")
    try:
        lon, lat = float(pos[0]), float(pos[1])
    except (TypeError, ValueError):
        raise ValueError("a position's longitude and latitude are numbers") from None
    if not -180.0 <= lon <= 180.0:
        raise ValueError(f"longitude {lon} is outside -180..180")
    if not -90.0 <= lat <= 90.0:
        raise ValueError(f"latitude {lat} is outside -90..90")
    return lon, lat


def check_ring(ring: list[Any], where: str) -> list[tuple[float, float]]:
    if not isinstance(ring, list):
        raise ValueError(f"{where} must be an array of positions")
    pts = [check_position(p) for p in ring]
    if len(pts) < 4:
        raise ValueError(f"{where} has {len(pts)} positions; a linear ring needs at least 4")
    if pts[0] != pts[-1]:
        raise ValueError(
            f"{where} is not closed: its first position {pts[0]} differs from its last {pts[-1]}"
        )
    return pts


def _lists(v: Any) -> None:
    if not isinstance(v, list):
        raise ValueError("coordinates must be arrays")


class _Geometry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LineString(_Geometry):
    type: Literal["LineString"]
    coordinates: list[tuple[float, float]]

    @field_validator("coordinates", mode="before")
    @classmethod
    def _coords(cls, v: Any) -> list[tuple[float, float]]:
        _lists(v)
        pts = [check_position(p) for p in v]
        if len(pts) < 2:
            raise ValueError("a LineString needs at least 2 positions")
        return pts


class MultiLineString(_Geometry):
    type: Literal["MultiLineString"]
    coordinates: list[list[tuple[float, float]]]

    @field_validator("coordinates", mode="before")
    @classmethod
    def _coords(cls, v: Any) -> list[list[tuple[float, float]]]:
        _lists(v)
        lines = []
        for i, line in enumerate(v):
            if not isinstance(line, list):
                raise ValueError(f"line {i} must be an array of positions")
            pts = [check_position(p) for p in line]
            if len(pts) < 2:
                raise ValueError(f"line {i} needs at least 2 positions")
            lines.append(pts)
        if not lines:
            raise ValueError("a MultiLineString needs at least one line")
        return lines


class Polygon(_Geometry):
    type: Literal["Polygon"]
    coordinates: list[list[tuple[float, float]]]

    @field_validator("coordinates", mode="before")
    @classmethod
    def _coords(cls, v: Any) -> list[list[tuple[float, float]]]:
        _lists(v)
        if not v:
            raise ValueError("a Polygon needs an exterior ring")
        return [check_ring(r, f"ring {i}") for i, r in enumerate(v)]


class MultiPolygon(_Geometry):
    type: Literal["MultiPolygon"]
    coordinates: list[list[list[tuple[float, float]]]]

    @field_validator("coordinates", mode="before")
    @classmethod
    def _coords(cls, v: Any) -> list[list[list[tuple[float, float]]]]:
        _lists(v)
        if not v:
            raise ValueError("a MultiPolygon needs at least one polygon")
        out = []
        for j, poly in enumerate(v):
            if not poly or not isinstance(poly, list):
                raise ValueError(f"polygon {j} needs an exterior ring")
            out.append([check_ring(r, f"polygon {j} ring {i}") for i, r in enumerate(poly)])
        return out


LineGeometry = Annotated[LineString | MultiLineString, Field(discriminator="type")]
AreaGeometry = Annotated[Polygon | MultiPolygon, Field(discriminator="type")]
