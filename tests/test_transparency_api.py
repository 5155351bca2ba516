"""`/api/v1/log`: what a client needs to check the log without trusting the server."""

from __future__ import annotations

import base64
import hashlib
import io

import orjson
import pytest
from fastapi.testclient import TestClient

from garant.transparency import merkle
from garant.transparency.note import Verifier, open_checkpoint

from .factories import make


def _b(h: str) -> bytes:
    return base64.b64decode(h)


def _verifiers(client: TestClient) -> list[Verifier]:
    keys = client.get("/api/v1/log/keys").json()["keys"]
    assert keys, "the log publishes its keys"
    return [Verifier.parse(k["vkey"]) for k in keys]


def test_checkpoint_is_a_signed_note_over_the_current_tree(client: TestClient) -> None:
    body = client.get("/api/v1/log/checkpoint").json()
    cp, _ = open_checkpoint(body["note"], _verifiers(client), body["origin"])
    assert cp.size == body["tree_size"] > 1_000  # the demo: one agreement, its simulated observations
    assert cp.root_hash == _b(body["root_hash"])


def test_inclusion_of_a_record_by_id_leads_to_the_signed_root(client: TestClient) -> None:
    obs = client.get("/api/v1/observations", params={"limit": 3}).json()["features"][2]
    proof = client.get("/api/v1/log/proof/inclusion", params={"record_id": obs["id"]}).json()
    cp, _ = open_checkpoint(client.get("/api/v1/log/checkpoint").json()["note"], _verifiers(client))
    assert proof["tree_size"] == cp.size
    leaf = client.get(
        "/api/v1/log/leaves", params={"start": proof["leaf_index"], "end": proof["leaf_index"] + 1}
    )
    data = leaf.json()["leaves"][0]["data"].encode()
    # the leaf is the record: recompute its hash from the data and check the record's content
    assert merkle.leaf_hash(data) == _b(proof["leaf_hash"])
    doc = orjson.loads(data)
    assert doc["id"] == obs["id"] and doc["record_type"] == "observation"
    assert doc["payload"]["client_id"] == obs["properties"]["client_id"]
    path = [_b(h) for h in proof["inclusion_proof"]]
    merkle.verify_inclusion(proof["leaf_index"], cp.size, merkle.leaf_hash(data), path, cp.root_hash)
    by_index = client.get("/api/v1/log/proof/inclusion", params={"leaf_index": proof["leaf_index"]}).json()
    assert by_index == proof


def test_a_new_record_gets_a_fresh_checkpoint_and_the_log_stays_consistent(client: TestClient) -> None:
    verifiers = _verifiers(client)
    before, _ = open_checkpoint(client.get("/api/v1/log/checkpoint").json()["note"], verifiers)
    created = client.post("/api/v1/observations", json=[make("crater", i) for i in range(3)])
    assert created.status_code == 201
    new_id = created.json()["results"][0]["id"]
    # the newest record is not yet under a checkpoint if the interval has not passed: asking for
    # its proof signs one, so the proof always leads to a signed root
    proof = client.get("/api/v1/log/proof/inclusion", params={"record_id": new_id}).json()
    after, _ = open_checkpoint(client.get("/api/v1/log/checkpoint").json()["note"], verifiers)
    assert after.size == before.size + 3 == proof["tree_size"]
    cons = client.get("/api/v1/log/proof/consistency", params={"first": before.size, "second": after.size})
    path = [_b(h) for h in cons.json()["consistency_proof"]]
    merkle.verify_consistency(before.size, after.size, path, before.root_hash, after.root_hash)


def test_leaves_by_range_carry_the_data_that_hashes_to_each_leaf(client: TestClient) -> None:
    body = client.get("/api/v1/log/leaves", params={"start": 0, "end": 50}).json()
    leaves = body["leaves"]
    assert [x["leaf_index"] for x in leaves] == list(range(min(50, body["tree_size"])))
    assert leaves[0]["record_type"] == "agreement"
    for x in leaves:
        assert hashlib.sha256(b"\x00" + x["data"].encode()).digest() == _b(x["leaf_hash"])


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/api/v1/log/proof/inclusion", {"record_id": "no-such-id"}, 404, None),
        ("/api/v1/log/proof/inclusion", {"leaf_index": 10_000}, 404, None),
        ("/api/v1/log/proof/inclusion", {}, 422, "leaf_index"),
        ("/api/v1/log/proof/inclusion", {"leaf_index": 1, "record_id": "x"}, 422, "leaf_index"),
        ("/api/v1/log/proof/inclusion", {"leaf_index": 40, "tree_size": 10}, 422, "tree_size"),
        ("/api/v1/log/proof/inclusion", {"leaf_index": 1, "tree_size": 10_000}, 422, "tree_size"),
        ("/api/v1/log/proof/consistency", {"first": 30, "second": 10}, 422, "first"),
        ("/api/v1/log/proof/consistency", {"first": 1, "second": 10_000}, 422, "tree_size"),
        ("/api/v1/log/leaves", {"start": 0, "end": 5000}, 422, "end"),
        ("/api/v1/log/leaves", {"start": 10, "end": 5}, 422, "end"),
        ("/api/v1/log/leaves", {"start": -1}, 422, "start"),
    ],
)
def test_bad_requests_are_problems_naming_the_field(
    client: TestClient, path: str, params: dict[str, object], status: int, field: str | None
) -> None:
    r = client.get(path, params=params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    if field:
        assert field in {e["field"] for e in r.json()["errors"]}


def test_a_bundle_from_the_api_verifies_offline(client: TestClient) -> None:
    from garant.transparency.bundle import verify_bundle

    ids = [f["id"] for f in client.get("/api/v1/observations", params={"limit": 3}).json()["features"]]
    r = client.get("/api/v1/log/bundle", params={"id": ids})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    report = verify_bundle(io.BytesIO(r.content), _verifiers(client))
    assert report.ok and report.records_verified == 3, report.failures
    assert client.get("/api/v1/log/bundle", params={"id": [*ids, "no-such-id"]}).status_code == 404
