"""`garant ingest FILE` end to end: each format, mixed good and bad records, summary, exit code, store.

Every file is built here from the observation factories, so the expected counts, the places of
the refused records and the stored content all follow from the data written, not from constants.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import Result
from typer.testing import CliRunner

from garant.cli import app
from garant.domain.access import SYSTEM
from garant.services.demo import demo_files
from garant.store.db import Database, open_database
from garant.store.observations import ObservationFilter, list_observations

from .factories import KINDS, make

SUMMARY = re.compile(r"^accepted (\d+), duplicates (\d+), rejected (\d+)$", re.MULTILINE)


@dataclass(frozen=True)
class Bad:
    """A record the file holds that must be refused: where it is, and what the refusal names."""

    where: str  # "line 7", "item 3", "feature 2"
    field: str | None  # the field named in the reason; None for a record that cannot be read at all
    fragment: str  # a piece of the reason


@dataclass
class Cli:
    path: Path  # the SQLite file behind GARANT_DATABASE_URL
    runner: CliRunner

    def run(self, *args: str) -> Result:
        return self.runner.invoke(app, list(args))

    def ingest(self, file: Path, *args: str) -> Result:
        return self.run("ingest", str(file), *args)

    def stored(self) -> dict[str, dict[str, Any]]:
        """Every stored observation's accepted payload, by client id."""
        db: Database = open_database(f"sqlite:///{self.path}")
        try:
            with db.read() as conn:
                rows = list_observations(
                    conn, ObservationFilter(viewer=SYSTEM, include_superseded=True, limit=1_000_000)
                )
        finally:
            db.dispose()
        payloads = [orjson.loads(r["payload"]) for r in rows]
        by_client = {p["client_id"]: p for p in payloads}
        assert len(by_client) == len(payloads), "a client id is stored twice"
        return by_client


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The command line on a fresh SQLite file, with the demo agreement in force (weapon classes)."""
    db_file = tmp_path / "garant.db"
    monkeypatch.setenv("GARANT_DATABASE_URL", f"sqlite:///{db_file}")
    monkeypatch.setenv("GARANT_DATA_DIR", str(tmp_path))
    c = Cli(db_file, CliRunner())
    loaded = c.run("agreement", "load", str(demo_files()[0]))
    assert loaded.exit_code == 0, loaded.output
    return c


# --------------------------------------------------------------------------- checks


def summary(result: Result) -> tuple[int, int, int]:
    found = SUMMARY.findall(result.stdout)
    assert len(found) == 1, f"no single summary line in stdout: {result.stdout!r} (stderr {result.stderr!r})"
    accepted, duplicates, rejected = (int(x) for x in found[0])
    return accepted, duplicates, rejected


def refused_lines(result: Result, file: Path) -> list[str]:
    """The stderr lines naming a refused record, `FILE:where: reasons`, without the `FILE:` prefix."""
    prefix = f"{file}:"
    return [line[len(prefix) :] for line in result.stderr.splitlines() if line.startswith(prefix)]


def check_refusals(result: Result, file: Path, bad: list[Bad]) -> None:
    """Exactly the bad records are reported, in file order, each as `where: field: reason`."""
    lines = refused_lines(result, file)
    assert [line.split(": ", 1)[0] for line in lines] == [b.where for b in bad], result.stderr
    for line, b in zip(lines, bad, strict=True):
        reasons = line.split(": ", 1)[1]
        if b.field is not None:
            assert reasons.startswith(f"{b.field}: ") or f"; {b.field}: " in reasons, (b, line)
        assert b.fragment in reasons, (b, line)


def check_run(result: Result, file: Path, *, accepted: int, duplicates: int, bad: list[Bad]) -> None:
    assert summary(result) == (accepted, duplicates, len(bad)), result.stdout + result.stderr
    check_refusals(result, file, bad)
    assert result.exit_code == (1 if bad else 0), result.output
    assert "Traceback" not in result.output


def _norm(value: Any) -> Any:
    """Values as the file meant them: times as instants, numbers as floats, the rest as is."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if re.match(r"^\d{4}-\d\d-\d\dT", value):
            return datetime.fromisoformat(value)
        return value
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    raise TypeError(value)


