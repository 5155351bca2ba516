"""Observation intake: validate each item, keep the good ones, say exactly which failed.

The promises: a batch keeps its good items; a client id makes every write idempotent (same id
and same content returns the same result, same id with other content is a conflict); what is
accepted is stored exactly as it was accepted and never changed; a correction is a new
observation that `supersedes` an old one of the same source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

import orjson
from pydantic import ValidationError
from sqlalchemy import Connection

from garant.domain.access import Principal
from garant.domain.agreement import Agreement
from garant.domain.canonical import sha256_hex
from garant.domain.ids import new_ids
from garant.domain.observations import (
    OBSERVATION_LIST_ADAPTER,
    ObservationBase,
    ObservationKind,
    accepted_documents,
)
from garant.domain.paths import dotted_path
from garant.store import log as log_store
from garant.store import observations as obs_store
from garant.store.access import visible_ids
from garant.store.agreements import current_agreement
from garant.store.db import Database
from garant.store.zorder import zkey, zkeys_of
from garant.transparency.leaves import observation_leaves
from garant.transparency.merkle import leaf_hash


@dataclass(frozen=True)
class FieldProblem:
    """One reason an item was refused: `field` is a dotted path inside the item."""

    field: str
    reason: str


@dataclass(frozen=True)
class ItemError:
    index: int
    status: int  # 422 invalid, 409 client id reused with other content, 403 not the submitter's
    client_id: str | None
    problems: tuple[FieldProblem, ...]


@dataclass(frozen=True)
class ItemResult:
    index: int
    status: Literal["created", "duplicate"]
    id: str
    client_id: str


@dataclass
class BatchOutcome:
    results: list[ItemResult] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)

    @property
    def created(self) -> int:
        return sum(1 for r in self.results if r.status == "created")

    @property
    def duplicates(self) -> int:
        return sum(1 for r in self.results if r.status == "duplicate")

    @property
    def rejected(self) -> int:
        return len(self.errors)


_KIND_TAGS = frozenset(k.value for k in ObservationKind)


def problems_from_errors(errors: Sequence[Any]) -> tuple[FieldProblem, ...]:
    """Pydantic errors as (field, reason); the discriminator's tag is dropped from the path."""
    out = []
    for err in errors:
        loc = list(err["loc"])
        if loc and isinstance(loc[0], str) and loc[0] in _KIND_TAGS:
            loc = loc[1:]
        if err["type"] == "union_tag_invalid":
            tag = err.get("ctx", {}).get("tag")
            out.append(
                FieldProblem("kind", f"unknown kind {tag!r}; expected one of {', '.join(sorted(_KIND_TAGS))}")
            )
        elif err["type"] == "union_tag_not_found":
            out.append(FieldProblem("kind", f"missing; one of {', '.join(sorted(_KIND_TAGS))}"))
        else:
            out.append(FieldProblem(dotted_path(loc) or "(item)", err["msg"]))
    return tuple(out)


def validation_context(agreement: Agreement | None) -> dict[str, Any]:
    if agreement is None:
        return {}
    return {"weapon_classes": agreement.weapon_class_codes(), "parties": agreement.party_codes()}


class _Valid(NamedTuple):  # a tuple: made 10,000 times a batch, a frozen dataclass cost 1.5 µs each
    position: int  # the item's index in the batch
    obs: ObservationBase
    payload: str
    digest: str
    document: dict[str, Any]  # the payload as JSON data, for the index columns and the log leaf


_INDEX_FIELDS = (
    "client_id",
    "kind",
    "source_id",
    "nation",
    "lon",
    "lat",
    "location_uncertainty_m",
    "reliability",
    "credibility",
    "releasability",
    "supersedes",
)


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def client_key(nation: Any, client_id: Any) -> str:
    """A sender's client id, scoped by its nation: two nations' ids never collide, so a reused
    id cannot tell one nation that another has sent something (what it sent stays unseen)."""
    return f"{nation}/{client_id}"


