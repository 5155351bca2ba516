"""The observation reference (docs/observations.md), generated from the models themselves.

A test regenerates it and compares, so the documentation cannot drift from what intake checks.
"""

from __future__ import annotations

import inspect
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from garant.domain.observations import (
    AcousticDetection,
    AirTrack,
    Allegation,
    Attachment,
    Crater,
    DistanceBand,
    Ellipse,
    Interference,
    ObservationBase,
    Osint,
    Point,
    RadarTrack,
    Sighting,
    Signature,
    TrackPoint,
    WeaponPresence,
)

PART_MODELS: tuple[type[BaseModel], ...] = (Attachment, Signature, Ellipse, Point, TrackPoint, DistanceBand)
KIND_MODELS: tuple[type[ObservationBase], ...] = (
    AcousticDetection,
    Sighting,
    Crater,
    RadarTrack,
    WeaponPresence,
    AirTrack,
    Allegation,
    Osint,
    Interference,
)


def _type_name(info: FieldInfo, schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    if "anyOf" in schema:
        parts = [_type_name(info, s) for s in schema["anyOf"] if s.get("type") != "null"]
        return " \\| ".join(parts) + (
            " or null" if any(s.get("type") == "null" for s in schema["anyOf"]) else ""
        )
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"list of {_type_name(info, schema.get('items', {}))}"
    kind = str(schema.get("type", "any"))
    if schema.get("format") == "date-time":
        kind = "time (ISO 8601 with offset)"
    bounds = []
    for key, sign in (
        ("minimum", ">="),
        ("exclusiveMinimum", ">"),
        ("maximum", "<="),
        ("exclusiveMaximum", "<"),
    ):
        if key in schema:
            bounds.append(f"{sign} {schema[key]}")
    if "pattern" in schema:
        bounds.append(f"matches `{schema['pattern']}`")
    if "minLength" in schema or "maxLength" in schema:
        bounds.append(f"length {schema.get('minLength', 0)}..{schema.get('maxLength', '')}")
    return kind + (f" ({', '.join(bounds)})" if bounds else "")


def _rows(model: type[BaseModel], only: set[str] | None = None) -> list[str]:
    schema = model.model_json_schema()
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    rows = []
    for name, info in model.model_fields.items():
        if only is not None and name not in only:
            continue
        prop = props.get(name, {})
        need = "yes" if name in required else "no"
        desc = info.description or ""
        if not info.is_required() and info.default not in (None, [], PydanticUndefined):
            default = info.default.value if hasattr(info.default, "value") else info.default
            desc = f"{desc} (default `{default}`)".strip()
        rows.append(f"| `{name}` | {_type_name(info, prop)} | {need} | {desc} |")
    return rows


def observation_reference() -> str:
    common = set(ObservationBase.model_fields)
    lines = [
        "# Observations: the intake reference",
        "",
        "Generated from `garant.domain.observations` by `python -m garant.domain.reference`; a test",
        "keeps it in step with the code. The JSON Schema is in `/openapi.json` (`Observation`).",
        "",
        "## Fields every observation has",
        "",
        "| field | type | required | meaning |",
        "|---|---|---|---|",
        *_rows(ObservationBase),
        "",
        "A weapon class must be one the agreement in force defines; a party code one of its parties.",
    ]
    for model in KIND_MODELS:
        kind = model.model_fields["kind"].annotation.__args__[0].value  # type: ignore[union-attr]
        own = set(model.model_fields) - common - {"kind"}
        lines += [
            "",
            f"## `{kind}`",
            "",
            inspect.cleandoc(model.__doc__ or ""),
            "",
            "| field | type | required | meaning |",
            "|---|---|---|---|",
            *_rows(model, own),
        ]
    lines += ["", "## Parts used above"]
    for part in PART_MODELS:
        lines += [
            "",
            f"### {part.__name__}",
            "",
            "| field | type | required | meaning |",
            "|---|---|---|---|",
            *_rows(part),
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(observation_reference(), end="")