def _said(expected: Any, stored: Any) -> Any:
    """`stored` cut down to the fields `expected` names, at every depth (defaults filled in aside)."""
    if isinstance(expected, dict) and isinstance(stored, dict):
        return {k: _said(v, stored.get(k)) for k, v in expected.items()}
    if isinstance(expected, list) and isinstance(stored, list) and len(expected) == len(stored):
        return [_said(e, g) for e, g in zip(expected, stored, strict=True)]
    return _norm(stored)


def check_stored(
    stored: dict[str, dict[str, Any]],
    expected: list[dict[str, Any]],
    absent: dict[str, set[str]] | None = None,
) -> None:
    """The store holds exactly the expected observations, each field as the file said it."""
    assert sorted(stored) == sorted(o["client_id"] for o in expected)
    for obs in expected:
        assert _said(obs, stored[obs["client_id"]]) == _norm(obs), obs["client_id"]
    for client_id, fields in (absent or {}).items():
        assert not fields & set(stored[client_id]), (client_id, fields & set(stored[client_id]))


def good_set(tag: str) -> list[dict[str, Any]]:
    """One valid observation of every kind (plus a windowed one and a shared one), unique client ids."""
    out = [make(kind, i, client_id=f"{tag}-{kind}") for i, kind in enumerate(KINDS)]
    out.append(
        make(
            "sighting",
            50,
            client_id=f"{tag}-window",
            observed_at="2026-03-01T06:00:00+02:00",
            observed_until="2026-03-01T06:30:00+02:00",
            releasability="sharing_group",
            rel_to=["FR", "DE"],
        )
    )
    return out


def bad_records(tag: str) -> list[tuple[dict[str, Any], str, str]]:
    """(record, field, fragment of the reason) of records that parse but must be refused."""
    return [
        (make("crater", 60, client_id=f"{tag}-lat", lat=91.5), "lat", "less than or equal to 90"),
        (
            make("osint", 61, client_id=f"{tag}-naive", observed_at="2026-03-01T04:12:09"),
            "observed_at",
            "timezone",
        ),
        (
            make("weapon_presence", 62, client_id=f"{tag}-wc", weapon_class="death_ray"),
            "weapon_class",
            "unknown weapon class 'death_ray'",
        ),
        (
            {**make("sighting", 63, client_id=f"{tag}-kind"), "kind": "rumour"},
            "kind",
            "unknown kind 'rumour'",
        ),
    ]


# --------------------------------------------------------------------------- JSON lines


def test_jsonl_mixed_file(cli: Cli, tmp_path: Path) -> None:
    good = good_set("jl")
    bads = bad_records("jl")
    lines: list[str] = []
    bad: list[Bad] = []

    def add(text: str, expect: Bad | None = None) -> None:
        lines.append(text)
        if expect is not None:
            bad.append(Bad(expect.where.format(n=len(lines)), expect.field, expect.fragment))

    for i, obs in enumerate(good):
        add(json.dumps(obs))
        if i == 1:
            add('{"kind": "sighting", "client_id": "jl-broken",', Bad("line {n}", None, "malformed JSON"))
        if i == 2:
            add("", None)  # a blank line is no record
            add("[1, 2, 3]", Bad("line {n}", None, "not a JSON object"))
        if i < len(bads):
            record, field, fragment = bads[i]
            add(json.dumps(record), Bad("line {n}", field, fragment))
    file = tmp_path / "observations.jsonl"
    file.write_text("\n".join(lines) + "\n")

    result = cli.ingest(file)
    check_run(result, file, accepted=len(good), duplicates=0, bad=bad)
    check_stored(cli.stored(), good)

    again = cli.ingest(file)
    check_run(again, file, accepted=0, duplicates=len(good), bad=bad)
    check_stored(cli.stored(), good)


def test_clean_file_exits_zero_and_rerun_is_all_duplicates(cli: Cli, tmp_path: Path) -> None:
    good = good_set("clean")
    file = tmp_path / "clean.ndjson"
    file.write_text("".join(json.dumps(o) + "\n" for o in good))
    check_run(cli.ingest(file), file, accepted=len(good), duplicates=0, bad=[])
    check_run(cli.ingest(file), file, accepted=0, duplicates=len(good), bad=[])
    check_stored(cli.stored(), good)