def index_columns(payload: dict[str, Any]) -> dict[str, Any]:
    """The table columns that index an accepted payload (kind, source, time, place...).

    One function for intake and for `garant log audit`, which recomputes them from the
    payload to catch an edit of an index column behind Garant's back.
    """
    columns = {name: payload.get(name) for name in _INDEX_FIELDS}
    columns["client_id"] = client_key(payload.get("nation"), payload.get("client_id"))
    columns["observed_at"] = _time(payload.get("observed_at"))
    columns["observed_until"] = _time(payload.get("observed_until"))
    columns["zkey"] = zkey(payload.get("lon"), payload.get("lat"))  # type: ignore[arg-type]
    return columns


def _row(v: _Valid, obs_id: str, agreement_key: str | None, now: datetime) -> dict[str, Any]:
    """A new observation's row: the definition `_row_params` makes faster (tests check they agree)."""
    return {
        **index_columns(v.document),
        "id": obs_id,
        "content_sha256": v.digest,
        "payload": v.payload,
        "agreement_key": agreement_key,
        "received_at": now,
        "rel_to": sorted(set(v.document.get("rel_to", ()))),  # to `observation_rel_to`, not a column
    }


def accepted(validated: Sequence[tuple[int, ObservationBase]]) -> list[_Valid]:
    """Validated (position, model) pairs with their accepted form, its digest and its data."""
    out = []
    documents = accepted_documents([o for _, o in validated])
    for (position, obs), document in zip(validated, documents, strict=True):
        payload = orjson.dumps(document)
        out.append(_Valid(position, obs, payload.decode(), sha256_hex(payload), document))
    return out


def _row_params(
    dialect: str, valid: Sequence[_Valid], ids: Sequence[str], agreement_key: str | None, now: datetime
) -> list[tuple[Any, ...]]:
    """`obs_store.insert_params(dialect, [_row(...) ...])` of a batch, the same tuples built
    straight from the documents: intake's hot path, where building each row's dict and then its
    tuple cost ~15 µs of an observation's ~95 (2026-11-25). The times come from the validated
    models (parsing them again from the document cost ~2 µs), the start times' SQLite text and
    the spatial keys each in one array call."""
    sqlite = dialect == "sqlite"
    received: Any = obs_store.sqlite_time(now) if sqlite else now
    zkeys = zkeys_of([v.document["lon"] for v in valid], [v.document["lat"] for v in valid])
    starts: Sequence[Any] = [v.obs.observed_at for v in valid]
    if sqlite:
        starts = obs_store.sqlite_times(starts)
    out = []
    for v, obs_id, z, at in zip(valid, ids, zkeys, starts, strict=True):
        d = v.document
        until: Any = v.obs.observed_until
        if sqlite and until is not None:
            until = obs_store.sqlite_time(until)
        get = d.get
        out.append(
            (
                obs_id,
                f"{get('nation')}/{get('client_id')}",  # client_key
                v.digest,
                get("kind"),
                get("source_id"),
                get("nation"),
                at,
                until,
                get("lon"),
                get("lat"),
                get("location_uncertainty_m"),
                get("reliability"),
                get("credibility"),
                get("releasability"),
                get("supersedes"),
                agreement_key,
                v.payload,
                received,
                z,
            )
        )
    return out


def _validate_all(
    items: Sequence[Any], context: dict[str, Any], outcome: BatchOutcome
) -> list[tuple[int, ObservationBase]]:
    """Validate the batch in one pass; on errors, record them by index and re-validate the rest.

    One list validation costs far less than one call per item; the errors of the first pass
    already name every bad item, so the second pass (the good ones only) cannot fail.
    """
    candidates: list[int] = []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            candidates.append(index)
        else:
            problem = FieldProblem("(item)", f"an observation is a JSON object, not {type(item).__name__}")
            outcome.errors.append(ItemError(index, 422, None, (problem,)))
    batch = [items[i] for i in candidates]
    try:
        return list(
            zip(candidates, OBSERVATION_LIST_ADAPTER.validate_python(batch, context=context), strict=True)
        )
    except ValidationError as exc:
        by_position: dict[int, list[Any]] = {}
        for err in exc.errors(include_url=False):
            by_position.setdefault(int(err["loc"][0]), []).append({**err, "loc": err["loc"][1:]})
    for pos, errs in sorted(by_position.items()):
        cid = batch[pos].get("client_id")
        problems = problems_from_errors(errs)
        outcome.errors.append(
            ItemError(candidates[pos], 422, cid if isinstance(cid, str) else None, problems)
        )
    keep = [i for pos, i in enumerate(candidates) if pos not in by_position]
    good = OBSERVATION_LIST_ADAPTER.validate_python([items[i] for i in keep], context=context)
    return list(zip(keep, good, strict=True))


