"""Intake processes behind the API workers: a batch's CPU work reaches every core, whichever worker
accepted its connection.

Why: uvicorn's workers share one listening socket, and the kernel gives each keep-alive
connection to one worker for its whole life — often both of two senders' connections to the same
worker (6 of 11 instrumented benchmark runs, 2026-11-25). That worker then parsed, validated and
wrote both senders' batches on one core while the other core idled: those runs were 1-worker
runs. Here the worker only reads the body (checking its declared size) and hands the bytes to a
pool of processes (`GARANT_INTAKE_PROCESSES`, `garant serve` defaults to one per core); the pool
parses, checks the batch's shape and limits, validates, writes under the store's writer lock and
returns the reply's bytes. A single observation comes back to the worker, which answers it with
the stored record. The standard library's `ProcessPoolExecutor` does the pooling; what is
Garant's is only what crosses the pipe: the body's bytes and the caller going in, a finished
reply coming out (10,000 parsed items or results pickled each way would cost more than the
parsing they save).

A pool process that dies mid-batch (killed, out of memory) leaves nothing half-written — its
transaction rolls back — so the request answers 503 and the pool is replaced; the sender retries
with the same client ids, which makes the retry safe.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from garant.config import Settings
from garant.domain.access import Principal
from garant.services.intake import ingest_with_retry
from garant.store.db import Database, open_database


@dataclass(frozen=True)
class BatchReply:
    """A batch's HTTP reply, finished where the batch was taken in; `created` tells the worker
    whether a write happened (it then arranges the checkpoint)."""

    status: int
    body: bytes
    media_type: str
    created: int


_DB: Database | None = None  # the pool process's own connection pool, opened once per process


def _start_process(settings: Settings) -> None:
    """Run once in each pool process: open the store as the API does, tune the collector."""
    global _DB
    import garant.api.observations  # noqa: F401  # imported at start, not by the first batch
    from garant.runtime import tune_gc_for_throughput

    _DB = open_database(settings.database_url)
    _DB.logged = not settings.unlogged_benchmark
    tune_gc_for_throughput()


def _ready() -> int:
    return os.getpid()


def ingest_body(raw: bytes, who: Principal, max_batch: int, path: str) -> BatchReply | None:
    """In a pool process: a request body taken in as the worker's thread would, and its reply
    (a problem document for a body that is not a batch); None when the body is a single
    observation, which the worker answers itself (its reply reads the record back)."""
    from garant.api.observations import batch_of, batch_reply  # the HTTP shapes live with the route
    from garant.api.problems import Problem, json_body, problem_response

    assert _DB is not None, "pool process not started"
    try:
        found = batch_of(json_body(raw), max_batch)
    except Problem as exc:
        problem = problem_response(exc.status, exc.detail, kind=exc.kind, errors=exc.errors, instance=path)
        return BatchReply(exc.status, bytes(problem.body), str(problem.media_type), 0)
    if found is None:
        return None
    items, prefix = found
    return batch_reply(ingest_with_retry(_DB, items, submitter=who), prefix)


class IntakeInterrupted(Exception):
    """The process taking a batch died before answering; its transaction rolled back."""


class IntakePool:
    """`processes` intake processes (spawned: a fresh interpreter, no copy of the worker's
    threads or open connections), started and ready before the first request."""

    def __init__(self, settings: Settings, processes: int) -> None:
        self.settings = settings
        self.processes = processes
        self._lock = threading.Lock()
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_process,
            initargs=(self.settings,),
        )

    def warm_up(self) -> list[int]:
        """Start every process now (each import and store opening takes a second or two), so
        that no sender waits for it; returns the processes' ids."""
        with self._lock:
            executor = self._executor
        futures = [executor.submit(_ready) for _ in range(self.processes)]
        return [f.result() for f in futures]

    def pids(self) -> list[int]:
        """The processes' ids (for tests and operators; the executor keeps them privately)."""
        with self._lock:
            return sorted(p.pid for p in self._executor._processes.values() if p.pid is not None)

    def broken(self) -> bool:
        """Whether the executor has seen one of its processes die (the next batch replaces it)."""
        with self._lock:
            return bool(self._executor._broken)

    async def ingest(self, raw: bytes, who: Principal, max_batch: int, path: str) -> BatchReply | None:
        """`ingest_body` in a pool process; `IntakeInterrupted` when that process died (the
        pool is then replaced for the next batch)."""
        with self._lock:
            executor = self._executor
        try:
            return await asyncio.wrap_future(executor.submit(ingest_body, raw, who, max_batch, path))
        except BrokenProcessPool as exc:
            with self._lock:
                if self._executor is executor:
                    self._executor = self._new_executor()
            executor.shutdown(wait=False, cancel_futures=True)
            raise IntakeInterrupted(str(exc)) from exc

    def close(self) -> None:
        with self._lock:
            self._executor.shutdown(wait=True, cancel_futures=True)


def start_pool(settings: Settings) -> IntakePool | None:
    """The pool `settings.intake_processes` asks for (0: intake runs in the worker's threads)."""
    if settings.intake_processes <= 0:
        return None
    pool = IntakePool(settings, settings.intake_processes)
    pool.warm_up()
    return pool
