"""The automatic bulletin's own process under `garant serve`: it follows the transparency log.

Why a process and not a thread of each API worker: association and fusion are CPU work. In a
worker they hold the interpreter lock while intake waits, and with N workers N copies race
for the same watermark (all but one roll back). Measured on the intake benchmark (100,000
observations, 2 workers on 2 cores), the in-worker bulletin took half the server's CPU and
cut intake from ~8,000 to ~3,100 observations/s. One follower, at a lower CPU priority, lets
intake have both cores during a burst and catches up after: what it has not yet taken in
waits in the store (the log is the watermark), so nothing is lost; the bulletin only lags,
by about the poll interval when the mechanism is quiet.
"""

from __future__ import annotations

import logging
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


def follow(
    db: Database,
    settings: Settings,
    *,
    interval_s: float,
    should_stop: Callable[[], bool],
    update: Callable[[Database, Settings], None] = update_bulletin,
) -> FollowReport:
    """Poll the log's size every `interval_s`; when it grew since the last update, update.

    The size is read before an update starts, so whatever is logged during it triggers the
    next one: a write is never left out because it arrived while the bulletin was busy.
    """
    report = FollowReport()
    done_upto = -1
    while not should_stop():
        with db.read() as conn:
            size = log_store.tree_size(conn)
        if size != done_upto:
            try:
                update(db, settings)
                done_upto = size
                report.runs += 1
            except Exception:  # the store is unchanged by a failed run; the next poll tries again
                report.failures += 1
                log.exception("automatic bulletin update failed")
        deadline = time.monotonic() + interval_s
        while time.monotonic() < deadline and not should_stop():
            time.sleep(min(0.1, interval_s))
    return report