def test_same_client_id_with_other_content_in_a_file_is_refused(cli: Cli, tmp_path: Path) -> None:
    first = make("crater", 1, client_id="twice")
    other = {**first, "lat": first["lat"] + 0.5}
    file = tmp_path / "twice.jsonl"
    file.write_text(json.dumps(first) + "\n" + json.dumps(first) + "\n" + json.dumps(other) + "\n")
    result = cli.ingest(file)
    check_run(result, file, accepted=1, duplicates=1, bad=[Bad("line 3", "client_id", "already used")])
    check_stored(cli.stored(), [first])


# --------------------------------------------------------------------------- JSON


def _feature(obs: dict[str, Any]) -> dict[str, Any]:
    props = {k: v for k, v in obs.items() if k not in ("lon", "lat")}
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [obs["lon"], obs["lat"]]},
        "properties": props,
    }


def _json_items(tag: str) -> tuple[list[Any], list[dict[str, Any]], list[Bad]]:
    good = good_set(tag)
    items: list[Any] = []
    bad: list[Bad] = []
    bads = bad_records(tag)
    for i, obs in enumerate(good):
        items.append(obs)
        if i == 0:
            items.append(42)
            bad.append(Bad(f"item {len(items) - 1}", None, "not a JSON object"))
        if i < len(bads):
            record, field, fragment = bads[i]
            items.append(record)
            bad.append(Bad(f"item {len(items) - 1}", field, fragment))
    return items, good, bad


@pytest.mark.parametrize("shape", ["array", "wrapped"])
def test_json_array_and_wrapped(cli: Cli, tmp_path: Path, shape: str) -> None:
    items, good, bad = _json_items(f"js-{shape}")
    doc: Any = items if shape == "array" else {"observations": items}
    file = tmp_path / "observations.json"
    file.write_text(json.dumps(doc, indent=2))
    check_run(cli.ingest(file), file, accepted=len(good), duplicates=0, bad=bad)
    check_stored(cli.stored(), good)
    check_run(cli.ingest(file), file, accepted=0, duplicates=len(good), bad=bad)


def test_json_single_observation(cli: Cli, tmp_path: Path) -> None:
    obs = make("radar_track", 3, client_id="single")
    file = tmp_path / "one.json"
    file.write_text(json.dumps(obs))
    check_run(cli.ingest(file), file, accepted=1, duplicates=0, bad=[])
    check_stored(cli.stored(), [obs])


def _feature_collection(tag: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[Bad]]:
    good = good_set(tag)
    features: list[Any] = []
    bad: list[Bad] = []

    def add_bad(feature: Any, field: str | None, fragment: str) -> None:
        features.append(feature)
        bad.append(Bad(f"feature {len(features) - 1}", field, fragment))

    for i, obs in enumerate(good):
        features.append(_feature(obs))
        if i == 0:
            line = _feature(make("crater", 70, client_id=f"{tag}-line"))
            line["geometry"] = {"type": "LineString", "coordinates": [[37.8, 48.6], [37.9, 48.7]]}
            add_bad(line, None, "Point geometry")
        if i == 1:
            add_bad(
                _feature(make("crater", 71, client_id=f"{tag}-lat", lat=95.0)), "lat", "less than or equal"
            )
        if i == 2:
            naive = make("osint", 72, client_id=f"{tag}-naive", observed_at="2026-03-01T04:12:09")
            add_bad(_feature(naive), "observed_at", "timezone")
        if i == 3:
            wc = make("weapon_presence", 73, client_id=f"{tag}-wc", weapon_class="death_ray")
            add_bad(_feature(wc), "weapon_class", "unknown weapon class")
        if i == 4:
            broken = _feature(make("crater", 74, client_id=f"{tag}-props"))
            broken["properties"] = ["kind", "crater"]
            add_bad(broken, None, "properties must be a JSON object")
        if i == 5:
            add_bad("not a feature", None, "JSON object")
    return {"type": "FeatureCollection", "features": features}, good, bad


@pytest.mark.parametrize("suffix", [".geojson", ".json"])
def test_feature_collection(cli: Cli, tmp_path: Path, suffix: str) -> None:
    doc, good, bad = _feature_collection(f"fc{suffix}")
    file = tmp_path / f"observations{suffix}"
    file.write_text(json.dumps(doc))
    check_run(cli.ingest(file), file, accepted=len(good), duplicates=0, bad=bad)
    check_stored(cli.stored(), good)
    check_run(cli.ingest(file), file, accepted=0, duplicates=len(good), bad=bad)
    check_stored(cli.stored(), good)


