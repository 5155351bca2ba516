"""The agreement as data: validation with located errors, versioning, loading by CLI and API."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from garant.cli import app as cli_app
from garant.domain.access import OrgKind, Role
from garant.domain.agreement import Agreement
from garant.services.agreements import AgreementFileError, load_agreement_file, parse_agreement_text
from garant.store.agreements import AgreementVersionConflict, current_agreement, list_agreements
from garant.store.db import Database

from .conftest import make_principal


def _write(tmp_path: Path, data: dict[str, Any], name: str = "agreement.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _line_of(path: Path, needle: str) -> int:
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in {path}")


def test_demo_agreement_is_valid(demo_agreement_data: dict[str, Any]) -> None:
    agreement = Agreement.model_validate(demo_agreement_data)
    assert agreement.party_codes() == {"UA", "RU"}
    assert {z.kind for z in agreement.zones} >= {"buffer", "withdrawal", "airspace"}
    withdrawal = {z.weapon_class: z.distance_km for z in agreement.zones if z.kind == "withdrawal"}
    assert 70 in withdrawal.values() and 25 in withdrawal.values()  # Minsk II: 140 km and 50 km zones


def test_unclosed_polygon_is_located(tmp_path: Path, demo_agreement_data: dict[str, Any]) -> None:
    data = copy.deepcopy(demo_agreement_data)
    area = data["control_areas"]["UA"]
    ring = area["coordinates"][0] if area["type"] == "Polygon" else area["coordinates"][0][0]
    ring[-1] = [ring[-1][0] + 0.5, ring[-1][1]]
    path = _write(tmp_path, data)
    with pytest.raises(AgreementFileError) as info:
        parse_agreement_text(path.read_text(), str(path))
    problem = info.value.problems[0]
    assert problem.path.startswith("control_areas.UA.coordinates")
    assert "not closed" in problem.reason
    assert problem.line is not None and problem.line >= _line_of(path, "control_areas:")
    assert str(path) in str(info.value)


def test_unknown_weapon_class_is_located(tmp_path: Path, demo_agreement_data: dict[str, Any]) -> None:
    data = copy.deepcopy(demo_agreement_data)
    index = next(i for i, z in enumerate(data["zones"]) if z["kind"] == "withdrawal")
    data["zones"][index]["weapon_class"] = "trebuchet"
    path = _write(tmp_path, data)
    with pytest.raises(AgreementFileError) as info:
        parse_agreement_text(path.read_text(), str(path))
    problem = info.value.problems[0]
    assert problem.path == f"zones[{index}].weapon_class"
    assert "unknown weapon class 'trebuchet'" in problem.reason
    assert problem.line == _line_of(path, "weapon_class: trebuchet")


@pytest.mark.parametrize(
    ("mutate", "path_fragment", "reason_fragment"),
    [
        (lambda d: d.update(positive_side="XX"), "", "positive_side 'XX' is not a party"),
        (lambda d: d.update(entry_into_force="2026-02-01T00:00:00"), "entry_into_force", "UTC offset"),
        (lambda d: d["parties"].append(dict(d["parties"][0])), "parties[2]", "duplicate party code"),
        (
            lambda d: d["contact_line"].update(coordinates=[[30.0, 95.0], [31, 48]]),
            "contact_line",
            "latitude",
        ),
        (lambda d: d.pop("provisions"), "provisions", "Field required"),
    ],
)
def test_other_bad_agreements(
    demo_agreement_data: dict[str, Any], mutate: Any, path_fragment: str, reason_fragment: str
) -> None:
    data = copy.deepcopy(demo_agreement_data)
    mutate(data)
    with pytest.raises(AgreementFileError) as info:
        parse_agreement_text(yaml.safe_dump(data), "x.yaml")
    problems = info.value.problems
    assert any(p.path.startswith(path_fragment) and reason_fragment in p.reason for p in problems), problems


def test_not_yaml_reports_the_line() -> None:
    with pytest.raises(AgreementFileError) as info:
        parse_agreement_text("id: a\nversion: [1,\n", "broken.yaml")
    assert info.value.problems[0].line == 3  # where the unclosed flow sequence runs out
    assert "not valid YAML" in info.value.problems[0].reason


def test_versions_never_rewrite(db: Database, tmp_path: Path, demo_agreement_data: dict[str, Any]) -> None:
    v1 = _write(tmp_path, demo_agreement_data, "v1.yaml")
    assert load_agreement_file(db, v1).created
    assert not load_agreement_file(db, v1).created  # identical again: no-op
    changed = copy.deepcopy(demo_agreement_data)
    changed["title"] = "amended"
    with pytest.raises(AgreementVersionConflict):
        load_agreement_file(db, _write(tmp_path, changed, "v1b.yaml"))
    changed["version"] = demo_agreement_data["version"] + 1
    assert load_agreement_file(db, _write(tmp_path, changed, "v2.yaml")).created
    with db.read() as conn:
        keys = [r["key"] for r in list_agreements(conn)]
        current = current_agreement(conn)
    assert keys == [f"{changed['id']}@{changed['version'] - 1}", f"{changed['id']}@{changed['version']}"]
    assert current is not None and current.title == "amended"
    with db.read() as conn:
        from garant.store.agreements import get_agreement

        old = get_agreement(conn, keys[0])
    assert old is not None and old.title == demo_agreement_data["title"]


def test_cli_load_reports_file_line_path_reason(
    tmp_path: Path, demo_agreement_data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GARANT_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    data = copy.deepcopy(demo_agreement_data)
    index = next(i for i, z in enumerate(data["zones"]) if z["kind"] == "withdrawal")
    data["zones"][index]["weapon_class"] = "trebuchet"
    bad = _write(tmp_path, data, "bad.yaml")
    result = CliRunner().invoke(cli_app, ["agreement", "load", str(bad)])
    assert result.exit_code == 2
    line = _line_of(bad, "trebuchet")
    assert f"{bad}:{line}: zones[{index}].weapon_class: unknown weapon class 'trebuchet'" in result.output
    good = _write(tmp_path, demo_agreement_data, "good.yaml")
    result = CliRunner().invoke(cli_app, ["agreement", "load", str(good)])
    assert result.exit_code == 0, result.output
    assert f"{demo_agreement_data['id']}@{demo_agreement_data['version']} stored" in result.output


def test_api_agreement_endpoints(client: TestClient, demo_agreement_data: dict[str, Any]) -> None:
    key = f"{demo_agreement_data['id']}@{demo_agreement_data['version']}"
    assert client.get("/api/v1/agreements/current").json()["id"] == demo_agreement_data["id"]
    assert client.get(f"/api/v1/agreements/{key}").status_code == 200
    assert client.get("/api/v1/agreements/nope@1").status_code == 404
    layers = client.get("/api/v1/agreement/geojson").json()
    assert layers["properties"]["agreement"] == key
    kinds = {f["properties"]["layer"] for f in layers["features"]}
    assert kinds == {"contact_line", "control_area", "zone"}
    bad = copy.deepcopy(demo_agreement_data)
    bad["version"] += 1
    index = next(i for i, z in enumerate(bad["zones"]) if z["kind"] == "withdrawal")
    bad["zones"][index]["weapon_class"] = "trebuchet"
    # a monitor may not load agreements; the coordination cell may
    denied = client.post("/api/v1/agreements", json=demo_agreement_data)
    assert denied.status_code == 403 and denied.headers["content-type"] == "application/problem+json"
    db = client.app.state.garant.db  # type: ignore[attr-defined]
    coordinator = {
        "Authorization": "Bearer "
        + make_principal(db, "coord", Role.COORDINATOR, "CELL", OrgKind.COORDINATION)
    }
    r = client.post(
        "/api/v1/agreements",
        content=yaml.safe_dump(bad),
        headers={"content-type": "application/yaml", **coordinator},
    )
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == f"zones[{index}].weapon_class"
    same = client.post("/api/v1/agreements", json=demo_agreement_data, headers=coordinator)
    assert same.status_code == 200 and same.json()["created"] is False
    changed = {**demo_agreement_data, "title": "other"}
    assert client.post("/api/v1/agreements", json=changed, headers=coordinator).status_code == 409
