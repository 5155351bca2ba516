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


_BOM = b"\xef\xbb\xbf"


def _strip_bom(data: bytes) -> bytes:
    """A UTF-8 byte order mark (as Windows tools write) is not part of the JSON text."""
    return data[len(_BOM) :] if data.startswith(_BOM) else data


def read_jsonl(fh: IO[bytes]) -> Iterator[Record]:
    for n, raw in enumerate(fh, start=1):
        line = (_strip_bom(raw) if n == 1 else raw).strip()
        if not line:
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield f"line {n}", RecordError(f"malformed JSON: {exc}")
            continue
        yield f"line {n}", item if isinstance(item, dict) else RecordError("not a JSON object")


def _document(fh: IO[bytes]) -> Any | RecordError:
    """The whole file as one JSON document, or why it is not one."""
    try:
        return orjson.loads(_strip_bom(fh.read()))
    except orjson.JSONDecodeError as exc:
        return RecordError(f"malformed JSON: {exc}")


def read_json(fh: IO[bytes]) -> Iterator[Record]:
    doc = _document(fh)
    if isinstance(doc, RecordError):
        yield "document", doc
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
    features = doc.get("features")
    if features is None:
        return
    if not isinstance(features, list):
        yield "document", RecordError("'features' of a FeatureCollection must be an array")
        return
    for i, feat in enumerate(features):
        where = f"feature {i}"
        if not isinstance(feat, dict):
            yield where, RecordError("a feature is a JSON object")
            continue
        geom = feat.get("geometry")
        if not isinstance(geom, dict) or geom.get("type") != "Point":
            yield where, RecordError("an observation feature needs a Point geometry")
            continue
        coords = geom.get("coordinates")
        if not isinstance(coords, list) or len(coords) < 2:
            yield where, RecordError("Point coordinates must be [longitude, latitude]")
            continue
        properties = feat.get("properties")
        if properties is not None and not isinstance(properties, dict):
            yield where, RecordError("feature properties must be a JSON object")
            continue
        props = dict(properties or {})
        props["lon"], props["lat"] = coords[0], coords[1]
        yield where, props


def read_geojson(fh: IO[bytes]) -> Iterator[Record]:
    doc = _document(fh)
    if isinstance(doc, RecordError):
        yield "document", doc
        return
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        yield "document", RecordError("a GeoJSON file must hold a FeatureCollection")
        return
    yield from _features(doc)


LIST_FIELDS = {"rel_to"}


def _nest(flat: dict[str, str]) -> dict[str, Any] | RecordError:
    """`distance_band.min_m` columns become nested objects; empty cells are absent fields."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if value == "":
            continue
        target = out
        *parents, leaf = key.split(".")
        for p in parents:
            target = target.setdefault(p, {})
            if not isinstance(target, dict):
                return RecordError(f"column {key!r} nests inside column {p!r}, which has a value")
        if isinstance(target.get(leaf), dict):
            return RecordError(f"column {key!r} has a value and nested columns ({key}.…) too")
        target[leaf] = [v.strip() for v in value.split(";") if v.strip()] if leaf in LIST_FIELDS else value
    return out


def read_csv(fh: IO[bytes]) -> Iterator[Record]:
    """Rows by the line they start on; a row that is not UTF-8 or not CSV is refused, not fatal."""
    undecodable: set[int] = set()

    def lines() -> Iterator[str]:
        for n, raw in enumerate(fh, start=1):
            try:
                yield raw.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError:
                undecodable.add(n)
                yield raw.decode("utf-8", errors="replace")

    reader = csv.reader(lines())
    header: list[str] | None = None
    last = 0  # the physical line the previous row ended on
    while True:
        first = last + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            last = reader.line_num
            yield f"line {first}", RecordError(f"unreadable CSV: {exc}")
            continue
        last = reader.line_num
        if not row:  # a blank line
            continue
        bad_bytes = any(n in undecodable for n in range(first, last + 1))
        if header is None:
            if bad_bytes:
                yield f"line {first}", RecordError("the header is not valid UTF-8; no row can be read")
                return
            header = [name.strip() for name in row]
            continue
        where = f"line {first}"
        if bad_bytes:
            yield where, RecordError("not valid UTF-8")
        elif len(row) > len(header):
            yield where, RecordError("more cells than header columns")
        else:
            yield where, _nest(dict(zip(header, row, strict=False)))


READERS = {"jsonl": read_jsonl, "json": read_json, "csv": read_csv, "geojson": read_geojson}
