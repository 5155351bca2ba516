"""Time-ordered ids (UUIDv7, RFC 9562 §5.7).

Written here because the standard library gains `uuid.uuid7` only in Python 3.14; a few lines
do not justify a dependency. Ids from one process are strictly increasing, even inside one
millisecond: the 12-bit `rand_a` field is a counter (RFC 9562 §6.2, method 1), and a batch
takes its randomness in one read.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_MASK62 = (1 << 62) - 1


def _stamps(n: int) -> tuple[int, int]:
    """Reserve n strictly increasing (millisecond, counter) pairs; return the first. The k-th
    is `first` advanced by k counter steps, a full counter borrowing the next millisecond."""
    global _last_ms, _counter
    with _lock:
        now = time.time_ns() // 1_000_000
        if now > _last_ms:
            _last_ms, _counter = now, int.from_bytes(os.urandom(2), "big") & 0x3FF
        else:
            _counter += 1
        first = (_last_ms, _counter)
        last = _counter + n - 1
        _last_ms, _counter = _last_ms + (last >> 12), last & 0xFFF
    return first


def new_ids(n: int) -> list[str]:
    """n new ids, in increasing order; the fields are laid out for the whole batch in one array
    (intake asks for 10,000 at a time)."""
    if n <= 0:
        return []
    first_ms, first_counter = _stamps(n)
    steps = np.arange(first_counter, first_counter + n, dtype=np.uint64)
    fields = np.empty((n, 2), dtype=">u8")  # the 128 bits, big-endian, as RFC 9562 lays them out
    fields[:, 0] = ((first_ms + (steps >> 12)) << 16) | (0x7 << 12) | (steps & 0xFFF)
    fields[:, 1] = (np.frombuffer(os.urandom(8 * n), dtype=">u8") & _MASK62) | (0b10 << 62)
    h = fields.tobytes().hex()
    return [
        f"{h[k : k + 8]}-{h[k + 8 : k + 12]}-{h[k + 12 : k + 16]}-{h[k + 16 : k + 20]}-{h[k + 20 : k + 32]}"
        for k in range(0, 32 * n, 32)
    ]
