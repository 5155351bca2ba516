"""A sliding-window rate limiter, in memory, per worker process.

Hand-written (twenty lines) because the rate-limit packages for Starlette bring a storage
backend and decorators for what is here one dictionary of timestamps; limits are per process,
so with N workers a client gets at most N times the limit.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class RateLimiter:
    """At most `limit` events per `window_s` per key (a sliding window)."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            q = self._events.setdefault(key, deque())
            while q and q[0] <= now - self.window_s:
                q.popleft()
            if len(q) >= self.limit:
                return False
            q.append(now)
            return True