def ingest(
    db: Database,
    items: Sequence[Any],
    *,
    agreement: Agreement | None = None,
    submitter: Principal | None = None,
) -> BatchOutcome:
    """Validate and store a batch; every item ends in `results` or in `errors`, by its index.

    A `submitter` (an API caller) may only submit observations of its own nation or
    organisation (`nation`); others are refused item by item (403). Without one (the CLI, run
    by the operator) any nation is accepted.
    """
    if agreement is None:
        with db.read() as conn:
            agreement = current_agreement(conn)
    outcome = BatchOutcome()
    mine = []
    for index, obs in _validate_all(items, validation_context(agreement), outcome):
        if submitter is not None and submitter.kind != "system" and obs.nation != submitter.nation:
            reason = f"you submit for {submitter.nation!r}; observations of {obs.nation!r} are not yours"
            outcome.errors.append(ItemError(index, 403, obs.client_id, (FieldProblem("nation", reason),)))
            continue
        mine.append((index, obs))
    valid = accepted(mine)

    # Everything that needs no lock is prepared before the write transaction: ids, rows, their
    # driver parameters, canonical leaf data and leaf hashes for every valid item (the few
    # duplicates waste their share), so that only the database's own work is serialised.
    # So `received_at` is when the batch was read, before it queued for the writer.
    agreement_key = agreement.key if agreement is not None else None
    now = datetime.now(UTC)
    ids = new_ids(len(valid))
    params = _row_params(db.dialect, valid, ids, agreement_key, now)
    keys = [p[1] for p in params]
    leaves = observation_leaves(ids, now, agreement_key, [v.document for v in valid]) if db.logged else []
    hashes = [leaf_hash(leaf) for leaf in leaves]

    def writes(new: list[int]) -> _Writes:
        # one lock order for every writer, so concurrent batches on PostgreSQL cannot deadlock;
        # the leaves follow the rows, so the log's order is the table's order
        new = sorted(new, key=keys.__getitem__)
        return _Writes(
            [params[at] for at in new],
            [("observation", ids[at], leaves[at]) for at in new] if db.logged else [],
            [hashes[at] for at in new] if db.logged else [],
            [(ids[at], n) for at in new for n in sorted(set(valid[at].document.get("rel_to", ())))],
        )

    # The usual batch (all new, no corrections, no client id twice) is planned before the lock
    # too, in case the store knows none of its client ids: deciding it item by item cost ~5 µs
    # an observation inside the serialised part (2026-12-03).
    plan: tuple[list[ItemResult], _Writes] | None = None
    if len(set(keys)) == len(keys) and not any(v.obs.supersedes for v in valid):
        created = [
            ItemResult(v.position, "created", i, v.obs.client_id) for v, i in zip(valid, ids, strict=True)
        ]
        plan = created, writes(list(range(len(valid))))
    with db.write() as conn:
        # first: on PostgreSQL this queues concurrent writers (the head row is the log's sequencer)
        log = log_store.Appender.open(conn, enabled=db.logged)
        existing = obs_store.find_by_client_ids(conn, keys)
        if plan is not None and not existing:
            results, todo = plan
        else:
            new, results, errors = _sort_out(conn, valid, keys, ids, existing, submitter)
            outcome.errors += errors
            todo = writes(new)
        outcome.results += results
        inserted = obs_store.insert_new(conn, todo.rows)
        if inserted != len(todo.rows):
            # Another writer took some client ids between our check and insert (PostgreSQL only:
            # SQLite writers are serialised). Roll back and let the caller retry cleanly.
            raise ConcurrentIntake(f"{len(todo.rows) - inserted} client ids were taken concurrently")
        if db.logged:
            log.append(todo.entries, todo.hashes)
        obs_store.insert_rel_to(conn, todo.rel_to)
    outcome.results.sort(key=lambda r: r.index)
    outcome.errors.sort(key=lambda e: e.index)
    return outcome


