"""Intake's fast batch path writes exactly the bytes the one-at-a-time definitions give.

The accepted form (`observation_json`) is what a client id's content digest is taken over,
so a replay after an upgrade must hash the same; the leaf (`observation_leaf`) is what the
transparency log commits to. Intake makes both for a whole batch at once
(`accepted_documents`, `observation_leaves`); these tests hold them to the definitions on
every kind, on awkward text and numbers, and on the demo's observations.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from garant.domain.ids import new_ids
from garant.domain.observations import (
    OBSERVATION_LIST_ADAPTER,
    accepted_documents,
    observation_json,
)
from garant.services import intake
from garant.services.demo import demo_observations
from garant.store import observations as obs_store
from garant.transparency.leaves import observation_leaf, observation_leaves

from .factories import KINDS, make

RECEIVED = datetime(2026, 3, 1, 4, 12, 9, 250_001, tzinfo=UTC)


def _check(items: list[dict[str, Any]], agreement_key: str | None = "paris-2026-demo@1") -> None:
    models = OBSERVATION_LIST_ADAPTER.validate_python(items)
    documents = accepted_documents(models)
    assert [orjson.dumps(d) for d in documents] == [observation_json(m) for m in models]
    ids = new_ids(len(models))
    leaves = observation_leaves(ids, RECEIVED, agreement_key, documents)
    assert leaves == [
        observation_leaf(i, RECEIVED, agreement_key, d) for i, d in zip(ids, documents, strict=True)
    ]
    valid = intake.accepted(list(enumerate(models)))
    for dialect in ("sqlite", "postgresql"):
        rows = [intake._row(v, i, agreement_key, RECEIVED) for v, i in zip(valid, ids, strict=True)]
        expected = obs_store.insert_params(dialect, rows)
        assert intake._row_params(dialect, valid, ids, agreement_key, RECEIVED) == expected


def test_every_kind_and_the_demo() -> None:
    demo = [json.loads(line) for line in demo_observations().read_text().splitlines() if line]
    _check([make(kind, i) for i, kind in enumerate(KINDS)] + demo)
    _check([make("crater", 1)], agreement_key=None)


finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    note=st.text(max_size=40),
    amplitude=finite.map(abs),
    lon=st.floats(-180, 180),
    calibre=st.floats(min_value=1e-9, max_value=1000, exclude_min=True),
    uncertainty=st.one_of(st.integers(0, 2**60), st.floats(0, 1e300)),
)
def test_awkward_text_and_numbers(
    note: str, amplitude: float, lon: float, calibre: float, uncertainty: Any
) -> None:
    """Control characters, non-ASCII and quotes in text; integral, tiny, huge and exponent
    floats; integers beyond 2^53 (the leaf then goes to the reference canonicaliser)."""
    acoustic = make("acoustic_detection", 0, note=note, amplitude=amplitude, lon=lon)
    crater = make("crater", 1, calibre_mm=calibre, location_uncertainty_m=uncertainty)
    _check([acoustic, crater])


@settings(max_examples=200, deadline=None)
@given(
    at=st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30)),
    offset_min=st.integers(-23 * 60 - 59, 23 * 60 + 59),
    window_s=st.one_of(st.none(), st.floats(0, 1e6)),
    lon=st.floats(-180, 180),
    lat=st.floats(-90, 90),
)
def test_rows_from_documents_equal_the_row_definition(
    at: datetime, offset_min: int, window_s: float | None, lon: float, lat: float
) -> None:
    """Times in any offset (stored in UTC), with or without a window end, points anywhere
    (the spatial key made in one array): intake's row tuples are the ones the row definition
    and `insert_params` give, on both backends."""
    zone = timezone(timedelta(minutes=offset_min))
    start = at.replace(tzinfo=zone)
    extra: dict[str, Any] = {"observed_at": start.isoformat(), "lon": lon, "lat": lat}
    if window_s is not None:
        extra["observed_until"] = (start + timedelta(seconds=window_s)).isoformat()
    _check([make("crater", 0, **extra), make("sighting", 1, lon=lon, lat=lat)])