def test_geojson_that_is_not_a_feature_collection(cli: Cli, tmp_path: Path) -> None:
    file = tmp_path / "one.geojson"
    file.write_text(json.dumps(_feature(make("crater", 1))))
    check_run(
        cli.ingest(file), file, accepted=0, duplicates=0, bad=[Bad("document", None, "FeatureCollection")]
    )
    assert cli.stored() == {}


def test_malformed_json_document(cli: Cli, tmp_path: Path) -> None:
    file = tmp_path / "broken.json"
    file.write_text(json.dumps([make("crater", 1)])[:-5])
    check_run(cli.ingest(file), file, accepted=0, duplicates=0, bad=[Bad("document", None, "malformed JSON")])
    assert cli.stored() == {}


# --------------------------------------------------------------------------- CSV


def _flatten(obs: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in obs.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        elif isinstance(value, list):
            out[name] = ";".join(value)
        elif value is None:
            out[name] = ""
        else:
            out[name] = str(value)
    return out


class CsvFile:
    """Writes rows and remembers the physical line each starts on (header is line 1)."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self.buf = io.StringIO()
        self.writer = csv.writer(self.buf)
        self.writer.writerow(columns)
        self.raw_lines: list[tuple[int, bytes]] = []  # (index in text, raw bytes) spliced in at the end

    @property
    def next_line(self) -> int:
        return self.buf.getvalue().count("\n") + 1

    def row(self, obs: dict[str, Any]) -> int:
        line = self.next_line
        flat = _flatten(obs)
        unknown = set(flat) - set(self.columns)
        assert not unknown, unknown
        self.writer.writerow([flat.get(c, "") for c in self.columns])
        return line

    def cells(self, cells: list[str]) -> int:
        line = self.next_line
        self.writer.writerow(cells)
        return line

    def raw(self, data: bytes) -> int:
        """A line of raw bytes (e.g. not UTF-8), written as is."""
        line = self.next_line
        self.raw_lines.append((len(self.buf.getvalue()), data))
        self.buf.write("\r\n")
        return line

    def bytes(self, bom: bool = False) -> bytes:
        text = self.buf.getvalue()
        out, pos = b"\xef\xbb\xbf" if bom else b"", 0
        for at, data in self.raw_lines:
            out += text[pos:at].encode() + data
            pos = at
        return out + text[pos:].encode()


CSV_KINDS = [k for k in KINDS if k != "air_track"]  # a track's points are a list of objects: not tabular


def _csv_columns(observations: list[dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for obs in observations:
        for key in _flatten(obs):
            if key not in columns:
                columns.append(key)
    return [*columns, "note"]


def test_csv_mixed_file(cli: Cli, tmp_path: Path) -> None:
    good = [make(kind, i, client_id=f"csv-{kind}") for i, kind in enumerate(CSV_KINDS)]
    shared = make(
        "sighting", 40, client_id="csv-shared", releasability="sharing_group", rel_to=["FR", "DE", "PL"]
    )
    shared["distance_band"] = {"min_m": 100, "max_m": 250.5}
    good.append(shared)
    # an empty cell is an absent field: no weapon class, no bearing, no distance band
    sparse = make("sighting", 41, client_id="csv-sparse")
    for key in ("weapon_class", "bearing_deg", "distance_band"):
        del sparse[key]
    good.append(sparse)
    multiline = make(
        "crater", 42, client_id="csv-multiline", note="first line of the note\nsecond line, with a comma"
    )
    good.append(multiline)
    bads = bad_records("csv")
    f = CsvFile(_csv_columns([*good, *(b[0] for b in bads)]))

    bad: list[Bad] = []
    for obs in good[:4]:
        f.row(obs)
    bad.append(Bad(f"line {f.row(bads[0][0])}", bads[0][1], bads[0][2]))
    f.row(multiline)  # two physical lines: the next record's number must count both
    bad.append(Bad(f"line {f.row(bads[1][0])}", bads[1][1], bads[1][2]))
    too_many = _flatten(make("crater", 43, client_id="csv-too-many"))
    cells = [too_many.get(c, "") for c in f.columns] + ["one cell too many"]
    bad.append(Bad(f"line {f.cells(cells)}", None, "more cells than header columns"))
    for obs in good[4:8]:
        f.row(obs)
    latin1 = "crater,csv-latin1,op-12,US,2026-03-01T04:12:09Z,café".encode("latin-1")
    bad.append(Bad(f"line {f.raw(latin1)}", None, "UTF-8"))
    bad.append(Bad(f"line {f.row(bads[2][0])}", bads[2][1], bads[2][2]))
    for obs in good[8:]:
        if obs is not multiline:
            f.row(obs)
    bad.append(Bad(f"line {f.row(bads[3][0])}", bads[3][1], bads[3][2]))
    file = tmp_path / "observations.csv"
    file.write_bytes(f.bytes(bom=True))

    result = cli.ingest(file)
    check_run(result, file, accepted=len(good), duplicates=0, bad=bad)
    stored = cli.stored()
    check_stored(stored, good, absent={"csv-sparse": {"weapon_class", "bearing_deg", "distance_band"}})
    assert stored["csv-shared"]["rel_to"] == ["FR", "DE", "PL"]
    assert stored["csv-multiline"]["note"] == multiline["note"]

    check_run(cli.ingest(file), file, accepted=0, duplicates=len(good), bad=bad)
    assert cli.stored() == stored


def test_csv_and_json_of_the_same_observations_are_the_same_content(cli: Cli, tmp_path: Path) -> None:
    good = [make(kind, i, client_id=f"same-{kind}") for i, kind in enumerate(CSV_KINDS)]
    f = CsvFile(_csv_columns(good))
    for obs in good:
        f.row(obs)
    csv_file = tmp_path / "same.csv"
    csv_file.write_bytes(f.bytes())
    jsonl_file = tmp_path / "same.jsonl"
    jsonl_file.write_text("".join(json.dumps(o) + "\n" for o in good))
    check_run(cli.ingest(csv_file), csv_file, accepted=len(good), duplicates=0, bad=[])
    # the values typed as text in the CSV mean the same as the JSON numbers: duplicates, not conflicts
    check_run(cli.ingest(jsonl_file), jsonl_file, accepted=0, duplicates=len(good), bad=[])


# --------------------------------------------------------------------------- format choice


def test_format_option_overrides_the_extension(cli: Cli, tmp_path: Path) -> None:
    good = good_set("fmt")
    text = "".join(json.dumps(o) + "\n" for o in good)
    misnamed = tmp_path / "observations.json"  # JSON lines in a .json file
    misnamed.write_text(text)
    as_json = cli.ingest(misnamed)
    check_run(as_json, misnamed, accepted=0, duplicates=0, bad=[Bad("document", None, "malformed JSON")])
    assert cli.stored() == {}
    check_run(cli.ingest(misnamed, "--format", "jsonl"), misnamed, accepted=len(good), duplicates=0, bad=[])
    check_stored(cli.stored(), good)

    odd = tmp_path / "observations.txt"
    odd.write_text(json.dumps({"observations": good}))
    check_run(cli.ingest(odd, "--format", "json"), odd, accepted=0, duplicates=len(good), bad=[])


@pytest.mark.parametrize("name", ["observations.txt", "observations", "report[b].dat"])
def test_unknown_extension_without_format_exits_2(cli: Cli, tmp_path: Path, name: str) -> None:
    file = tmp_path / name
    file.write_text(json.dumps(make("crater", 1)) + "\n")
    result = cli.ingest(file)
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert f"cannot tell the format of {name!r}" in message
    assert "--format" in message and "jsonl" in message and "csv" in message
    assert "Traceback" not in result.output
    assert not SUMMARY.search(result.stdout)
    assert cli.stored() == {}


def test_unknown_format_option_exits_2(cli: Cli, tmp_path: Path) -> None:
    file = tmp_path / "observations.jsonl"
    file.write_text(json.dumps(make("crater", 1)) + "\n")
    result = cli.ingest(file, "--format", "xml")
    assert result.exit_code == 2
    assert "--format must be one of" in result.stderr
    assert cli.stored() == {}


@pytest.mark.parametrize("target", ["missing.jsonl", "a-directory.jsonl"])
def test_missing_file_or_directory_is_a_usage_error(cli: Cli, tmp_path: Path, target: str) -> None:
    path = tmp_path / target
    if target.startswith("a-directory"):
        path.mkdir()
    result = cli.ingest(path)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".geojson", ".csv"])
def test_byte_order_mark_is_ignored(cli: Cli, tmp_path: Path, suffix: str) -> None:
    obs = make("crater", 5, client_id=f"bom{suffix}")
    body: dict[str, Callable[[], bytes]] = {
        ".jsonl": lambda: (json.dumps(obs) + "\n").encode(),
        ".json": lambda: json.dumps([obs]).encode(),
        ".geojson": lambda: json.dumps({"type": "FeatureCollection", "features": [_feature(obs)]}).encode(),
        ".csv": lambda: _csv_one(obs),
    }
    file = tmp_path / f"bom{suffix}"
    file.write_bytes(b"\xef\xbb\xbf" + body[suffix]())
    check_run(cli.ingest(file), file, accepted=1, duplicates=0, bad=[])
    check_stored(cli.stored(), [obs])


def _csv_one(obs: dict[str, Any]) -> bytes:
    f = CsvFile(_csv_columns([obs]))
    f.row(obs)
    return f.bytes()


# --------------------------------------------------------------------------- a large file


def _large_lines(n: int, bad_at: dict[int, str], dup_of: dict[int, int]) -> Iterator[str]:
    for line in range(1, n + 1):
        if line in bad_at:
            yield bad_at[line]
        elif line in dup_of:
            yield json.dumps(make("crater", dup_of[line], client_id=f"big-{dup_of[line]}"))
        else:
            yield json.dumps(make("crater", line, client_id=f"big-{line}"))


def test_large_file_is_ingested_across_chunks(cli: Cli, tmp_path: Path) -> None:
    n, chunk = 12_000, 5000
    bad_at = {
        7321: json.dumps(make("crater", 7321, client_id="big-7321", lat=-91)),  # second chunk
        11_999: '{"kind": "crater"',  # third chunk, unreadable
    }
    dup_of = {10_500: 3}  # same record as line 3, two chunks later
    file = tmp_path / "big.jsonl"
    file.write_text("\n".join(_large_lines(n, bad_at, dup_of)) + "\n")

    result = cli.ingest(file, "--chunk", str(chunk))
    expected_good = n - len(bad_at) - len(dup_of)
    check_run(
        result,
        file,
        accepted=expected_good,
        duplicates=len(dup_of),
        bad=[
            Bad("line 7321", "lat", "greater than or equal to -90"),
            Bad("line 11999", None, "malformed JSON"),
        ],
    )
    stored = cli.stored()
    assert len(stored) == expected_good
    assert "big-7321" not in stored and "big-10500" not in stored
    assert {"big-1", "big-5000", "big-5001", "big-10000", "big-10001", "big-12000"} <= set(stored)
    assert stored["big-12000"]["lon"] == make("crater", 12_000)["lon"]


# --------------------------------------------------------------------------- records the store cannot take


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"supersedes": ""}, "supersedes"),  # empty: neither "no parent" nor an id that exists
        ({"supersedes": "   "}, "supersedes"),
        ({"observed_at": "0001-01-01T00:00:00+01:00"}, "observed_at"),  # before year 1 once in UTC
        ({"observed_until": "9999-12-31T23:59:59-01:00"}, "observed_until"),  # after year 9999 in UTC
    ],
    ids=repr,
)
def test_a_record_the_store_cannot_take_is_refused_and_the_run_goes_on(
    cli: Cli, tmp_path: Path, change: dict[str, Any], field: str
) -> None:
    before = make("crater", 1, client_id="around-1")
    odd = make("crater", 2, client_id="odd", **change)
    after = make("crater", 3, client_id="around-3")
    file = tmp_path / "odd.jsonl"
    file.write_text("".join(json.dumps(o) + "\n" for o in (before, odd, after)))
    result = cli.ingest(file)
    check_run(result, file, accepted=2, duplicates=0, bad=[Bad("line 2", field, "")])
    check_stored(cli.stored(), [before, after])