class _Writes(NamedTuple):
    """What a batch writes, in the writers' lock order: rows, log entries and their hashes, REL TO."""

    rows: list[tuple[Any, ...]]
    entries: list[tuple[str, str, bytes]]
    hashes: list[bytes]
    rel_to: list[tuple[str, str]]


def _sort_out(
    conn: Connection,
    valid: Sequence[_Valid],
    keys: Sequence[str],
    ids: Sequence[str],
    existing: dict[str, obs_store.Existing],
    submitter: Principal | None,
) -> tuple[list[int], list[ItemResult], list[ItemError]]:
    """Under the write lock, a batch with replays, reused client ids or corrections: which
    items are new (positions in `valid`), which are duplicates, and which are refused."""
    wanted_parents = {v.obs.supersedes for v in valid if v.obs.supersedes}
    parents = obs_store.find_by_ids(conn, wanted_parents) if wanted_parents else {}
    if submitter is not None and parents:
        # a parent the submitter may not see answers as one that does not exist
        released = visible_ids(conn, submitter, list(parents))
        parents = {k: p for k, p in parents.items() if k in released}
    new: list[int] = []
    results: list[ItemResult] = []
    errors: list[ItemError] = []
    pending: dict[str, tuple[str, str]] = {}  # client key -> (id, digest) of this batch's new ones
    for at, (v, key, obs_id) in enumerate(zip(valid, keys, ids, strict=True)):
        cid = v.obs.client_id
        prior = existing.get(key)
        known = (prior.id, prior.content_sha256) if prior else pending.get(key)
        if known is not None:
            if known[1] == v.digest:
                results.append(ItemResult(v.position, "duplicate", known[0], cid))
            else:
                reason = f"client id {cid!r} was already used for an observation with other content"
                errors.append(ItemError(v.position, 409, cid, (FieldProblem("client_id", reason),)))
            continue
        parent_problem = _check_parent(v.obs, parents)
        if parent_problem is not None:
            errors.append(ItemError(v.position, 422, cid, (parent_problem,)))
            continue
        pending[key] = (obs_id, v.digest)
        new.append(at)
        results.append(ItemResult(v.position, "created", obs_id, cid))
    return new, results, errors


class ConcurrentIntake(Exception):
    """A concurrent batch claimed some of the same client ids; retrying resolves it."""


def ingest_with_retry(
    db: Database,
    items: Sequence[Any],
    *,
    agreement: Agreement | None = None,
    submitter: Principal | None = None,
    attempts: int = 3,
) -> BatchOutcome:
    for attempt in range(attempts):
        try:
            return ingest(db, items, agreement=agreement, submitter=submitter)
        except Exception as exc:
            if (
                not (isinstance(exc, ConcurrentIntake) or obs_store.is_transient(exc))
                or attempt == attempts - 1
            ):
                raise
    raise AssertionError("unreachable")


def _check_parent(obs: ObservationBase, parents: dict[str, obs_store.Existing]) -> FieldProblem | None:
    if not obs.supersedes:
        return None
    parent = parents.get(obs.supersedes)
    if parent is None:
        return FieldProblem("supersedes", f"no observation with id {obs.supersedes!r}")
    if parent.source_id != obs.source_id:
        return FieldProblem(
            "supersedes",
            f"observation {obs.supersedes!r} is from source {parent.source_id!r}; "
            "only its own source may correct it",
        )
    return None
