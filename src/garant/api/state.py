"""What a running API holds: settings, the database, and per-agreement-version caches."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from garant.api.intake_pool import IntakePool
from garant.api.ratelimit import RateLimiter
from garant.config import Settings
from garant.domain.agreement import Agreement
from garant.services.checkpoints import Checkpointer
from garant.services.identity import IdentityProvider, LocalIdentity
from garant.store import identity as identity_store
from garant.store.agreements import current_agreement
from garant.store.db import Database

AUDIT_QUEUE_LIMIT = 1000  # queued audit events that make a flush without waiting for the loop


@dataclass
class AppState:
    settings: Settings
    db: Database
    identity: IdentityProvider = field(init=False)
    login_limiter: RateLimiter = field(init=False)
    write_limiter: RateLimiter = field(init=False)
    _checkpointer: Checkpointer | None = None
    _geographies: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sign_lock: threading.Lock = field(default_factory=threading.Lock)
    _audit_pending: list[dict[str, Any]] = field(default_factory=list)
    _audit_lock: threading.Lock = field(default_factory=threading.Lock)
    _audit_flush_lock: threading.Lock = field(default_factory=threading.Lock)
    periodic_signing: bool = False  # the serving loop signs (see after_write)
    intake_pool: IntakePool | None = None  # batches taken in by intake processes (api/intake_pool.py)
    _bulletin_pending: bool = False
    _bulletin_thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.identity = LocalIdentity(self.db)
        self.login_limiter = RateLimiter(self.settings.logins_per_minute, 60)
        self.write_limiter = RateLimiter(self.settings.writes_per_minute, 60)

    @property
    def checkpointer(self) -> Checkpointer:
        """Made on first use: loading (or creating) the key touches the key folder and the log."""
        with self._lock:
            if self._checkpointer is None:
                self._checkpointer = Checkpointer.for_settings(self.settings, self.db)
            return self._checkpointer

    def sign_if_grown(self) -> None:
        """The server's periodic signing: only once this process has a signer (after its first
        write or proof); it never creates a key as a side effect."""
        if self._checkpointer is not None:
            self._sign_if_due(self._checkpointer)

    def after_write(self) -> None:
        """Called after each accepted write: sign a checkpoint if the interval has passed.

        While the periodic loop runs (`periodic_signing`, a served app) the loop signs within
        the interval and the request does not wait: signing writes to the store, and on SQLite
        that write queued behind other workers' batches (up to a second per request measured).
        """
        checkpointer = self.checkpointer  # made here, so that the loop has a signer
        if not self.periodic_signing:
            self._sign_if_due(checkpointer)

    def _sign_if_due(self, checkpointer: Checkpointer) -> None:
        with self._sign_lock:
            checkpointer.after_write()

    def audit_later(self, event: dict[str, Any]) -> None:
        """Queue an audit event for the next flush (the periodic loop, or any event written
        at once, takes the queue along in its transaction)."""
        with self._audit_lock:
            self._audit_pending.append(event)
            full = len(self._audit_pending) >= AUDIT_QUEUE_LIMIT
        if full:
            self.flush_audit()

    def flush_audit(self, events: Sequence[dict[str, Any]] = ()) -> None:
        """Write the queued audit events and `events`, in order, in one transaction."""
        with self._audit_flush_lock:  # one flush at a time: events commit in queue order
            with self._audit_lock:  # held only to take the queue: requests never wait on a write
                batch, self._audit_pending = [*self._audit_pending, *events], []
            if batch:
                with self.db.write() as conn:
                    identity_store.add_audit_events(conn, batch)

    def bulletin_due(self) -> None:
        """Observations were accepted: bring the automatic bulletin up to date in the
        background, one run at a time (a run takes in everything accepted before it starts).
        Under `garant serve` a follower process does this instead (`services.follower`) and
        the workers run with `auto_bulletin` off; this thread serves an app embedded alone."""
        if not self.settings.auto_bulletin:
            return
        with self._lock:
            self._bulletin_pending = True
            if self._bulletin_thread is None:
                self._bulletin_thread = threading.Thread(
                    target=self._bulletin_loop, name="garant-bulletin", daemon=True
                )
                self._bulletin_thread.start()

    def _bulletin_loop(self) -> None:
        from garant.services.follower import update_bulletin

        while True:
            with self._lock:
                if not self._bulletin_pending:
                    self._bulletin_thread = None
                    return
                self._bulletin_pending = False
            try:
                update_bulletin(self.db, self.settings)
            except Exception:  # the next accepted write tries again; intake is never held up
                logging.getLogger("garant.bulletin").exception("automatic bulletin update failed")

    def bulletin_idle(self, timeout: float = 60.0) -> bool:
        """Wait for the background bulletin run (tests and shutdown); True when none is left."""
        with self._lock:
            thread = self._bulletin_thread
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            return self._bulletin_thread is None

    def current_agreement(self) -> Agreement | None:
        with self.db.read() as conn:
            return current_agreement(conn)

    def geography(self, agreement: Agreement) -> Any:
        """The geometry engine of one agreement version, built once (projection, zone polygons)."""
        from garant.geo import Geography

        with self._lock:
            geo = self._geographies.get(agreement.key)
            if geo is None:
                geo = Geography.from_agreement(agreement)
                self._geographies[agreement.key] = geo
            return geo


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.garant
    return state
