"""The automatic bulletin's own process under `garant serve`: it follows the transparency log.

Why a process and not a thread of each API worker: association and fusion are CPU work. In a
worker they hold the interpreter lock while intake waits, and with N workers N copies race
for the same watermark (all but one roll back). Measured on the intake benchmark (100,000
observations, 2 workers on 2 cores), the in-worker bulletin took half the server's CPU and
cut intake from ~8,000 to ~3,100 observations/s. One follower, at a lower CPU priority, lets
intake have both cores during a burst and catches up after: what it has not yet taken in
waits in the store (the log is the watermark), so nothing is lost; the bulletin only lags:
by about the poll interval when the mechanism is quiet, by at most `MAX_LAG_S` in a burst
(`Pace`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from garant.config import Settings
from garant.store import log as log_store
from garant.store.db import Database

log = logging.getLogger("garant.bulletin")


@dataclass
class FollowReport:
    runs: int = 0  # bulletin updates made
    failures: int = 0  # updates that raised (logged; the next poll tries again)


def update_bulletin(db: Database, settings: Settings) -> None:
    """One update of the automatic bulletin: the acoustic events, then the verified bulletin."""
    from garant.services.bulletin import update_acoustic
    from garant.services.verification import update_verification

    update_acoustic(db, settings.acoustic_params())
    update_verification(db, bursts=settings.burst_params())


BURST_LEAVES = 5_000  # the log grew this much between two polls: intake is in a burst
SETTLE_S = 3.0  # ... and still is until no such growth was seen for this long
MAX_LAG_S = 10.0  # ... but the bulletin never waits longer than this behind the log


@dataclass
class Pace:
    """When to update: as soon as the log grew, unless intake is in a burst, then at the
    latest `max_lag_s` after the first record not yet taken in (a burst has the cores; the
    bulletin takes it in as one larger, cheaper update).

    A burst lasts until the log has not grown by `burst_leaves` between two polls for
    `settle_s`: batches commit in lumps (10,000 at a time, a second or so apart), so a poll
    that saw nothing new does not mean the burst is over.
    """

    burst_leaves: int = BURST_LEAVES
    settle_s: float = SETTLE_S
    max_lag_s: float = MAX_LAG_S
    done_upto: int = -1  # log size the last update started from
    seen: int = -1  # log size at the last poll
    last_surge: float | None = None  # when a poll last saw a burst's growth
    waiting_since: float | None = None  # when a log size beyond `done_upto` was first seen

    def due(self, size: int, now: float) -> bool:
        if self.seen >= 0 and size - self.seen >= self.burst_leaves:
            self.last_surge = now
        self.seen = size
        if size == self.done_upto:
            self.waiting_since = None
            return False
        if self.waiting_since is None:
            self.waiting_since = now
        burst = self.last_surge is not None and now - self.last_surge < self.settle_s
        return not burst or now - self.waiting_since >= self.max_lag_s

    def started(self, size: int) -> None:
        self.done_upto, self.waiting_since = size, None


def follow(
    db: Database,
    settings: Settings,
    *,
    interval_s: float,
    should_stop: Callable[[], bool],
    update: Callable[[Database, Settings], None] = update_bulletin,
    pace: Pace | None = None,
) -> FollowReport:
    """Poll the log's size every `interval_s` and update the bulletin when `pace` says so.

    The size is read before an update starts, so whatever is logged during it triggers the
    next one: a write is never left out because it arrived while the bulletin was busy.
    """
    pace = pace or Pace()
    report = FollowReport()
    while not should_stop():
        with db.read() as conn:
            size = log_store.tree_size(conn)
        if pace.due(size, time.monotonic()):
            try:
                update(db, settings)
                pace.started(size)
                report.runs += 1
            except Exception:  # the store is unchanged by a failed run; the next poll tries again
                report.failures += 1
                log.exception("automatic bulletin update failed")
        deadline = time.monotonic() + interval_s
        while time.monotonic() < deadline and not should_stop():
            time.sleep(min(0.1, interval_s))
    return report


def start_orphan_watch(
    parent: int,
    stop: threading.Event,
    *,
    poll_s: float = 0.5,
    grace_s: float = 5.0,
    exit_now: Callable[[int], object] = os._exit,
) -> threading.Thread:
    """End this process when `parent` is gone, or `grace_s` after `stop` if the main thread
    has not ended it by then, even in the middle of an update.

    The parent cannot be relied on to stop its follower: uvicorn ends `garant serve` by
    raising the signal it caught again, so no cleanup of the server runs; and a signal handler
    runs only when the main thread is back in Python, not inside a long compiled loop. Ending
    mid-update is safe: the update's transaction is rolled back and the next follower takes
    its records in again (the log is the watermark).
    """

    def watch() -> None:
        stopping_since = None
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                exit_now(0)
                return
            if stop.is_set():
                stopping_since = stopping_since or time.monotonic()
                if time.monotonic() - stopping_since >= grace_s:
                    exit_now(0)
                    return

    thread = threading.Thread(target=watch, name="garant-orphan-watch", daemon=True)
    thread.start()
    return thread
