"""UUIDv7 ids (RFC 9562): version and variant bits, time order, no repeats under load."""

from __future__ import annotations

import itertools
import threading
import time
import uuid

from garant.domain.ids import new_ids


def test_version_variant_and_timestamp() -> None:
    before = time.time_ns() // 1_000_000
    ids = [uuid.UUID(i) for i in new_ids(5000)]
    after = time.time_ns() // 1_000_000
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in ids)
    stamps = [u.int >> 80 for u in ids]
    assert before <= stamps[0] and stamps[-1] <= after + 2  # counter overflow may borrow a millisecond


def test_strictly_increasing_within_and_across_batches() -> None:
    ids = [i for _ in range(20) for i in new_ids(1000)]  # far more than 4,096 per millisecond
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_no_repeats_across_threads() -> None:
    out: list[list[str]] = []

    def work() -> None:
        out.append([i for _ in range(50) for i in new_ids(200)])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for chunk in out for i in chunk]
    assert len(set(every)) == len(every) == 40_000
    assert all(chunk == sorted(chunk) for chunk in out)


def test_an_empty_batch_takes_nothing_and_order_goes_on() -> None:
    before = new_ids(3)
    assert new_ids(0) == []
    after = new_ids(3)
    assert before + after == sorted(before + after) and len(set(before + after)) == 6


def test_a_full_counter_borrows_the_next_millisecond() -> None:
    """4,096 ids per millisecond at most: a batch of 10,000 spans at least three."""
    ids = [uuid.UUID(i) for i in new_ids(10_000)]
    stamps = [u.int >> 80 for u in ids]
    counters = [(u.int >> 64) & 0xFFF for u in ids]
    assert len(set(stamps)) >= 3
    pairs = list(zip(stamps, counters, strict=True))
    for (s0, c0), (s1, c1) in itertools.pairwise(pairs):
        assert (s1, c1) == (s0, c0 + 1) or (s1 == s0 + 1 and c0 == 0xFFF and c1 == 0)
