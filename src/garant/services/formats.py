"""Readers for `garant ingest`: JSON lines, JSON, CSV and GeoJSON, streamed.

Each reader yields (where, item) pairs, `where` being what a person looks for in the file
("line 12", "feature 3"); an unreadable record yields a `RecordError` instead of an item, so
one bad line never stops the rest.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

FORMATS = ("jsonl", "json", "csv", "geojson")


@dataclass(frozen=True)
class RecordError:
    reason: str


Record = tuple[str, dict[str, Any] | RecordError]


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("jsonl", "ndjson"):
        return "jsonl"
    if suffix in ("csv", "geojson", "json"):
        return suffix
    raise ValueError(f"cannot tell the format of {path.name!r}; pass --format ({', '.join(FORMATS)})")


def read_jsonl(fh: IO[bytes]) -> Iterator[Record]:
    for n, raw in enumerate(fh, start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield f"line {n}", RecordError(f"malformed JSON: {exc}")
            continue
        yield f"line {n}", item if isinstance(item, dict) else RecordError("not a JSON object")


def read_json(fh: IO[bytes]) -> Iterator[Record]:
    try:
        doc = orjson.loads(fh.read())
    except orjson.JSONDecodeError as exc:
        yield "document", RecordError(f"malformed JSON: {exc}")
        return
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        yield from _features(doc)
        return
    items = doc.get("observations") if isinstance(doc, dict) and "observations" in doc else doc
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        yield "document", RecordError("expected an observation, a list of them, or {'observations': [...]}")
        return
    for i, item in enumerate(items):
        yield f"item {i}", item if isinstance(item, dict) else RecordError("not a JSON object")


def _features(doc: dict[str, Any]) -> Iterator[Record]:
    for i, feat in enumerate(doc.get("features") or []):
        where = f"feature {i}"
        geom = feat.get("geometry") if isinstance(feat, dict) else None
        if not isinstance(geom, dict) or geom.get("type") != "Point":
            yield where, RecordError("an observation feature needs a Point geometry")
            continue
        coords = geom.get("coordinates")
        if not isinstance(coords, list) or len(coords) < 2:
            yield where, RecordError("Point coordinates must be [longitude, latitude]")
            continue
        props = dict(feat.get("properties") or {})
        props["lon"], props["lat"] = coords[0], coords[1]
        yield where, props


def read_geojson(fh: IO[bytes]) -> Iterator[Record]:
    try:
        doc = orjson.loads(fh.read())
    except orjson.JSONDecodeError as exc:
        yield "document", RecordError(f"malformed JSON: {exc}")
        return
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        yield "document", RecordError("a GeoJSON file must hold a FeatureCollection")
        return
    yield from _features(doc)


LIST_FIELDS = {"rel_to"}


def _nest(flat: dict[str, str]) -> dict[str, Any]:
    """`distance_band.min_m` columns become nested objects; empty cells are absent fields."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if key is None or value is None or value == "":
            continue
        target = out
        *parents, leaf = key.split(".")
        for p in parents:
            target = target.setdefault(p, {})
        target[leaf] = [v.strip() for v in value.split(";") if v.strip()] if leaf in LIST_FIELDS else value
    return out


def read_csv(fh: IO[bytes]) -> Iterator[Record]:
    text = (line.decode("utf-8-sig") for line in fh)
    reader = csv.DictReader(text)
    for row in reader:
        where = f"line {reader.line_num}"
        if None in row:
            yield where, RecordError("more cells than header columns")
            continue
        yield where, _nest(row)


READERS = {"jsonl": read_jsonl, "json": read_json, "csv": read_csv, "geojson": read_geojson}
