"""`/api/v1/log`: the transparency log's checkpoint, proofs, leaves and keys.

Hashes travel as base64 (as in C2SP checkpoints). Checkpoints, keys and leaf hashes are
public (the tree's shape tells only how many records there are); a leaf's record id and data,
and proofs by record id, only reach callers the record is released to. Proofs default to the
size of the latest signed checkpoint; a leaf newer than that gets a fresh checkpoint signed
first, so every proof this API returns leads to a root someone has signed.
"""

from __future__ import annotations

import base64
import io
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import Connection

from garant.api.auth import Caller, require
from garant.api.problems import Problem
from garant.api.state import AppState, app_state
from garant.domain.access import Permission, Principal
from garant.services.bundles import export_bundle
from garant.services.log_records import record_leaf
from garant.store import log as log_store
from garant.store.access import visible_ids
from garant.transparency import merkle
from garant.transparency.leaves import timestamp

router = APIRouter(
    prefix="/api/v1/log", tags=["transparency log"], dependencies=[Depends(require(Permission.READ_LOG))]
)
MAX_LEAVES = 1000


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode()


def _query_problem(field: str, reason: str, status: int = 422) -> Problem:
    return Problem(status, reason, errors=[{"in": "query", "pointer": "", "field": field, "reason": reason}])


def _checkpoint_body(cp: log_store.StoredCheckpoint, origin: str) -> dict[str, Any]:
    return {
        "origin": origin,
        "tree_size": cp.tree_size,
        "root_hash": _b64(cp.root_hash),
        "key_name": cp.key_name,
        "key_id": cp.key_id,
        "signed_at": timestamp(cp.signed_at),
        "note": cp.note,
    }


def _signed_size_covering(state: AppState, size: int) -> log_store.StoredCheckpoint:
    """The latest checkpoint, signed anew if it does not yet cover `size` leaves."""
    with state.db.read() as conn:
        cp = log_store.latest_checkpoint(conn)
    if cp is None or cp.tree_size < size:
        cp = state.checkpointer.sign_now()
    return cp


@router.get("/checkpoint", summary="The latest signed checkpoint (C2SP signed note) and its fields")
async def checkpoint(state: AppState = Depends(app_state)) -> Response:
    cp = await run_in_threadpool(_signed_size_covering, state, 0)
    return _json(_checkpoint_body(cp, state.settings.log_origin))


@router.get("/keys", summary="Every public key this log has signed with (C2SP verifier keys)")
def keys(state: AppState = Depends(app_state)) -> Response:
    _ = state.checkpointer  # the node's key is on the record from the first request on
    with state.db.read() as conn:
        rows = log_store.list_keys(conn)
    return _json({"keys": [{**r, "created_at": timestamp(r["created_at"])} for r in rows]})


def _tree_size(state: AppState, requested: int | None, needed: int) -> int:
    if requested is not None:
        with state.db.read() as conn:
            size = log_store.tree_size(conn)
        if requested > size:
            raise _query_problem("tree_size", f"the log has {size} leaves, fewer than {requested}")
        return requested
    return _signed_size_covering(state, needed).tree_size


def _released(conn: Connection, who: Principal, refs: list[log_store.LeafRef]) -> set[tuple[str, str]]:
    """Which of these leaves' records the caller may see (observations by need-to-know; the
    agreement and the log's keys are public)."""
    obs_ids = [r.record_id for r in refs if r.record_type == "observation"]
    seen = {("observation", i) for i in visible_ids(conn, who, obs_ids)}
    return seen | {(r.record_type, r.record_id) for r in refs if r.record_type != "observation"}


def _inclusion(
    state: AppState,
    who: Principal,
    leaf_index: int | None,
    record_type: str,
    record_id: str | None,
    tree_size: int | None,
) -> dict[str, Any]:
    if (leaf_index is None) == (record_id is None):
        raise _query_problem("leaf_index", "give either leaf_index or record_id")
    with state.db.read() as conn:
        if record_id is not None:
            ref = log_store.find_leaf(conn, record_type, record_id)
            if ref is None or not _released(conn, who, [ref]):  # unreleased answers as absent
                raise Problem(404, f"no {record_type} {record_id!r} in the log")
        else:
            assert leaf_index is not None
            found = log_store.leaves_in_range(conn, leaf_index, leaf_index + 1)
            if not found:
                raise Problem(404, f"no leaf {leaf_index} in the log")
            ref = found[0]
        shown = bool(_released(conn, who, [ref]))
    size = _tree_size(state, tree_size, ref.index + 1)
    if ref.index >= size:
        raise _query_problem("tree_size", f"leaf {ref.index} is not in a tree of size {size}")
    with state.db.read() as conn:
        proof = merkle.inclusion_proof(ref.index, size, lambda nodes: log_store.read_nodes(conn, nodes))
    return {  # a leaf whose record is not released to the caller shows only its hash
        "record_type": ref.record_type if shown else None,
        "record_id": ref.record_id if shown else None,
        "leaf_index": ref.index,
        "leaf_hash": _b64(ref.leaf_hash),
        "tree_size": size,
        "inclusion_proof": [_b64(h) for h in proof],
    }


@router.get("/proof/inclusion", summary="Inclusion proof of a record (by id) or a leaf (by index)")
async def inclusion(
    who: Caller,
    state: AppState = Depends(app_state),
    leaf_index: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    record_type: Annotated[str, Query(max_length=32)] = "observation",
    record_id: Annotated[str | None, Query(max_length=128)] = None,
    tree_size: Annotated[int | None, Query(ge=1, le=2**62, description="default: latest checkpoint")] = None,
) -> Response:
    body = await run_in_threadpool(_inclusion, state, who, leaf_index, record_type, record_id, tree_size)
    return _json(body)


def _consistency(state: AppState, first: int, second: int | None) -> dict[str, Any]:
    size = _tree_size(state, second, first)
    if first > size:
        raise _query_problem("first", f"first ({first}) is larger than second ({size})")
    with state.db.read() as conn:
        proof = merkle.consistency_proof(first, size, lambda nodes: log_store.read_nodes(conn, nodes))
    return {"first": first, "second": size, "consistency_proof": [_b64(h) for h in proof]}


@router.get("/proof/consistency", summary="Consistency proof between two tree sizes")
async def consistency(
    state: AppState = Depends(app_state),
    first: Annotated[int, Query(ge=0, le=2**62)] = 0,
    second: Annotated[int | None, Query(ge=0, le=2**62, description="default: latest checkpoint")] = None,
) -> Response:
    return _json(await run_in_threadpool(_consistency, state, first, second))


@router.get("/leaves", summary="Leaves by index range [start, end): record, leaf hash and leaf data")
def leaves(
    who: Caller,
    state: AppState = Depends(app_state),
    start: Annotated[int, Query(ge=0, le=2**62)] = 0,
    end: Annotated[int | None, Query(ge=0, le=2**62, description=f"default: start + {MAX_LEAVES}")] = None,
) -> Response:
    end = start + MAX_LEAVES if end is None else end
    if end < start:
        raise _query_problem("end", "end is before start")
    if end - start > MAX_LEAVES:
        raise _query_problem("end", f"at most {MAX_LEAVES} leaves per request")
    with state.db.read() as conn:
        out = []
        refs = log_store.leaves_in_range(conn, start, end)
        released = _released(conn, who, refs)
        for ref in refs:
            shown = (ref.record_type, ref.record_id) in released
            data = record_leaf(conn, ref.record_type, ref.record_id) if shown else None
            out.append(
                {
                    "leaf_index": ref.index,
                    "record_type": ref.record_type if shown else None,
                    "record_id": ref.record_id if shown else None,
                    "leaf_hash": _b64(ref.leaf_hash),
                    "data": None if data is None else data.decode(),
                }
            )
        size = log_store.tree_size(conn)
    return _json({"tree_size": size, "leaves": out})


@router.get(
    "/bundle",
    summary="An evidence bundle (zip) of observations: records, inclusion proofs, signed checkpoint",
    responses={200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def bundle(
    who: Caller,
    ids: Annotated[
        list[str], Query(alias="id", min_length=1, max_length=1000, description="observation ids")
    ],
    state: AppState = Depends(app_state),
) -> Response:
    """Verify offline with `garant bundle verify` or `python -m garant.transparency.bundle`. Only
    records released to the caller go in; any other id answers as an absent one (404)."""
    data = await run_in_threadpool(_bundle, state, who, ids)
    headers = {"Content-Disposition": 'attachment; filename="garant-evidence.zip"'}
    return Response(data, media_type="application/zip", headers=headers)


def _bundle(state: AppState, who: Principal, ids: list[str]) -> bytes:
    wanted = list(dict.fromkeys(ids))
    with state.db.read() as conn:
        released = visible_ids(conn, who, wanted)
    missing = [i for i in wanted if i not in released]
    if missing:
        raise Problem(404, f"no observation {missing[0]!r} in the log")
    out = io.BytesIO()
    export_bundle(state.db, state.checkpointer, out, [("observation", i) for i in wanted])
    return out.getvalue()
